"""The App: a thin host for two kinds of screen and the way between them.

- RunScreen (screens/run.py): one run's dashboard, driving its engine (a training job's viewer).
- WorkspaceScreen (screens/workspace.py): every run, compared and controlled.

`tui-gan` and `tui-gan attach` open on a run (TuiGanApp), `tui-gan runs` on the workspace
(WorkspaceApp); `w` and Enter move between them in the same App. A run opened from the workspace
stays open when you go back (its screen installed, its connection to the job kept, up to
KEEP_RUNS of them), so showing it again is instant."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import events, work
from textual.app import App, SystemCommand
from textual.screen import Screen

from tui_gan.config import TrainConfig
from tui_gan.notify import Happening, terminal_signal
from tui_gan.pixels import Terminal, choose
from tui_gan.ui.engine_link import EngineFactory, MonitorFactory, job_engine_factory
from tui_gan.ui.screens.run import RunScreen
from tui_gan.workspace.model import RunRow

KEEP_RUNS = 8  # runs kept open behind the workspace: each is a socket and two threads


class TuiGanBase(App[None]):
    CSS_PATH = ["dialogs.tcss", "app.tcss", "workspace.tcss"]
    TITLE = "tui-gan"
    AUTO_FOCUS = None  # a dashboard's keys go to its bindings; the workspace focuses its list

    def __init__(
        self,
        *,
        monitor_factory: MonitorFactory | None = None,
        system_interval: float = 1.0,
        notify: str = "auto",
        read_only: bool = False,
        pixels: Terminal | None = None,
    ) -> None:
        super().__init__()
        self.read_only = read_only  # --read-only: no key changes a run (pause, stop, checkpoint, ...)
        self.pixels = pixels or Terminal("halfblock")  # --pixels, as pixels.choose found the terminal
        self.monitor_factory = monitor_factory
        self.system_interval = system_interval
        self.notify_mode = notify  # --notify: how ring() tells the user (notify.py)
        self._runs: dict[str, RunScreen] = {}  # run folder -> its kept screen, least recent first
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"  # every animated frame is bytes down a slow SSH link

    def on_mount(self) -> None:
        self.set_class(self.pixels.mode != "halfblock", "-pixels")  # app.tcss: toasts clear of the image
        if self.read_only:
            self.notify("read-only viewer: the keys that change runs are off; q leaves, training goes on")
        if self.is_web:  # Textual's web driver starts blurred, with an empty footer, until a click
            self.set_timer(0.3, lambda: self.post_message(events.AppFocus()))

    def on_app_focus(self) -> None:
        self.screen.refresh_bindings()  # the footer fills only on a change of bindings

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's entries, then the screen's own actions (each runs what its key does)."""
        commands = super().get_system_commands(screen)
        palette = getattr(screen, "palette", None)
        return palette(commands) if palette is not None else commands

    def ring(self, happened: Happening, run_name: str = "") -> None:
        """A run finished, diverged, collapsed or crashed: a desktop notification or the bell,
        as --notify says (written to the terminal as App.bell writes its BEL)."""
        signal = terminal_signal(happened, self.notify_mode, run_name)
        if signal and not self.is_headless and self._driver is not None:
            self._driver.write(signal)

    # --- between the screens -------------------------------------------------------------------
    def show_workspace(self, runs_root: str | Path) -> None:
        """The workspace over this run's dashboard, or back to the one this run was opened from."""
        from tui_gan.ui.screens.workspace import WorkspaceScreen  # its charts: not for `attach`'s start

        below = [s for s in self.screen_stack[:-1] if isinstance(s, WorkspaceScreen)]
        if below:
            while self.screen is not below[-1]:
                self.pop_screen()
            return
        self.push_screen(WorkspaceScreen(Path(runs_root)))

    def show_run(self, row: RunRow) -> None:
        """`row`'s dashboard: the one already open, or a new viewer of its job (or its folder)."""
        key = str(row.run_dir)
        for screen in self.screen_stack[:-1]:  # the dashboard the workspace was opened from
            if isinstance(screen, RunScreen) and screen.run_dir and Path(screen.run_dir) == Path(key):
                while self.screen is not screen:
                    self.pop_screen()
                return
        kept = self._runs.pop(key, None)
        if kept is not None and kept.is_attached:
            self._runs[key] = kept  # the most recent last
            self.push_screen(kept)
            return
        self._open_run(Path(row.run_dir), row.name)

    @work(thread=True, group="open run")
    def _open_run(self, run_dir: Path, name: str) -> None:
        """What to attach to (a job's status query: off the UI thread), then its screen."""
        from tui_gan.errors import TuiGanError
        from tui_gan.jobs.attach import attach_target

        try:
            config, source = attach_target(run_dir)
        except TuiGanError as exc:
            self.call_from_thread(self.notify, f"{name}: {exc}", severity="error", markup=False)
            return
        self.call_from_thread(self._push_run, str(run_dir), config, job_engine_factory(attach=source))

    def _push_run(self, key: str, config: TrainConfig, factory: EngineFactory) -> None:
        if key in self._runs:  # Enter pressed twice before the first opened: that one
            if self._runs[key] not in self.screen_stack:
                self.push_screen(self._runs[key])
            return
        screen = RunScreen(
            config, factory, monitor_factory=self.monitor_factory, system_interval=self.system_interval
        )
        self._runs[key] = screen
        self.install_screen(screen, f"run:{key}:{id(screen)}")
        while len(self._runs) > KEEP_RUNS:  # the least recently shown goes (detached)
            self._drop(next(iter(self._runs)))
        self.push_screen(screen)

    def close_run(self, screen: RunScreen) -> None:
        """A run's screen opened from the workspace is done (its run stopped): back, and drop it."""
        shown = self.screen is screen
        if shown:
            self.pop_screen()  # the stack changes now; the screen is removed after, once uninstalled
        for key, kept in list(self._runs.items()):
            if kept is screen:
                self._drop(key, remove=not shown)

    def _drop(self, key: str, remove: bool = True) -> None:
        screen = self._runs.pop(key)
        if screen in self.screen_stack:
            return  # under a dialog: kept until the App ends
        self.uninstall_screen(screen)
        if remove:
            screen.remove()  # its on_unmount detaches from the job


