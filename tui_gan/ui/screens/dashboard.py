"""A run's panels: what the dashboard remembers of each architecture, and how engine events
change what the panels and the event log show (`handle`). RunScreen (screens/run.py) adds the
engine, the keys and the run's lifecycle, and hands every engine event to `handle`; the run
state reaches the status line as the `run_state` reactive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.history import LossHistory, QualityHistory, SampleHistory, Snapshot
from tui_gan.jobs.protocol import Replay, Viewers
from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState
from tui_gan.ui import exports
from tui_gan.ui.messages import FileSaved
from tui_gan.ui.widgets.events import EventLog
from tui_gan.ui.widgets.losses import LossPanel
from tui_gan.ui.widgets.quality import QualityPanel
from tui_gan.ui.widgets.samples import SamplesPanel, Shown
from tui_gan.ui.widgets.status import StatusBar
from tui_gan.ui.widgets.system import SystemPanel


@dataclass
class ArchView:
    """What the dashboard remembers of one architecture (each keeps its own while you switch)."""

    losses: LossHistory = field(default_factory=LossHistory)
    samples: SampleHistory = field(default_factory=SampleHistory)
    qualities: QualityHistory = field(default_factory=QualityHistory)
    last_stats: ev.Stats | None = None  # Started carries no training time: the status line keeps this one's
    checkpoint: ev.CheckpointSaved | None = None  # the last one a run goes on from (best.pt is not)


class Dashboard(Screen):
    scrub_step: reactive[int | None] = reactive(
        None, init=False
    )  # step of the snapshot shown while scrubbing; None = live
    show_interpolation: reactive[bool] = reactive(False, init=False)
    run_state: reactive[str] = reactive(RunState.STARTING.value, init=False)  # RunScreen validates it

    def __init__(self, arch: str, on_ready: Callable[[], None]) -> None:
        super().__init__()
        self.on_ready = on_ready  # called once the panels are mounted: RunScreen starts the engine then
        self.arch = arch  # the architecture shown: the one the engine trains now
        self.views: dict[str, ArchView] = {}  # per architecture, made on first use (see view())
        self.status_bar = StatusBar(id="status")
        self.loss_panel = LossPanel(id="losses")
        self.quality_panel = QualityPanel(id="quality")
        self.system_panel = SystemPanel(id="system")
        self.event_log = EventLog(id="events")
        self.samples_panel = SamplesPanel(id="samples")
        self.footer = Footer()
        self.run_dir: str | None = None
        self.read_only = False  # a finished run's replay: no "finished" toasts, no first log line
        self.viewers = 1
        self._replaying = False  # the job's recent log lines on attach: logged, not toasted again
        self._attach_note = ""
        self._recipes_told: set[str] = set()
        # Engine events by type; explicit, so a new event type is a visible decision here.
        self._handlers: dict[type, Callable] = {
            ev.Started: self.started,
            ev.Stats: self.stats,
            ev.Samples: self.samples,
            ev.Quality: self.quality,
            ev.StateChanged: self._state_changed,
            ev.CheckpointSaved: self._checkpoint_saved,
            ev.ArchSwitched: self._arch_switched,
            ev.Notice: self._notice,
            ev.Failed: self._failed,
            ev.Finished: self._finished,
            Replay: self.replay,
            Viewers: self._viewers,
        }

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
    def handle(self, event: ev.Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def starting(self, config: TrainConfig) -> None:
        """An engine is starting with `config`: what the status line can say before it reports."""
        self.arch = config.arch
        self.status_bar.set_info(
            arch=config.arch, dataset=pretty_name(config.dataset), device=config.device, epochs=config.epochs
        )

    def watch_run_state(self, state: str) -> None:
        self.status_bar.set_info(state=state)

    def replay(self, e: Replay) -> None:
        """The run so far, as a job (or a finished run's folder) keeps it for late viewers, then
        the job's recent event-log lines."""
        self.read_only, self.viewers = e.read_only, e.viewers
        for arch, points in e.histories.items():
            self.view(arch).losses.extend(points)
        for arch, grids in e.samples.items():
            for grid in grids:
                self.view(arch).samples.add(Snapshot.of(grid))
        for arch, qualities in e.qualities.items():
            for quality in qualities:
                self.view(arch).qualities.add(quality)
        self._replaying = True
        try:
            for event in e.log:
                self.handle(event)
        finally:
            self._replaying = False
        for arch, checkpoint in e.checkpoints.items():  # routine ones are in no log
            self.view(arch).checkpoint = checkpoint
        if e.viewers > 1:  # logged after the run's first line (on Started)
            others = e.viewers - 1
            self._attach_note = f"attached: {others} other dashboard{'s' if others > 1 else ''} watching too"

    def started(self, e: ev.Started) -> None:
        first = self.run_dir is None
        self.run_dir = e.run_dir
        self.arch = e.arch
        view = self.view(e.arch)
        last = view.last_stats
        self.status_bar.set_info(
            arch=f"{e.arch} ({e.built})" if e.built else e.arch,
            dataset=e.dataset,
            device=e.device,
            run_dir=e.run_dir,
            epochs=e.epochs,
        )
        self._show_checkpoint(view.checkpoint)
        # where this architecture is: Started's step, and the training time its last Stats said
        self._show_progress(
            e.step, e.epoch, last.epoch_progress if last else 0.0, 0.0, last.elapsed_s if last else 0.0
        )
        self.loss_panel.loss = e.loss
        self.loss_panel.arch = e.arch
        self.loss_panel.history = view.losses
        self.scrub_step = None
        self.show_samples()
        self.quality_panel.arch = e.arch
        self.quality_panel.history = view.qualities
        if first and not self.read_only:
            self.log_line(
                f"training {e.arch}{f' ({e.built})' if e.built else ''} on {e.dataset} ({e.device}), "
                f"{e.steps_per_epoch:,} steps/epoch, "
                f"G {e.params_g:,} / D {e.params_d:,} params; run folder {e.run_dir or '(none)'}"
            )
        if e.recipe and e.arch not in self._recipes_told:
            self._recipes_told.add(e.arch)
            self.log_line(f"{e.arch} trains with {e.recipe}")
        if self._attach_note:
            self.log_line(self._attach_note)
            self._attach_note = ""

    def stats(self, e: ev.Stats) -> None:
        view = self.view(e.arch)
        view.losses.extend(e.points)
        view.last_stats = e
        if e.arch != self.arch:  # the last points of the architecture we just left
            return
        self._show_progress(
            e.step, e.epoch, e.epoch_progress, e.images_per_s, e.elapsed_s, e.rank_images_per_s
        )
        self.loss_panel.history = view.losses

    def _show_progress(self, step: int, epoch: int, progress: float, rate: float, elapsed: float, ranks=()):
        self.status_bar.set_info(
            step=step,
            epoch=epoch,
            epoch_progress=progress,
            images_per_s=rate,
            elapsed_s=elapsed,
            rank_rates=ranks,
        )

    def samples(self, e: ev.Samples) -> None:
        self.view(e.arch).samples.add(Snapshot.of(e))
        if e.arch == self.arch:
            self.show_samples()

    def quality(self, e: ev.Quality) -> None:
        history = self.view(e.arch).qualities
        history.add(e)
        if e.arch == self.arch:
            self.quality_panel.history = history

    def quality_notice(self, message: str) -> None:
        """Why quality figures are not there (yet), until the first evaluation."""
        self.quality_panel.note = message

    def log_line(self, message: str, level: str = "info", where: str = "") -> None:
        self.event_log.add(message, level, where)

    def toast(self, message: str, **kwargs) -> None:
        if not self._replaying:  # log lines replayed on attach were toasts once already
            self.app.notify(message, **kwargs)

    def _viewers(self, e: Viewers) -> None:
        if e.count != self.viewers:
            self.log_line(f"{e.count} dashboard{'s' if e.count != 1 else ''} attached")
        self.viewers = e.count

    def _state_changed(self, e: ev.StateChanged) -> None:
        finished = RunState.FINISHED
        if e.state == finished and self.run_state != finished and not self.read_only:
            self.log_line(f"{e.arch} finished at step {e.step:,}", "success")
            self.toast(f"{e.arch} finished training; switch architecture or quit", title="Finished")

    def _checkpoint_saved(self, e: ev.CheckpointSaved) -> None:
        if not e.best:
            self.view(e.arch).checkpoint = e
            if e.arch == self.arch:
                self._show_checkpoint(e)
        if e.routine:  # what --checkpoint-every writes: the status line says it, the log keeps quiet
            return
        path = Path(e.path)  # inside the run folder the status line names: the short path is enough
        if self.run_dir and path.is_relative_to(self.run_dir):
            path = path.relative_to(self.run_dir)
        self.log_line(f"checkpoint written: {path}", "success", where=f"{e.arch} @{e.step:,}")
        if Path(e.path).stem.startswith("step_"):  # asked for with `c`; "latest" ones are only logged
            self.toast(e.path, title=f"Checkpoint ({e.arch}, step {e.step:,})", markup=False)

    def _show_checkpoint(self, e: ev.CheckpointSaved | None) -> None:
        self.status_bar.set_info(checkpoint=(e.step, e.train_time) if e else None)

    def _arch_switched(self, e: ev.ArchSwitched) -> None:
        where = f"continuing at step {e.step:,}" if e.step else "starting fresh"
        self.log_line(f"switched {e.previous} -> {e.arch}, {where}")

    def _notice(self, e: ev.Notice) -> None:
        if e.topic == "quality":
            self.quality_notice(e.message)
        self.log_line(e.message, e.level, where=e.arch)
        if e.level in ("warning", "error"):
            self.toast(e.message, severity=e.level, markup=False)

    def _failed(self, e: ev.Failed) -> None:
        where = f" (traceback: {e.traceback_path})" if e.traceback_path else ""
        self.log_line(f"{e.message}{where}", "error", where=e.arch)
        message = f"{e.message}{where}"
        self.toast(message, title=f"{e.arch} failed", severity="error", timeout=30, markup=False)

    def _finished(self, e: ev.Finished) -> None:
        level = "error" if e.reason == "error" else "info"
        self.log_line(f"engine finished ({e.reason}) at {e.arch} step {e.step:,}", level)

    def show_system(self, status: object, note: str) -> None:
        self.system_panel.show(status, note)

    # --- files the user asks for (s, g) ----------------------------------------------------
    def save_grid(self) -> None:
        """`s`: the grid the samples panel shows (a scrubbed-to one too) as PNG."""
        snapshot = self.samples_panel.snapshot
        if snapshot is None:
            self.app.notify("no samples yet", severity="warning")
        else:
            self._write_file(exports.grid_png(Path(self.run_dir), self.arch, snapshot))

    def export_gif(self) -> None:
        """`g`: this architecture's sample history as an animated GIF."""
        history = self.view(self.arch).samples
        if not history:
            self.app.notify("no samples yet", severity="warning")
        else:
            self._write_file(exports.history_gif(Path(self.run_dir), self.arch, history))

    @work(thread=True, exit_on_error=False, group="save", name="save file")
    def _write_file(self, export: exports.Export) -> None:
        self.post_message(exports.write(export))

    def on_file_saved(self, message: FileSaved) -> None:
        if message.error:
            self.log_line(message.error, "error")
            self.app.notify(message.error, severity="error", markup=False)
        else:
            self.log_line(f"{message.what} saved: {message.path}", "success")
            title = f"{message.what[0].upper()}{message.what[1:]} saved"
            self.app.notify(message.path, title=title, markup=False)

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
            shown = Shown(None, self.arch, None, self.show_interpolation)
        elif self.scrub_step is None:
            shown = Shown(history[-1], self.arch, None, self.show_interpolation)
        else:
            index = history.index_near(self.scrub_step)
            shown = Shown(history[index], self.arch, (index, len(history)), self.show_interpolation)
        self.samples_panel.shown = shown
