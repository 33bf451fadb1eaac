"""One run's dashboard as a screen that drives its engine: the panels (screens/dashboard.py)
plus the engine's thread worker, the keys and the run's lifecycle.

Threading: the worker runs the engine's setup() and run(); its `emit` callback wraps each event
in a Message and `post_message`s it to this screen (thread safe, never blocks). Every widget
change happens here, on the UI thread. UI -> engine goes through `engine.send(command)`.
By default the "engine" is a viewer of a training job (tui_gan/jobs): `tui-gan` starts a job in
the background and attaches to it, `tui-gan attach` and the workspace attach to a running one
(or replay a finished run read-only). The job outlives the dashboard: `d`, a closed terminal or
a dropped SSH link only detach; `q` stops training. Tests pass an in-thread Engine through
`engine_factory`, which is driven the same way. The system monitor is polled in a second thread
worker while the screen is shown.

The first screen of `tui-gan` and `tui-gan attach` leaves the App when it closes; one opened
from the workspace goes back there and stays open (installed, its connection kept) so that
coming back to it is instant."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.worker import get_current_worker

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.errors import DataUnavailable, TuiGanError
from tui_gan.jobs.protocol import Replay
from tui_gan.models import ARCH_NAMES
from tui_gan.notify import happening
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState
from tui_gan.ui import actions
from tui_gan.ui.engine_link import Driven, EngineFactory, MonitorFactory, default_monitor_factory, poll_system
from tui_gan.ui.messages import EngineEvent, EngineSetupFailed, EngineStopped, SamplesReady, SystemPolled
from tui_gan.ui.screens.confirm_stop import ConfirmStopScreen
from tui_gan.ui.screens.dashboard import Dashboard
from tui_gan.ui.screens.data_dialog import DataUnavailableScreen
from tui_gan.ui.screens.help import HelpScreen, panels

# Loss points arrive in batches twice a second (none is dropped): live enough to watch. Each
# redraw takes CPU from training on a small machine: on 2 cores the UI process used 0.087 of a
# core at 4 batches a second, 0.058 at 2 and 0.043 at 1, of which 0.03 is the digits' redraw.
STATS_INTERVAL = 0.5
STOPPING = "stopping..."  # q pressed: before the engine says RunState.STOPPING


class RunScreen(Dashboard):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide"), (160, "-very-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [*actions.bindings(), Binding("escape", "back", "Back", show=False)]

    def __init__(
        self,
        config: TrainConfig,
        engine_factory: EngineFactory,
        resume: str | None = None,
        *,
        monitor_factory: MonitorFactory | None = None,
        system_interval: float = 1.0,
    ) -> None:
        super().__init__(config.arch, on_ready=self.start_engine)
        self.config = config
        self.resume = resume
        self.engine_factory = engine_factory
        self.monitor_factory = monitor_factory or default_monitor_factory
        self.system_interval = system_interval
        self.engine: Driven | None = None
        self.engine_running = False  # what the keys need (actions.NEEDS): check_action dims the rest
        self.generation = 0  # bumped per engine: messages from an older one are dropped
        self.dataset_choice: str | None = None  # "synthetic" once chosen in the dialog, for the session
        self.target_arch = config.arch  # what we asked for (a/A pressed twice before the switch lands)
        self.quitting = False
        self.forced_exit = False
        self.detached = False  # left with `d`: training goes on
        self.failed = False
        self._monitor_started = False
        self._stop_polling = threading.Event()
        self._shown = threading.Event()  # the system monitor polls only while this screen is shown
        # What engine events change in the run's lifecycle, by type (the panels show them all).
        self._lifecycle: dict[type, Callable] = {
            ev.Started: self._on_started,
            ev.StateChanged: self._on_state_changed,
            ev.Failed: self._on_failed,
            Replay: self._on_replay,
        }

    @property
    def is_root(self) -> bool:
        """The App's first screen (`tui-gan`, `attach`): leaving it leaves the App."""
        return self.app.screen_stack[0] is self

    def on_screen_resume(self) -> None:
        self._shown.set()

    def on_screen_suspend(self) -> None:
        self._shown.clear()
        if self.samples_panel.pixel_grid is not None:
            self.samples_panel.pixel_grid.hide()  # a kitty image would float over what is shown now

    def on_unmount(self) -> None:
        # However the screen goes (quit, a crash, a closed terminal, the App's exit), the worker
        # thread must end: asyncio waits for executor threads. A job goes on training (we only
        # detach; after q it is already stopping); an in-thread engine must stop, keeping the
        # training done so far unless the user forced the exit (second q).
        self._stop_polling.set()
        self._shown.set()
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

        self.engine = self.engine_factory(
            config, emit, resume=self.resume, exit_when_done=False, stats_interval=STATS_INTERVAL
        )
        self.engine_running = True
        self.failed = False
        self.target_arch = config.arch
        self.run_state = "loading data"
        self.starting(config)
        self._run_engine(self.engine, generation)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine", name="engine")
    def _run_engine(self, engine: Driven, generation: int) -> None:
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
                self.post_message(
                    EngineEvent(ev.Failed(self.config.arch, f"{type(exc).__name__}: {exc}"), generation)
                )
        finally:
            self.post_message(EngineStopped(generation, reason))

    def on_engine_setup_failed(self, message: EngineSetupFailed) -> None:
        if message.generation != self.generation:
            return
        error = message.error
        dataset = self.effective_config.dataset
        if isinstance(error, DataUnavailable) and dataset != "synthetic":
            self.log_line(str(error), "warning")
            self.run_state = "no data"
            self.app.push_screen(DataUnavailableScreen(pretty_name(dataset), str(error)), self._data_choice)
            return
        self.failed = True
        text = str(error) if isinstance(error, TuiGanError) else f"{type(error).__name__}: {error}"
        self.log_line(f"could not start: {text}", "error")
        self.run_state = RunState.FAILED.value
        self.app.notify(text, title="Could not start training", severity="error", timeout=30, markup=False)

    def _data_choice(self, choice: str | None) -> None:
        if choice == "synthetic":
            self.dataset_choice = "synthetic"
            self.log_line("training on synthetic digits instead (for the rest of this session)")
            self.start_engine()
        else:
            self.leave(1)

    def on_engine_stopped(self, message: EngineStopped) -> None:
        if message.generation != self.generation:
            return
        self.engine_running = False
        if self.quitting:
            self.leave(1 if self.failed else 0)
        else:
            self.refresh_bindings()  # the footer dims the keys that needed the engine

    def on_samples_ready(self, message: SamplesReady) -> None:
        self.on_engine_event(message)

    def on_engine_event(self, message: EngineEvent) -> None:
        if message.generation != self.generation:
            return
        self.handle(message.event)
        happened = happening(message.event)  # live events only: a Replay's past ones stay quiet
        if happened is not None:
            self.app.ring(happened, Path(self.run_dir).name if self.run_dir else "")
        lifecycle = self._lifecycle.get(type(message.event))
        if lifecycle is not None:
            lifecycle(message.event)

    # --- engine events: the run's lifecycle ------------------------------------------------
    def _on_replay(self, e: Replay) -> None:
        """Attached to a job (or a finished run): a failure among its recent events makes the
        exit code 1."""
        for event in e.log:
            if isinstance(event, (ev.Failed, ev.StateChanged)):
                self._lifecycle[type(event)](event)

    def _on_started(self, e: ev.Started) -> None:
        self.target_arch = e.arch
        self.refresh_bindings()  # the keys that need a run folder
        if not self._monitor_started:
            self._monitor_started = True
            self._poll_system(e)

    def _on_state_changed(self, e: ev.StateChanged) -> None:
        self.failed = self.failed or e.state == RunState.FAILED
        self.run_state = e.state

    def _on_failed(self, e: ev.Failed) -> None:
        self.failed = True
        self.run_state = RunState.FAILED.value

    def validate_run_state(self, state: str) -> str:
        if self.quitting and state not in (STOPPING, RunState.STOPPED, RunState.FAILED):
            return self.run_state  # the engine may still report "paused" etc. on its way out
        return state

    # --- system status ---------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="system", name="system monitor")
    def _poll_system(self, started: ev.Started) -> None:
        worker = get_current_worker()

        def wait(seconds: float) -> None:
            self._stop_polling.wait(seconds)
            self._shown.wait()  # nothing to poll for while the workspace or another run is shown

        poll_system(
            self.monitor_factory,
            started,
            self.post_message,
            self.system_interval,
            lambda: self._stop_polling.is_set() or worker.is_cancelled,
            wait,
        )

    def on_system_polled(self, message: SystemPolled) -> None:
        self.show_system(message.status, message.note)

    # --- actions (keys, help and palette: tui_gan/ui/actions.py) ---------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """None (the key shows dimmed and does nothing) while what it needs is not there."""
        if action == "back":
            return not self.is_root
        needs = actions.NEEDS.get(action)
        live = self.engine is not None and self.engine_running
        if needs == "engine" and not (live and not self.app.read_only):
            return None
        if needs == "run folder" and not self.run_dir:
            return None
        return True

    def action_toggle_pause(self) -> None:
        self.engine.send(cmd.TogglePause())

    def action_checkpoint(self) -> None:
        self.engine.send(cmd.SaveCheckpoint())

    def action_arch(self, index: int) -> None:
        name = ARCH_NAMES[index]
        if name == self.target_arch:
            self.app.notify(f"already training {name}")
            return
        self.target_arch = name
        self.engine.send(cmd.SwitchArch(name))

    def _step_arch(self, delta: int) -> None:
        index = ARCH_NAMES.index(self.target_arch) if self.target_arch in ARCH_NAMES else 0
        self.action_arch((index + delta) % len(ARCH_NAMES))

    def action_next_arch(self) -> None:
        self._step_arch(1)

    def action_prev_arch(self) -> None:
        self._step_arch(-1)

    def action_rollback(self) -> None:
        self.engine.send(cmd.RollbackToBest())

    def action_toggle_raw(self) -> None:
        self.engine.send(cmd.ToggleRawSamples())

    def action_evaluate(self) -> None:
        self.engine.send(cmd.EvaluateNow())
        self.app.notify("evaluating sample quality at the next step", timeout=3)

    def action_scrub(self, delta: int) -> None:
        if not self.scrub(delta):
            self.app.notify("no samples yet", severity="warning")

    def action_toggle_interpolation(self) -> None:
        self.show_interpolation = not self.show_interpolation

    def action_save_grid(self) -> None:
        self.save_grid()

    def action_export_gif(self) -> None:
        self.export_gif()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(actions.help_rows(self.config), panels(self.config)))

    def action_workspace(self) -> None:
        """Every run in one screen; this dashboard stays open beneath it."""
        self.app.show_workspace(self.config.runs_dir)

    def action_back(self) -> None:
        """Opened from the workspace: back there, the connection kept for the next visit."""
        self.app.pop_screen()

    def action_detach(self) -> None:
        """Leave training running and close the dashboard (`tui-gan attach` comes back)."""
        if not self.is_root:
            self.action_back()
            return
        if self.engine is None or not getattr(self.engine, "detachable", False):
            self.app.notify(
                "training runs inside this dashboard: q stops it, nothing to detach from", severity="warning"
            )
            return
        self.detached = True
        self.leave(0)  # on_unmount detaches the client

    def action_quit(self) -> None:
        """Stop at the next step, let the engine write final checkpoints, then leave.
        Pressed again while stopping: leave now. With other dashboards watching, ask first.
        A --read-only viewer cannot stop training: q leaves it, as d does."""
        if self.app.read_only:
            self.detached = True
            self.leave(0)
            return
        if self.viewers > 1 and not self.quitting and self.engine_running and not self.read_only:
            self.app.push_screen(ConfirmStopScreen(self.viewers - 1), self._confirmed_stop)
            return
        self._stop_and_leave()

    def _confirmed_stop(self, choice: str | None) -> None:
        if choice == "stop":
            self._stop_and_leave()
        elif choice == "detach":
            self.action_detach()

    def _stop_and_leave(self) -> None:
        if self.quitting or self.engine is None or not self.engine_running:
            if self.quitting:
                self.forced_exit = True
                self.log_line("forced exit: not waiting for the engine", "warning")
            self.leave(1 if self.failed else 0)
            return
        self.run_state = STOPPING
        self.quitting = True
        self.log_line("stopping: writing final checkpoints (q again to force)")
        self.engine.send(cmd.Stop(checkpoint=True))

    def leave(self, return_code: int) -> None:
        """The first screen ends the App; one opened from the workspace is dropped (its engine
        stopped, or q pressed twice) and the workspace shown again."""
        if self.is_root:
            self.app.exit(return_code=return_code)
        else:
            self.app.close_run(self)

    def palette(self, textual_commands: Iterable[SystemCommand]) -> Iterable[SystemCommand]:
        return actions.palette_commands(self, textual_commands)
