"""The workspace (`tui-gan runs`, `w` in a dashboard): every run of this user in one screen,
compared and controlled from there.

Threading as in a dashboard (screens/run.py): a thread worker scans the runs every REFRESH_S
(run folders' small files, live jobs' status over their sockets) and posts the rows; another
loads what the compare pane draws for the selected runs. Keys act through each job's socket,
as a dashboard's do. Enter opens a run's dashboard in this App (ui/app.py keeps it open for
the next visit); escape there comes back. Quitting the workspace never stops a run."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui_gan.jobs.registry import HOST
from tui_gan.notify import Happening, ended_run
from tui_gan.training import commands as cmd
from tui_gan.ui import actions
from tui_gan.ui.screens.confirm import ConfirmScreen
from tui_gan.ui.screens.help import HelpScreen
from tui_gan.ui.widgets.compare import CompareCharts, ConfigDiff, SampleStrip
from tui_gan.ui.widgets.leaderboard import Leaderboard
from tui_gan.ui.widgets.runs_table import LIVE_STATES, RunsTable
from tui_gan.ui.workspace_actions import COLUMN_HELP, CONTROLS, WORKSPACE_ACTIONS
from tui_gan.workspace.grids import grids_at, step_after
from tui_gan.workspace.model import ColourBook, RunRow

REFRESH_S = 2.0  # a scan of every run: small files and one status query per live job
COMPARE_REFRESH_S = 5.0  # the selected runs' series, again, while any of them trains


class RunsScanned(Message):
    def __init__(self, rows: list[RunRow], error: str | None = None, sweep: tuple | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.sweep = sweep  # opened on a sweep folder: (its progress, its leaderboard's lines)
        self.error = error


class CompareLoaded(Message):
    def __init__(self, series: list, samples: list, configs: list) -> None:
        super().__init__()
        self.series = series
        self.samples = samples
        self.configs = configs


class WorkspaceScreen(Screen):
    """The runs list, a status line and the filter box; the compare pane below the list."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-very-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        *actions.bindings(WORKSPACE_ACTIONS),
        Binding("escape", "clear_filter", show=False),
        # q over a dashboard (`w`) goes back to it: the footer says so (check_action picks one)
        Binding("q", "back", "Back", tooltip="back to the dashboard the workspace was opened from"),
    ]

    def __init__(
        self,
        runs_root: Path,
        *,
        scan: Callable[[Path], list[RunRow]] | None = None,
        send: Callable[[RunRow, cmd.Command], str | None] | None = None,
        opener: Callable[[RunRow], None] | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        super().__init__()
        if scan is None:
            from tui_gan.workspace.runs import scan_runs as scan
        self.runs_root = runs_root
        self.scan = scan
        self.send = send or send_to_job
        self.opener = opener  # None: the App's show_run (tests record instead)
        self.refresh_s = refresh_s
        self.rows: list[RunRow] = []
        self._stop = threading.Event()
        self._rescan = threading.Event()
        self._compare_loaded = 0.0  # when the compare pane's data was last read
        self.colours = ColourBook()
        self.grid_step: int | None = None  # the compared grids' step ([ and ]); None: each run's newest
        self._grid_steps: list[int] = []  # every step a compared run kept a grid at
        self.sweep_line: str | None = None  # on a sweep folder: its progress, for the status line

    def compose(self) -> ComposeResult:
        yield Static(id="ws-status")
        yield Leaderboard(id="board")
        yield RunsTable(id="runs")
        with Horizontal(id="compare"):
            yield CompareCharts(id="charts")
            with Vertical(id="compare-side"):
                yield SampleStrip(id="strip")
                yield ConfigDiff(id="diff")
        yield Input(placeholder="filter: name, architecture, recipe or state", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(Leaderboard).display = False
        self.table.focus()
        self._status()
        self._poll()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_screen_resume(self) -> None:
        self._rescan.set()  # back from a dashboard: what was done there shows at once

    def on_unmount(self) -> None:
        self._stop.set()
        self._rescan.set()

    # --- scanning ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="scan")
    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                rows, error = self.scan(self.runs_root), None
            except Exception as exc:  # a scan must never take the screen down: say why, try again
                rows, error = self.rows, f"cannot list runs: {type(exc).__name__}: {exc}"
            self.post_message(RunsScanned(rows, error, sweep_board(self.runs_root, rows)))
            self._rescan.wait(self.refresh_s)
            self._rescan.clear()

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self._ring_for_ended(message.rows)
        self.rows = [replace(row, colour=self.colours.of(row.run_dir)) for row in message.rows]
        self.table.show(self.rows)
        self.sweep_line = message.sweep[0] if message.sweep else None
        self.query_one(Leaderboard).show(message.sweep[1] if message.sweep else None)
        self._status(message.error)
        compared = self.table.selected_rows()
        if any(r.live for r in compared) and time.monotonic() - self._compare_loaded >= COMPARE_REFRESH_S:
            self._load_compare(compared)  # training runs' curves move on

    def _ring_for_ended(self, rows: list[RunRow]) -> None:
        """A run this screen saw training that has now finished, failed, collapsed or died rings
        the terminal (--notify), once: the many-runs view tells you which run needs you."""
        before = {row.run_dir: row.state for row in self.rows}
        for row in rows:
            kind = ended_run(before.get(row.run_dir, ""), row.state)
            if kind is not None:
                what = f"{row.name} {row.state} at step {row.step:,}"
                what += f": {row.problem}" if row.problem else ""
                self.app.ring(Happening(kind, row.arch, what), row.name)

    def _status(self, error: str | None = None) -> None:
        live = sum(r.live for r in self.rows)
        table = self.table
        parts = [
            self.sweep_line or f"{len(self.rows)} runs ({live} live) in {self.runs_root}",
            f"sort {table.describe_sort()}",
        ]
        if table.filter_text:
            parts.append(f"filter '{table.filter_text}': {table.shown} shown")
        if table.selected:
            parts.append(f"{len(table.selected)} selected")
            if self.grid_step is not None:  # [ and ]: the compared grids at one step for all runs
                parts.append(f"grids at step {self.grid_step:,}")
        row = table.highlighted()
        if row is not None and row.problem:  # a died run's resume command, what is damaged
            parts.append(f"{row.name}: {row.problem}")
        line = Text(" · ".join(parts))
        self.query_one("#ws-status", Static).update(Text(error, style="red") if error else line)

    def on_data_table_row_highlighted(self) -> None:
        self._status()

    # --- the compare pane ----------------------------------------------------------------------
    def on_runs_table_selection_changed(self, message: RunsTable.SelectionChanged) -> None:
        self._load_compare(message.rows)

    @work(thread=True, exclusive=True, group="compare")
    def _load_compare(self, rows: list[RunRow]) -> None:
        """The selected runs' series and newest grids, read from their folders (bounded files)."""
        from tui_gan.workspace import runs

        series = [
            replace(runs.read_series(row.run_dir, row.arch), name=row.name, colour=row.colour) for row in rows
        ]
        samples, self._grid_steps = grids_at(rows, self.grid_step)
        configs = [(row.name, row.colour, row.config) for row in rows]
        self._compare_loaded = time.monotonic()
        self.post_message(CompareLoaded(series, samples, configs))

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        self.query_one(CompareCharts).set_series(message.series)
        self.query_one(SampleStrip).set_samples(message.samples)
        self.query_one(ConfigDiff).set_configs(message.configs)

    # --- keys ----------------------------------------------------------------------------------
    def action_grid_step(self, direction: int) -> None:
        """The compared grids at an earlier / later kept step, the same for every run."""
        self.grid_step = step_after(self._grid_steps, self.grid_step, direction)
        self._status()
        self._load_compare(self.table.selected_rows())

    def action_toggle_select(self) -> None:
        self.table.toggle_selected()
        self._status()

    def action_sort(self, step: int) -> None:
        self.table.sort_by(step)
        self._status()

    def action_reverse(self) -> None:
        self.table.flip()
        self._status()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value.strip())
        self._status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#filter", Input).display = bool(self.table.filter_text)
        self.table.focus()

    def action_pause(self) -> None:
        rows = self._live_targets("pause")
        self._send([(row, cmd.Resume() if row.state == "paused" else cmd.Pause()) for row in rows])

    def action_checkpoint(self) -> None:
        self._send([(row, cmd.SaveCheckpoint()) for row in self._live_targets("checkpoint")])

    def action_evaluate(self) -> None:
        self._send([(row, cmd.EvaluateNow()) for row in self._live_targets("evaluate")])

    def action_stop(self) -> None:
        rows = self._live_targets("stop")
        if not rows:
            return
        names = ", ".join(r.name for r in rows)
        question = ConfirmScreen(
            f"Stop {len(rows)} run{'s' if len(rows) > 1 else ''}?",
            f"{names}: training stops after a final checkpoint. Resume later with tui-gan train --resume.",
            "Stop",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._send([(row, cmd.Stop(checkpoint=True)) for row in rows])

        self.app.push_screen(question, answered)

    def action_delete(self) -> None:
        row = self.table.highlighted()
        if row is None:
            return
        if row.live or row.state in LIVE_STATES:
            self.notify(f"{row.name} is live: stop it first", severity="warning")
            return
        question = ConfirmScreen(
            "Delete run folder?",
            f"{row.run_dir} and everything in it (checkpoints, samples, logs) will be deleted.",
            "Delete",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(row)

        self.app.push_screen(question, answered)

    def _delete(self, row: RunRow) -> None:
        try:
            shutil.rmtree(row.run_dir)
        except OSError as exc:
            self.notify(f"could not delete {row.run_dir}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"deleted {row.run_dir}")
        self._rescan.set()

    def on_data_table_row_selected(self) -> None:  # enter on the list: the list's own binding
        self.action_open()

    def action_open(self) -> None:
        row = self.table.highlighted()
        if row is not None:
            (self.opener or self.app.show_run)(row)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """q quits `tui-gan runs`, and goes back when the workspace is over a dashboard. A
        --read-only viewer's keys that change runs show dimmed and do nothing."""
        if action in ("quit", "back"):
            return (action == "quit") == (self.app.screen_stack[0] is self)
        if self.app.read_only and action in CONTROLS:
            return None
        return True

    def action_quit(self) -> None:
        """Leave the workspace (the runs go on)."""
        self.app.exit()

    def action_back(self) -> None:
        """To the dashboard the workspace was opened from (`w`)."""
        self.app.pop_screen()

    def action_help(self) -> None:
        self.app.push_screen(
            HelpScreen(actions.help_rows(table=WORKSPACE_ACTIONS), COLUMN_HELP, "tui-gan runs help")
        )

    def action_next_chart(self) -> None:
        self.query_one(CompareCharts).next_chart()

    def action_smooth(self, step: int) -> None:
        charts = self.query_one(CompareCharts)
        charts.smoother() if step > 0 else charts.rougher()

    def palette(self, textual_commands):
        return actions.palette_commands(self, textual_commands, WORKSPACE_ACTIONS)

    # --- acting on runs --------------------------------------------------------------------------
    def _live_targets(self, what: str) -> list[RunRow]:
        rows = self.table.targets()
        live = [r for r in rows if r.live]
        for row in rows:
            if row.live:
                continue
            if row.host and row.host != HOST:  # a shared filesystem: only its machine reaches its job
                self.notify(f"{row.name} trains on {row.host}: ssh {row.host} to {what} it there")
            else:
                self.notify(f"cannot {what} {row.name}: it is {row.state}, not live", severity="warning")
        return live

    @work(thread=True, group="commands")
    def _send(self, commands: list[tuple[RunRow, cmd.Command]]) -> None:
        """Each run's command through its socket, in order (a job that does not answer is said)."""
        for row, command in commands:
            problem = self.send(row, command)
            if problem:
                self.app.call_from_thread(self.notify, f"{row.name}: {problem}", severity="error")
        if commands:
            self._rescan.set()


def sweep_board(folder: Path, rows: list[RunRow]) -> tuple[str, list] | None:
    """On a sweep folder: its progress line and its leaderboard, from the rows just scanned."""
    from tui_gan.errors import ConfigError
    from tui_gan.sweeps import results
    from tui_gan.sweeps.state import SWEEP_FILE, Sweep

    if not (folder / SWEEP_FILE).is_file():
        return None
    try:
        sweep = Sweep.load(folder)
    except ConfigError as exc:
        return str(exc), []
    found = {row.run_dir: row for row in rows}
    return results.progress(sweep), results.board_lines(results.leaderboard(results.cell_rows(sweep, found)))


def send_to_job(row: RunRow, command: cmd.Command) -> str | None:
    """`command` to the run's live job over its socket; why not, in a line, when it did not go."""
    from tui_gan.jobs import registry
    from tui_gan.jobs.client import send_command

    job = registry.read_job(row.run_dir)
    if job is None:
        return "no job in this folder"
    try:
        send_command(job, command)
    except (registry.JobError, OSError) as exc:
        return str(exc)
    return None