class TuiGanApp(TuiGanBase):
    """`tui-gan` and `tui-gan attach`: one run's dashboard first."""

    def __init__(
        self,
        config: TrainConfig,
        resume: str | None = None,
        *,
        engine_factory: EngineFactory | None = None,
        monitor_factory: MonitorFactory | None = None,
        system_interval: float = 1.0,
        notify: str = "auto",
        read_only: bool = False,
        pixels: Terminal | None = None,
    ) -> None:
        super().__init__(
            monitor_factory=monitor_factory,
            system_interval=system_interval,
            notify=notify,
            read_only=read_only,
            pixels=pixels,
        )
        self.dashboard = RunScreen(
            config,
            engine_factory or job_engine_factory(),
            resume,
            monitor_factory=monitor_factory,
            system_interval=system_interval,
        )

    def get_default_screen(self) -> RunScreen:
        return self.dashboard


class WorkspaceApp(TuiGanBase):
    """`tui-gan runs`: the workspace first (its arguments: WorkspaceScreen's)."""

    TITLE = "tui-gan runs"

    def __init__(
        self,
        runs_root: Path,
        *,
        scan: Callable | None = None,
        send: Callable | None = None,
        opener: Callable | None = None,
        refresh_s: float | None = None,
        monitor_factory: MonitorFactory | None = None,
        notify: str = "auto",
        read_only: bool = False,
        pixels: Terminal | None = None,
    ) -> None:
        from tui_gan.ui.screens.workspace import REFRESH_S, WorkspaceScreen

        super().__init__(monitor_factory=monitor_factory, notify=notify, read_only=read_only, pixels=pixels)
        self.workspace = WorkspaceScreen(
            runs_root, scan=scan, send=send, opener=opener, refresh_s=refresh_s or REFRESH_S
        )

    def get_default_screen(self) -> Screen:
        return self.workspace


def run_dashboard(
    config: TrainConfig,
    resume: str | None = None,
    run_dir: str | None = None,
    attach=None,
    start: Callable | None = None,
    notify: str = "auto",
    read_only: bool = False,
    pixels: str = "auto",
) -> int:
    """Run the dashboard until the user quits or detaches; returns the process exit code.
    attach: a live job's JobInfo, or a finished run's folder (read-only); start: see
    job_engine_factory; notify: --notify; read_only: --read-only; pixels: --pixels."""
    factory = job_engine_factory(run_dir, attach, start)
    app = TuiGanApp(
        config,
        resume=resume,
        engine_factory=factory,
        notify=notify,
        read_only=read_only,
        pixels=choose(pixels),
    )
    app.run()
    run = app.dashboard
    if run.detached and run.run_dir and not (run.read_only or read_only):
        print(f"detached: training goes on in {run.run_dir}\n  watch it again: tui-gan attach {run.run_dir}")
    return app.return_code or 0


def run_workspace(
    runs_root: Path, notify: str = "auto", read_only: bool = False, pixels: str = "auto"
) -> int:
    WorkspaceApp(runs_root, notify=notify, read_only=read_only, pixels=choose(pixels)).run()
    return 0
