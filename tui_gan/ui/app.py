"""The dashboard: an App that drives one engine from a thread worker and shows what it reports.

Threading: the worker runs the engine's setup() and run(); its `emit` callback wraps each event
in a Message and `post_message`s it (thread safe, never blocks). Every widget change happens
here, on the UI thread. UI -> engine goes through `engine.send(command)`.
By default the "engine" is a viewer of a training job (tui_gan/jobs): `tui-gan` starts a job in
the background and attaches to it, `tui-gan attach` attaches to a running one (or replays a
finished run read-only). The job outlives the dashboard: `d`, a closed terminal or a dropped
SSH link only detach; `q` stops training. Tests pass an in-thread Engine through
`engine_factory`, which the App drives the same way. The system monitor is polled in a second
thread worker."""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import get_current_worker

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.errors import DataUnavailable, TuiGanError
from tui_gan.models import ARCH_NAMES, ARCHS
from tui_gan.render import captioned, grid_image, save_gif, save_grid_png
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.history import LossHistory, QualityHistory, SampleHistory, Snapshot
from tui_gan.ui.messages import (
    EngineEvent,
    EngineSetupFailed,
    EngineStopped,
    FileSaved,
    SamplesReady,
    SystemPolled,
)
from tui_gan.ui.screens.confirm_stop import ConfirmStopScreen
from tui_gan.ui.screens.data_dialog import DataUnavailableScreen
from tui_gan.ui.screens.help import HelpScreen
from tui_gan.ui.widgets.events import EventLog
from tui_gan.ui.widgets.losses import LossPanel
from tui_gan.ui.widgets.quality import QualityPanel
from tui_gan.ui.widgets.samples import SamplesPanel
from tui_gan.ui.widgets.status import StatusBar
from tui_gan.ui.widgets.system import SystemPanel

# engine_factory(config, emit, *, resume, exit_when_done, stats_interval) -> an Engine-like object:
# setup(), run() -> reason, send(command); with `detachable` and detach() when training outlives us
EngineFactory = Callable[..., object]
# monitor_factory(device, torch_threads, *, device_ids, engine_pid, devices) -> an object with .poll()
# (a status, or one per GPU), .gpu_unavailable_reason, .close()
MonitorFactory = Callable[..., object]

# Loss points arrive in batches twice a second (none is dropped): live enough to watch. Each
# redraw takes CPU from training on a small machine: on 2 cores the UI process used 0.087 of a
# core at 4 batches a second, 0.058 at 2 and 0.043 at 1, of which 0.03 is the digits' redraw.
STATS_INTERVAL = 0.5
ARCH_KEYS = [str(i + 1) for i in range(min(len(ARCH_NAMES), 9))]
_SWITCH_GROUP = Binding.Group("Switch arch", compact=True)
_HISTORY_GROUP = Binding.Group("History", compact=True)


def job_engine_factory(run_dir: str | None = None, attach=None, start: Callable | None = None) -> EngineFactory:
    """Engines for a user's dashboard: a new background job (resumed in `run_dir` if given, or
    started by `start(cancel)` -> JobInfo, as with --nproc), or `attach` (a live job's JobInfo, or a
    finished run's folder to replay). A job in its own process also never waits for this
    process's GIL. Without Unix sockets, the engine trains in the worker thread itself and ends
    with the dashboard."""

    def factory(config: TrainConfig, emit, *, resume: str | None = None, **kwargs):
        if os.name != "posix":
            from tui_gan.training.engine import Engine

            return Engine(config, emit, resume=resume, **kwargs)
        from tui_gan.jobs.client import JobClient, RunReplay

        if isinstance(attach, Path):
            return RunReplay(attach, emit)
        if attach is not None:
            return JobClient(emit, info=attach)
        if start is not None:
            return JobClient(emit, start=start)
        from tui_gan.jobs.launch import start_job

        return JobClient(emit, start=lambda cancel: start_job(config, resume=resume, run_dir=run_dir, linger=True,
                                                              cancel=cancel))

    return factory


