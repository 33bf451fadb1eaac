"""The main screen: the panels, what the dashboard remembers of each architecture, and how
engine events change what the panels show. The App (tui_gan/ui/app.py) owns the engine, the
keys and the run's lifecycle, and hands display events to this screen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from tui_gan.history import LossHistory, QualityHistory, SampleHistory, Snapshot
from tui_gan.jobs.protocol import Replay
from tui_gan.training import events as ev
from tui_gan.ui.widgets.events import EventLog
from tui_gan.ui.widgets.losses import LossPanel
from tui_gan.ui.widgets.quality import QualityPanel
from tui_gan.ui.widgets.samples import SamplesPanel
from tui_gan.ui.widgets.status import StatusBar
from tui_gan.ui.widgets.system import SystemPanel


@dataclass
class ArchView:
    """What the dashboard remembers of one architecture (each keeps its own while you switch)."""

    losses: LossHistory = field(default_factory=LossHistory)
    samples: SampleHistory = field(default_factory=SampleHistory)
    qualities: QualityHistory = field(default_factory=QualityHistory)
    last_stats: ev.Stats | None = None  # Started carries no training time: the status line keeps this one's


class Dashboard(Screen):
    scrub_step: reactive[int | None] = reactive(
        None, init=False
    )  # step of the snapshot shown while scrubbing; None = live
    show_interpolation: reactive[bool] = reactive(False, init=False)

    def __init__(self, arch: str, on_ready: Callable[[], None]) -> None:
        super().__init__()
        self.on_ready = on_ready  # called once the panels are mounted: the App starts the engine then
        self.arch = arch  # the architecture shown: the one the engine trains now
        self.views: dict[str, ArchView] = {}  # per architecture, made on first use (see view())
        self.quality_note = "the quality classifier is getting ready in the background..."
        self.status_bar = StatusBar(id="status")
        self.loss_panel = LossPanel(id="losses")
        self.quality_panel = QualityPanel(id="quality")
        self.system_panel = SystemPanel(id="system")
        self.event_log = EventLog(id="events")
        self.samples_panel = SamplesPanel(id="samples")
        self.footer = Footer()

    def compose(self) -> ComposeResult:
        yield self.status_bar
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield self.loss_panel
                yield self.quality_panel
                yield self.system_panel
                yield self.event_log
            yield self.samples_panel
        yield self.footer

    def on_mount(self) -> None:
        self.fit_footer(self.app.size.width)
        self.on_ready()

    def on_resize(self, event: Resize) -> None:
        self.fit_footer(event.size.width)

    def fit_footer(self, width: int) -> None:
        # Keep "q Quit" on an 80-column screen; ctrl+p still opens the palette (the help says so).
        self.footer.compact = width < 140
        self.footer.show_command_palette = width >= 90

    def view(self, arch: str) -> ArchView:
        if arch not in self.views:
            self.views[arch] = ArchView()
        return self.views[arch]

    # --- engine events ---------------------------------------------------------------------
    def replay(self, e: Replay) -> None:
        """The run so far, as a job (or a finished run's folder) keeps it for late viewers."""
        for arch, points in e.histories.items():
            self.view(arch).losses.extend(points)
        for arch, grids in e.samples.items():
            for grid in grids:
                self.view(arch).samples.add(Snapshot.of(grid))
        for arch, qualities in e.qualities.items():
            for quality in qualities:
                self.view(arch).qualities.add(quality)

    def started(self, e: ev.Started) -> None:
        self.arch = e.arch
        view = self.view(e.arch)
        last = view.last_stats
        self.status_bar.set_info(
            arch=e.arch,
            dataset=e.dataset,
            device=e.device,
            run_dir=e.run_dir,
            epochs=e.epochs,
            step=e.step,
            epoch=e.epoch,
            images_per_s=0.0,
            epoch_progress=last.epoch_progress if last else 0.0,
            elapsed_s=last.elapsed_s if last else 0.0,
        )
        self.loss_panel.loss = e.loss
        self.loss_panel.show(view.losses, e.arch)
        self.scrub_step = None
        self.show_samples()
        self.quality_panel.show(view.qualities, e.arch, self.quality_note)

    def stats(self, e: ev.Stats) -> None:
        view = self.view(e.arch)
        view.losses.extend(e.points)
        view.last_stats = e
        if e.arch != self.arch:  # the last points of the architecture we just left
            return
        self.status_bar.set_info(
            step=e.step,
            epoch=e.epoch,
            epoch_progress=e.epoch_progress,
            images_per_s=e.images_per_s,
            elapsed_s=e.elapsed_s,
            rank_rates=e.rank_images_per_s,
        )
        self.loss_panel.show(view.losses, e.arch)

    def samples(self, e: ev.Samples) -> None:
        self.view(e.arch).samples.add(Snapshot.of(e))
        if e.arch == self.arch:
            self.show_samples()

    def quality(self, e: ev.Quality) -> None:
        history = self.view(e.arch).qualities
        history.add(e)
        if e.arch == self.arch:
            self.quality_panel.show(history, e.arch)

    def quality_notice(self, message: str) -> None:
        """Why quality figures are not there (yet), until the first evaluation."""
        self.quality_note = message
        self.quality_panel.show(self.view(self.arch).qualities, self.arch, message)

    def log(self, message: str, level: str = "info", where: str = "") -> None:
        self.event_log.add(message, level, where)

    # --- samples ---------------------------------------------------------------------------
    def scrub(self, delta: int) -> bool:
        """Step through this architecture's sample history; past the newest is live again.
        False when there is nothing to scrub."""
        history = self.view(self.arch).samples
        if not history:
            return False
        index = len(history) - 1 if self.scrub_step is None else history.index_near(self.scrub_step)
        index += delta
        self.scrub_step = None if index >= len(history) - 1 else history[max(index, 0)].step
        return True

    def watch_scrub_step(self) -> None:
        self.show_samples()

    def watch_show_interpolation(self) -> None:
        self.show_samples()

    def show_samples(self) -> None:
        """The newest snapshot, or while scrubbing the one picked (its index shifts as the
        history is thinned, so it is remembered by step)."""
        history = self.view(self.arch).samples
        if not history:
            self.samples_panel.show(None, self.arch)
        elif self.scrub_step is None:
            self.samples_panel.show(history[-1], self.arch, None, self.show_interpolation)
        else:
            index = history.index_near(self.scrub_step)
            self.samples_panel.show(history[index], self.arch, (index, len(history)), self.show_interpolation)