def _default_monitor_factory(device: str, torch_threads: int | None, *, devices=(), **kwargs):
    """One device's monitor, or with `devices` (every rank's GPU of a multi-GPU run) one per GPU."""
    from tui_gan.system import DeviceIds, GPUsMonitor, SystemMonitor

    if len(devices) > 1:
        return GPUsMonitor([SystemMonitor(f"cuda:{i}", torch_threads, engine_pid=kwargs.get("engine_pid"),
                                          device_ids=DeviceIds(*ids)) for i, ids in enumerate(devices)])
    return SystemMonitor(device, torch_threads, **kwargs)


class TuiGanApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-gan"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide"), (160, "-very-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    AUTO_FOCUS = None  # nothing needs focus; keys go to the App's bindings

    BINDINGS = [
        Binding("space", "toggle_pause", "Pause", tooltip="Pause / resume training", id="pause"),
        Binding("c", "checkpoint", "Checkpoint", tooltip="Write a checkpoint now", id="checkpoint"),
        Binding("a", "next_arch", "Next arch", group=_SWITCH_GROUP, id="next_arch"),
        Binding("A,shift+a", "prev_arch", "Previous arch", key_display="A", group=_SWITCH_GROUP, id="prev_arch"),
        *[
            # One footer entry "1-5 Arch" stands for all of them; the help and palette list each.
            Binding(key, f"arch({i})", f"Train {ARCH_NAMES[i]}" if i else "Arch",
                    key_display=f"1-{len(ARCH_KEYS)}" if i == 0 else None, show=i == 0, id=f"arch_{i + 1}")
            for i, key in enumerate(ARCH_KEYS)
        ],
        Binding("s", "save_grid", "PNG", tooltip="Save the sample grid as PNG", id="save_grid"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit", "Quit", tooltip="Stop, write final checkpoints, exit", id="quit"),
        Binding("d", "detach", "Detach", tooltip="Close the dashboard, keep training", id="detach"),
        # After detach: on 80 columns the footer cuts these off first (help and palette list them).
        Binding("e", "evaluate", "Evaluate", tooltip="Measure sample quality now", id="evaluate"),
        Binding("left", "scrub(-1)", "Earlier samples", key_display="←", group=_HISTORY_GROUP, id="scrub_back"),
        Binding("right", "scrub(1)", "Later samples", key_display="→", group=_HISTORY_GROUP, id="scrub_forward"),
        Binding("i", "toggle_interpolation", "Interp", tooltip="Show / hide the latent-interpolation row",
                id="interpolation"),
        Binding("g", "export_gif", "GIF", tooltip="Export the sample history as a GIF", id="export_gif"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        config: TrainConfig,
        resume: str | None = None,
        *,
        engine_factory: EngineFactory | None = None,
        monitor_factory: MonitorFactory | None = None,
        system_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.config = config
        self.resume = resume
        self.engine_factory = engine_factory or job_engine_factory()
        self.monitor_factory = monitor_factory or _default_monitor_factory
        self.system_interval = system_interval
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"  # every animated frame is bytes down a slow SSH link
        self.engine = None
        self.generation = 0  # bumped per engine: messages from an older one are dropped
        self.engine_running = False
        self.dataset_choice: str | None = None  # "synthetic" once chosen in the dialog, for the session
        # Per architecture, made on first use (reads use .get so looking never creates one).
        self.histories: defaultdict[str, LossHistory] = defaultdict(LossHistory)
        self.last_stats: dict[str, ev.Stats] = {}
        self.arch = config.arch  # what the engine trains now
        self.target_arch = config.arch  # what we asked for (a/A pressed twice before the switch lands)
        self.state = "starting"
        self.run_dir: str | None = None
        self.samples: defaultdict[str, SampleHistory] = defaultdict(SampleHistory)
        self.qualities: defaultdict[str, QualityHistory] = defaultdict(QualityHistory)
        self.quality_note = "the quality classifier is getting ready in the background..."
        self.scrub_step: int | None = None  # step of the snapshot shown while scrubbing; None = live
        self.show_interpolation = False
        self.quitting = False
        self.forced_exit = False
        self.detached = False  # left with `d`: training goes on
        self.viewers = 1  # dashboards attached to the job, this one included
        self.read_only = False  # a finished run's replay
        self._replaying = False
        self._attach_note = ""
        self.failed = False
        self._monitor_started = False
        self._stop_polling = threading.Event()

    # --- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one searches the *active* screen, which is the help or a
        # dialog while one is open, and engine events keep arriving then.
        self.status_bar = StatusBar(id="status")
        self.loss_panel = LossPanel(id="losses")
        self.quality_panel = QualityPanel(id="quality")
        self.system_panel = SystemPanel(id="system")
        self.event_log = EventLog(id="events")
        self.samples_panel = SamplesPanel(id="samples")
        self.footer = Footer()
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
        self._fit_footer(self.size.width)
        self.start_engine()

    def on_resize(self, event) -> None:
        self._fit_footer(event.size.width)

    def _fit_footer(self, width: int) -> None:
        # Keep "q Quit" on an 80-column screen; ctrl+p still opens the palette (the help says so).
        self.footer.compact = width < 140
        self.footer.show_command_palette = width >= 90

    def on_unmount(self) -> None:
        # However we leave (force quit, a crash, a closed terminal, a test harness's exit), the
        # worker thread must end: asyncio waits for executor threads. A job goes on training
        # (we only detach; after q it is already stopping); an in-thread engine must stop,
        # keeping the training done so far unless the user forced the exit (second q).
        self._stop_polling.set()
        if self.engine is None or not self.engine_running:
            return
        if getattr(self.engine, "detachable", False):
            self.engine.detach()
        else:
            self.engine.send(cmd.Stop(checkpoint=not self.forced_exit))

    # --- the engine ------------------------------------------------------------------------
    @property
    def effective_config(self) -> TrainConfig:
        if self.dataset_choice:
            return self.config.replace(dataset=self.dataset_choice)
        return self.config

    def start_engine(self) -> None:
        self.generation += 1
        generation = self.generation
        config = self.effective_config

        def emit(event: ev.Event) -> None:  # runs in the engine thread
            wrap = SamplesReady if isinstance(event, ev.Samples) else EngineEvent
            self.post_message(wrap(event, generation))

        self.engine = self.engine_factory(config, emit, resume=self.resume, exit_when_done=False,
                                          stats_interval=STATS_INTERVAL)
        self.engine_running = True
        self.failed = False
        self.arch = self.target_arch = config.arch
        self._set_state("loading data")
        self.status_bar.set_info(
            arch=config.arch, dataset=pretty_name(config.dataset), device=config.device, epochs=config.epochs
        )
        self._run_engine(self.engine, generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", name="engine")
    def _run_engine(self, engine, generation: int) -> None:
        reason = "error"
        try:
            try:
                engine.setup()  # loads data: may download, may raise DataUnavailable
            except Exception as exc:
                self.post_message(EngineSetupFailed(exc, generation))
                return
            try:
                reason = engine.run()
            except Exception as exc:  # run() reports training crashes itself; this is the last resort
                self.post_message(EngineEvent(ev.Failed(self.config.arch, f"{type(exc).__name__}: {exc}"), generation))
        finally:
            self.post_message(EngineStopped(generation, reason))

    def on_engine_setup_failed(self, message: EngineSetupFailed) -> None:
        if message.generation != self.generation:
            return
        error = message.error
        dataset = self.effective_config.dataset
        if isinstance(error, DataUnavailable) and dataset != "synthetic":
            self._log(str(error), "warning")
            self._set_state("no data")
            self.push_screen(DataUnavailableScreen(pretty_name(dataset), str(error)), self._data_choice)
            return
        self.failed = True
        text = str(error) if isinstance(error, TuiGanError) else f"{type(error).__name__}: {error}"
        self._log(f"could not start: {text}", "error")
        self._set_state("error")
        self.notify(text, title="Could not start training", severity="error", timeout=30, markup=False)

    def _data_choice(self, choice: str | None) -> None:
        if choice == "synthetic":
            self.dataset_choice = "synthetic"
            self._log("training on synthetic digits instead (for the rest of this session)")
            self.start_engine()
        else:
            self.exit(return_code=1)

    def on_engine_stopped(self, message: EngineStopped) -> None:
        if message.generation != self.generation:
            return
        self.engine_running = False
        if self.quitting:
            self.exit(return_code=1 if self.failed else 0)

    def on_samples_ready(self, message: SamplesReady) -> None:
        self.on_engine_event(message)

    def on_engine_event(self, message: EngineEvent) -> None:
        if message.generation != self.generation:
            return
        e = message.event
        handler = getattr(self, f"_on_{type(e).__name__}", None)
        if handler is not None:
            handler(e)

    @property
    def images(self):
        """The newest samples of the architecture training now (None before the first)."""
        history = self.samples.get(self.arch)
        return history[-1].images if history else None

    @property
    def images_step(self) -> int:
        history = self.samples.get(self.arch)
        return history[-1].step if history else 0

    def _on_Replay(self, e) -> None:
        """Attached to a job (or a finished run): the run so far, before the live events."""
        self.read_only = e.read_only
        self.viewers = e.viewers
        for arch, points in e.histories.items():
            self.histories[arch].extend(points)
        for arch, grids in e.samples.items():
            for grid in grids:
                self.samples[arch].add(Snapshot(grid.step, grid.images, grid.interpolation))
        for arch, qualities in e.qualities.items():
            for quality in qualities:
                self.qualities[arch].add(quality)
        self._replaying = True  # the job's recent event-log lines, without their toasts again
        try:
            for event in e.log:
                self.on_engine_event(EngineEvent(event, self.generation))
        finally:
            self._replaying = False
        if e.viewers > 1:  # logged after the run's first line (on Started)
            self._attach_note = f"attached: {e.viewers - 1} other dashboard{'s' if e.viewers > 2 else ''} watching too"

    def _on_Viewers(self, e) -> None:
        if e.count != self.viewers:
            self._log(f"{e.count} dashboard{'s' if e.count != 1 else ''} attached")
        self.viewers = e.count

    def _on_Started(self, e: ev.Started) -> None:
        first = self.run_dir is None
        self.arch = self.target_arch = e.arch
        self.run_dir = e.run_dir
        last = self.last_stats.get(e.arch)  # Started carries no training time: keep what we saw
        self.status_bar.set_info(
            arch=e.arch, dataset=e.dataset, device=e.device, run_dir=e.run_dir, epochs=e.epochs,
            step=e.step, epoch=e.epoch, images_per_s=0.0,
            epoch_progress=last.epoch_progress if last else 0.0, elapsed_s=last.elapsed_s if last else 0.0,
        )
        self.loss_panel.show(self.histories[e.arch], e.arch)
        self.scrub_step = None
        self._show_samples()
        self.quality_panel.show(self.qualities.get(e.arch), e.arch, self.quality_note)
        if first and not self.read_only:
            self._log(
                f"training {e.arch} on {e.dataset} ({e.device}), {e.steps_per_epoch:,} steps/epoch, "
                f"G {e.params_g:,} / D {e.params_d:,} params; run folder {e.run_dir or '(none)'}"
            )
        if self._attach_note:
            self._log(self._attach_note)
            self._attach_note = ""
        if not self._monitor_started:
            self._monitor_started = True
            self._poll_system(e)

    def _on_Stats(self, e: ev.Stats) -> None:
        history = self.histories[e.arch]
        history.extend(e.points)
        self.last_stats[e.arch] = e
        if e.arch != self.arch:  # the last points of the architecture we just left
            return
        self.status_bar.set_info(
            step=e.step, epoch=e.epoch, epoch_progress=e.epoch_progress,
            images_per_s=e.images_per_s, elapsed_s=e.elapsed_s, rank_rates=e.rank_images_per_s,
        )
        self.loss_panel.show(history, e.arch)

    def _on_Samples(self, e: ev.Samples) -> None:
        self.samples[e.arch].add(Snapshot(e.step, e.images, e.interpolation))
        if e.arch == self.arch:
            self._show_samples()

    def _show_samples(self) -> None:
        """The newest snapshot, or while scrubbing the one picked (its index shifts as the
        history is thinned, so it is remembered by step)."""
        history = self.samples.get(self.arch)
        if not history:
            self.samples_panel.show(None, self.arch)
            return
        if self.scrub_step is None:
            self.samples_panel.show(history[-1], self.arch, None, self.show_interpolation)
            return
        index = history.index_near(self.scrub_step)
        self.samples_panel.show(history[index], self.arch, (index, len(history)), self.show_interpolation)

    def _on_Quality(self, e: ev.Quality) -> None:
        history = self.qualities[e.arch]
        history.add(e)
        if e.arch == self.arch:
            self.quality_panel.show(history, e.arch)

    def _on_StateChanged(self, e: ev.StateChanged) -> None:
        if e.state == "finished" and self.state != "finished" and not self.read_only:
            self._log(f"{e.arch} finished its {self.status_bar.info.epochs} epochs at step {e.step:,}", "success")
            self.notify(f"{e.arch} finished training; switch architecture or quit", title="Finished")
        self.failed = self.failed or e.state == "error"
        self._set_state(e.state)

    def _on_CheckpointSaved(self, e: ev.CheckpointSaved) -> None:
        path = Path(e.path)  # inside the run folder the status line names: the short path is enough
        if self.run_dir and path.is_relative_to(self.run_dir):
            path = path.relative_to(self.run_dir)
        self._log(f"checkpoint written: {path}", "success", where=f"{e.arch} @{e.step:,}")
        if Path(e.path).stem.startswith("step_"):  # asked for with `c`; per-epoch "latest" ones only get logged
            self.notify(e.path, title=f"Checkpoint ({e.arch}, step {e.step:,})", markup=False)

    def _on_ArchSwitched(self, e: ev.ArchSwitched) -> None:
        where = f"continuing at step {e.step:,}" if e.step else "starting fresh"
        self._log(f"switched {e.previous} -> {e.arch}, {where}")

    def _on_Notice(self, e: ev.Notice) -> None:
        if e.topic == "quality":
            self.quality_note = e.message
            self.quality_panel.show(self.qualities.get(self.arch), self.arch, e.message)
        self._log(e.message, e.level, where=e.arch)
        if e.level in ("warning", "error"):
            self.notify(e.message, severity=e.level, markup=False)

    def _on_Failed(self, e: ev.Failed) -> None:
        self.failed = True
        where = f" (traceback: {e.traceback_path})" if e.traceback_path else ""
        self._log(f"{e.message}{where}", "error", where=e.arch)
        self.notify(f"{e.message}{where}", title=f"{e.arch} failed", severity="error", timeout=30, markup=False)
        self._set_state("error")

    def _on_Finished(self, e: ev.Finished) -> None:
        self._log(f"engine finished ({e.reason}) at {e.arch} step {e.step:,}", "error" if e.reason == "error" else "info")

    # --- system status ---------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="system", name="system monitor")
    def _poll_system(self, started: ev.Started) -> None:
        from tui_gan.system import DeviceIds

        worker = get_current_worker()
        monitor = None
        try:
            monitor = self.monitor_factory(started.device, started.torch_threads, engine_pid=started.pid,
                                           device_ids=DeviceIds(started.device_pci_bus_id, started.device_uuid),
                                           devices=started.devices)
            note = getattr(monitor, "gpu_unavailable_reason", None) or ""
            while not (self._stop_polling.is_set() or worker.is_cancelled):
                self.post_message(SystemPolled(monitor.poll(), note))
                self._stop_polling.wait(self.system_interval)
        except Exception as exc:  # a broken probe costs the panel, never the run
            self.post_message(SystemPolled(None, f"system status unavailable: {exc}"))
        finally:
            if monitor is not None:
                try:
                    monitor.close()
                except Exception:
                    pass

    def on_system_polled(self, message: SystemPolled) -> None:
        self.system_panel.show(message.status, message.note)

    # --- actions ---------------------------------------------------------------------------
    def _engine_or_warn(self):
        if self.engine is None or not self.engine_running:
            self.notify("the training engine is not running", severity="warning")
            return None
        return self.engine

    def action_toggle_pause(self) -> None:
        if (engine := self._engine_or_warn()) is not None:
            engine.send(cmd.TogglePause())

    def action_checkpoint(self) -> None:
        if (engine := self._engine_or_warn()) is not None:
            engine.send(cmd.SaveCheckpoint())

    def action_arch(self, index: int) -> None:
        name = ARCH_NAMES[index]
        if (engine := self._engine_or_warn()) is None:
            return
        if name == self.target_arch:
            self.notify(f"already training {name}")
            return
        self.target_arch = name
        engine.send(cmd.SwitchArch(name))

    def _step_arch(self, delta: int) -> None:
        index = ARCH_NAMES.index(self.target_arch) if self.target_arch in ARCH_NAMES else 0
        self.action_arch((index + delta) % len(ARCH_NAMES))

    def action_next_arch(self) -> None:
        self._step_arch(1)

    def action_prev_arch(self) -> None:
        self._step_arch(-1)

    def action_evaluate(self) -> None:
        if (engine := self._engine_or_warn()) is not None:
            engine.send(cmd.EvaluateNow())
            self.notify("evaluating sample quality at the next step", timeout=3)

    def action_scrub(self, delta: int) -> None:
        """Step through this architecture's sample history; past the newest is live again."""
        history = self.samples.get(self.arch)
        if not history:
            self.notify("no samples yet", severity="warning")
            return
        index = len(history) - 1 if self.scrub_step is None else history.index_near(self.scrub_step)
        index += delta
        if index >= len(history) - 1:
            self.scrub_step = None
        else:
            self.scrub_step = history[max(index, 0)].step
        self._show_samples()

    def action_toggle_interpolation(self) -> None:
        self.show_interpolation = not self.show_interpolation
        self._show_samples()

    def _run_folder_or_warn(self) -> Path | None:
        if not self.run_dir:
            self.notify("this run has no folder to save into", severity="warning")
            return None
        return Path(self.run_dir)

    def action_save_grid(self) -> None:
        """Save what the samples panel shows (a scrubbed-to grid too)."""
        snapshot = self.samples_panel.snapshot
        if snapshot is None:
            self.notify("no samples yet", severity="warning")
            return
        if (folder := self._run_folder_or_warn()) is not None:
            path = folder / "samples" / self.arch / f"step_{snapshot.step:07d}.png"
            self._write_file("sample grid", path, lambda: save_grid_png(snapshot.images, path, scale=2))

    def action_export_gif(self) -> None:
        history = self.samples.get(self.arch)
        if not history:
            self.notify("no samples yet", severity="warning")
            return
        if (folder := self._run_folder_or_warn()) is None:
            return
        arch, snapshots = self.arch, list(history.snapshots)  # frozen now: training goes on meanwhile
        path = folder / f"history_{arch}_step_{snapshots[-1].step:07d}.gif"

        def write() -> Path:  # in a worker thread: a few hundred frames take a second or two
            frames = [captioned(grid_image(s.images, columns=8, scale=2), f"{arch}  step {s.step:,}")
                      for s in snapshots]
            return save_gif(frames, path, [250] * (len(frames) - 1) + [1500])

        self._write_file(f"history GIF ({len(snapshots)} frames)", path, write)

    @work(thread=True, exit_on_error=False, group="save", name="save file")
    def _write_file(self, what: str, path: Path, write: Callable[[], Path]) -> None:
        try:
            self.post_message(FileSaved(what, str(write())))
        except (OSError, ValueError) as exc:
            self.post_message(FileSaved(what, None, f"could not save {path}: {exc}"))

    def on_file_saved(self, message: FileSaved) -> None:
        if message.error:
            self._log(message.error, "error")
            self.notify(message.error, severity="error", markup=False)
        else:
            self._log(f"{message.what} saved: {message.path}", "success")
            self.notify(message.path, title=f"{message.what[0].upper()}{message.what[1:]} saved", markup=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_help()))

    def action_detach(self) -> None:
        """Leave training running and close the dashboard (`tui-gan attach` comes back)."""
        if self.engine is None or not getattr(self.engine, "detachable", False):
            self.notify("training runs inside this dashboard: q stops it, nothing to detach from",
                        severity="warning")
            return
        self.detached = True
        self.exit(return_code=0)  # on_unmount detaches the client

    def action_quit(self) -> None:
        """Stop at the next step, let the engine write final checkpoints, then exit.
        Pressed again while stopping: leave now. With other dashboards watching, ask first."""
        if self.viewers > 1 and not self.quitting and self.engine_running and not self.read_only:
            self.push_screen(ConfirmStopScreen(self.viewers - 1), self._confirmed_stop)
            return
        self._stop_and_exit()

    def _confirmed_stop(self, choice: str | None) -> None:
        if choice == "stop":
            self._stop_and_exit()
        elif choice == "detach":
            self.action_detach()

    def _stop_and_exit(self) -> None:
        if self.quitting or self.engine is None or not self.engine_running:
            if self.quitting:
                self.forced_exit = True
                self._log("forced exit: not waiting for the engine", "warning")
            self.exit(return_code=1 if self.failed else 0)
            return
        self.quitting = True
        self._set_state("stopping...")
        self._log("stopping: writing final checkpoints (q again to force)")
        self.engine.send(cmd.Stop(checkpoint=True))

    # --- helpers ---------------------------------------------------------------------------
    def notify(self, *args, **kwargs) -> None:
        if not self._replaying:  # log lines replayed on attach were toasts once already
            super().notify(*args, **kwargs)

    def _set_state(self, state: str) -> None:
        if self.quitting and state not in ("stopping...", "stopped", "error"):
            return  # the engine may still report "paused" etc. on its way out
        self.state = state
        self.status_bar.set_info(state=state)

    def _log(self, message: str, level: str = "info", where: str = "") -> None:
        self.event_log.add(message, level, where)

    def key_help(self) -> list[tuple[str, str]]:
        archs = ", ".join(f"{k} {n}" for k, n in zip(ARCH_KEYS, ARCH_NAMES))
        return [
            ("space", "pause / resume training (stops within a step; samples refresh on pause)"),
            ("c", "write a checkpoint of the current architecture now"),
            ("a / A", "next / previous architecture (each keeps its own weights, step and losses)"),
            (f"1-{len(ARCH_KEYS)}", f"train a given architecture: {archs}"),
            ("s", "save the sample grid shown as PNG in the run folder (samples/<arch>/step_N.png)"),
            ("?", "this help"),
            ("q, ctrl+c", "quit: stop training, write final checkpoints, exit (press again to leave at once)"),
            ("d", "detach: close the dashboard, training goes on (tui-gan attach comes back; so does a "
                  "closed terminal or a dropped SSH link)"),
            ("ctrl+p", "command palette: every action, every architecture, themes"),
            ("e", "measure sample quality now (the quality panel; otherwise every ~30 s of training)"),
            ("← / →", "scrub back / forward through the sample history (the title shows the step); "
                      "→ past the newest returns to live"),
            ("i", "show / hide the interpolation row: digits along a straight line between two fixed latents"),
            ("g", "export this architecture's sample history as an animated GIF in the run folder"),
        ]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Quit":  # Textual's says "as soon as possible"; ours stops cleanly first
                command = command._replace(help="q: stop at the next step, write final checkpoints, exit")
            yield command
        yield SystemCommand("Pause / resume training", "space: pause or resume the training loop", self.action_toggle_pause)
        yield SystemCommand("Write checkpoint", "c: checkpoint the current architecture now", self.action_checkpoint)
        yield SystemCommand("Next architecture", "a: switch to the next architecture", self.action_next_arch)
        yield SystemCommand("Previous architecture", "A: switch to the previous architecture", self.action_prev_arch)
        for i, name in enumerate(ARCH_NAMES):
            key = f"{ARCH_KEYS[i]}: " if i < len(ARCH_KEYS) else ""
            yield SystemCommand(f"Switch to {name} - {ARCHS[name].description}", f"{key}train {name}",
                                partial(self.action_arch, i))
        yield SystemCommand("Save sample grid", "s: save the digits as PNG in the run folder", self.action_save_grid)
        yield SystemCommand("Evaluate sample quality", "e: classifier histogram, confidence, Frechet distance now",
                            self.action_evaluate)
        yield SystemCommand("Earlier samples", "←: step back through the sample history", partial(self.action_scrub, -1))
        yield SystemCommand("Later samples", "→: step forward; past the newest is live", partial(self.action_scrub, 1))
        yield SystemCommand("Toggle interpolation row", "i: digits along a line between two latents",
                            self.action_toggle_interpolation)
        yield SystemCommand("Export sample history GIF", "g: every kept grid as an animated GIF", self.action_export_gif)
        yield SystemCommand("Detach", "d: close the dashboard, keep training (tui-gan attach)", self.action_detach)
        yield SystemCommand("Help", "?: keys and what the panels mean", self.action_help)


def run_dashboard(config: TrainConfig, resume: str | None = None, run_dir: str | None = None, attach=None,
                  start: Callable | None = None) -> int:
    """Run the dashboard until the user quits or detaches; returns the process exit code.
    attach: a live job's JobInfo, or a finished run's folder (read-only); start: see job_engine_factory."""
    app = TuiGanApp(config, resume=resume, engine_factory=job_engine_factory(run_dir, attach, start))
    app.run()
    if app.detached and app.run_dir and not app.read_only:
        print(f"detached: training goes on in {app.run_dir}\n  watch it again: tui-gan attach {app.run_dir}")
    return app.return_code or 0
