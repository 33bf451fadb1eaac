"""The workspace screen (tui-gan runs) driven by keys, over a fixed list of runs: what the list
shows, how it sorts and filters, what the keys send to which runs, what asks first.

The rows come from a fixed scan so that the pictures and the orders are known; tests/
test_workspace_runs.py builds rows from real run folders and real jobs."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from factories import endless_config, write_finished_run
from waiting import wait_for

from tui_gan.jobs import registry
from tui_gan.training import commands as cmd
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.ui.app import WorkspaceApp
from tui_gan.ui.widgets.compare import CompareCharts, SampleStrip
from tui_gan.workspace.grids import step_after
from tui_gan.workspace.model import RunRow

STATES = ["running", "paused", "completed", "died", "damaged"]


def fixed_rows() -> list[RunRow]:
    return [
        RunRow(
            Path(f"/runs/20260101-12000{i}-{arch}"),
            f"{arch}-{i}",
            arch,
            "bce 2e-4 EMA",
            state,
            state in ("running", "paused"),
            step=1000 * i,
            epoch=i,
            epochs=20,
            images_per_s=5000.0 + i,
            d_loss=1.3,
            g_loss=0.8,
            fd=30.0 - i,
            fd_history=(50.0, 40.0, 35.0, 30.0 - i),
            best_fd=29.0 - i,
            classes=9,
            eta_s=120.0 * i,
            host="gpu01",
            device="cuda:0",
            viewers=1 if state in ("running", "paused") else None,
            problem="continue it with tui-gan train --resume /runs/x" if state == "died" else None,
        )
        for i, (state, arch) in enumerate(zip(STATES, ["mlp", "dcgan", "mlp", "simple", "dcgan"]))
    ]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, cmd.Command]] = []
        self.opened: list[str] = []

    def app(self, rows: list[RunRow] | None = None, read_only: bool = False) -> WorkspaceApp:
        rows = fixed_rows() if rows is None else rows
        return WorkspaceApp(
            Path("/runs"),
            scan=lambda root: rows,
            send=lambda row, command: self.sent.append((row.name, command)),
            opener=lambda row: self.opened.append(row.name),
            refresh_s=60,
            read_only=read_only,
        )


async def sent(app: WorkspaceApp) -> None:
    """Wait for the commands the keys sent (the scanning worker never completes)."""
    commands = [w for w in app.workers if w.group == "commands"]
    if commands:  # wait_for_complete([]) would wait for every worker
        await app.workers.wait_for_complete(commands)


def names(app: WorkspaceApp) -> list[str]:
    table = app.workspace.table
    return [table.rows_by_key[key].name for key in table._order]


async def test_list_sorts_filters_and_keeps_the_cursor_on_its_run():
    rec = Recorder()
    app = rec.app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert names(app) == ["dcgan-4", "simple-3", "mlp-2", "dcgan-1", "mlp-0"]  # FD, lowest first
        await pilot.press("down")  # simple-3, which died: the status line says how it continues
        assert "simple-3: continue it with tui-gan train --resume" in str(
            app.workspace.query_one("#ws-status").render()
        )
        await pilot.press("r")  # FD, highest first
        assert names(app)[0] == "mlp-0" and app.workspace.table.highlighted().name == "simple-3"
        await pilot.press("O")  # the previous sort column: State, live runs first
        assert app.workspace.table.sort_column == "state" and names(app)[:2] == ["dcgan-1", "mlp-0"]
        await pilot.press("slash", "d", "c")
        await pilot.pause()
        assert names(app) == ["dcgan-1", "dcgan-4"]
        assert "filter 'dc': 2 shown" in str(app.workspace.query_one("#ws-status").render())
        await pilot.press("escape")
        assert len(names(app)) == 5


async def test_keys_act_on_the_selected_live_runs_and_stop_asks_first():
    rec = Recorder()
    app = rec.app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("O")  # by state: dcgan-1 (paused), mlp-0 (running), then the rest
        await pilot.press(*["up"] * 5)  # the cursor kept its run (dcgan-4): back to the top
        await pilot.press("space", "down", "space", "down", "space")  # both live runs and a finished one
        await pilot.press("p")
        await sent(app)
        await pilot.press("c")
        await sent(app)
        await pilot.press("e")
        await sent(app)
        assert rec.sent == [
            ("dcgan-1", cmd.Resume()),  # paused: p resumes it
            ("mlp-0", cmd.Pause()),
            ("dcgan-1", cmd.SaveCheckpoint()),
            ("mlp-0", cmd.SaveCheckpoint()),
            ("dcgan-1", cmd.EvaluateNow()),
            ("mlp-0", cmd.EvaluateNow()),
        ]  # the finished run got nothing, and a notice said why
        rec.sent.clear()
        await pilot.press("x")
        await pilot.pause()
        assert rec.sent == []  # asked first
        await pilot.press("n")
        await pilot.press("x", "y")
        await sent(app)
        assert rec.sent == [("dcgan-1", cmd.Stop(checkpoint=True)), ("mlp-0", cmd.Stop(checkpoint=True))]


async def test_a_read_only_workspace_compares_and_opens_but_changes_no_run():
    rec = Recorder()
    app = rec.app(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("O", *["up"] * 5, "space", "down", "space")  # both live runs selected
        await pilot.press("p", "c", "e", "x", "delete")
        await pilot.pause()
        await sent(app)
        assert rec.sent == [] and len(app.screen_stack) == 1  # no command, no stop dialog
        assert len(app.workspace.table.selected) == 2  # comparing still works
        await pilot.press("enter")
        assert rec.opened == ["mlp-0"]


async def test_enter_opens_the_highlighted_run_and_delete_refuses_a_live_one(tmp_path):
    rec = Recorder()
    finished = tmp_path / "20260101-120000-mlp"
    (finished / "checkpoints").mkdir(parents=True)
    rows = fixed_rows()
    rows[2] = RunRow(finished, "old", "mlp", "bce", "completed", False, fd=1.0)  # first by FD
    app = rec.app(rows)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        assert rec.opened == ["old"]
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not finished.exists()
        await pilot.press("O", *["up"] * 5, "delete")  # by state: a live run first
        await pilot.pause()
        assert not isinstance(app.screen, type(app.workspace)) or app.screen is app.workspace
        assert any("stop it first" in str(n.message) for n in app._notifications)


SNAPSHOT_RUNS = Path("/tmp/tui-gan-workspace-snapshot")  # fixed: a run's colour comes from its path


def snapshot_runs() -> Path:
    """Three finished runs compared: the README's screenshot."""
    shutil.rmtree(SNAPSHOT_RUNS, ignore_errors=True)
    write_finished_run(
        SNAPSHOT_RUNS / "20260101-120000-mlp", "mlp", seed=1, fd_start=60, fd_end=9, name="mlp-seed"
    )
    write_finished_run(
        SNAPSHOT_RUNS / "20260101-120100-dcgan",
        "dcgan",
        seed=2,
        fd_start=45,
        fd_end=4,
        recipe="seed",
        name="dcgan",
    )
    write_finished_run(
        SNAPSHOT_RUNS / "20260101-120200-simple",
        "simple",
        seed=3,
        fd_start=80,
        fd_end=30,
        loss="hinge",
        lr=5e-4,
    )
    return SNAPSHOT_RUNS


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_workspace_snapshot(snap_compare, size):
    from tui_gan.workspace.runs import scan_runs

    root = snapshot_runs()
    app = WorkspaceApp(
        root, scan=lambda r: [row for row in scan_runs(r) if row.run_dir.parent == root], refresh_s=60
    )

    async def select_all(pilot):
        await pilot.pause()
        await pilot.press("space", "down", "space", "down", "space")
        charts = app.workspace.query_one(CompareCharts)
        await wait_for(pilot, lambda: len(charts.series) == 3, "the three runs compared")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=select_all)


# --- real jobs ---------------------------------------------------------------------------------
@pytest.fixture
def two_jobs(tmp_path, jobs):
    """Two detached endless jobs, killed at the end if still alive."""
    return [jobs(endless_config(tmp_path, name=name)) for name in ("first", "second")]


def row_named(app: WorkspaceApp, name: str) -> RunRow | None:
    return next((r for r in app.workspace.rows if r.name == name), None)


async def highlight(pilot, app: WorkspaceApp, name: str) -> None:
    table = app.workspace.table
    key = next(key for key, row in table.rows_by_key.items() if row.name == name)
    while table._order[table.cursor_row] != key:
        await pilot.press("down" if table._order.index(key) > table.cursor_row else "up")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_two_real_jobs_paused_and_stopped_from_the_workspace(tmp_path, two_jobs):
    from tui_gan.workspace.runs import scan_runs

    root = tmp_path / "runs"
    mine = root.resolve()
    app = WorkspaceApp(
        root, scan=lambda r: [row for row in scan_runs(r) if row.run_dir.parent == mine], refresh_s=0.3
    )

    def both() -> bool:
        return all((r := row_named(app, n)) and r.live and r.step > 0 for n in ("first", "second"))

    def second_stopped() -> bool:
        return (r := row_named(app, "second")) is not None and not r.live and r.state == "stopped"

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, both, "both jobs listed live and training", 90)
        await highlight(pilot, app, "first")
        await pilot.press("p")
        await wait_for(pilot, lambda: row_named(app, "first").state == "paused", "first paused", 30)
        paused_at = row_named(app, "first").step
        await highlight(pilot, app, "second")
        await pilot.press("x", "y")
        await wait_for(pilot, second_stopped, "second stopped", 90)
        assert row_named(app, "first").state == "paused" and row_named(app, "first").step == paused_at
        await highlight(pilot, app, "first")
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: row_named(app, "first").state == "stopped", "first stopped", 90)
    for info in two_jobs:
        os.waitpid(info.pid, 0)  # each job ends after its final checkpoint
        job = registry.read_job(info.run_dir)
        checkpoint = load_checkpoint(info.run_dir / "checkpoints" / "simple" / "latest.pt")
        assert job.state == "stopped" and checkpoint["step"] == job.step > 0
    assert load_checkpoint(two_jobs[0].run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == paused_at


async def test_a_column_widens_when_its_figures_grow():
    rows = fixed_rows()
    current = [rows]
    app = WorkspaceApp(Path("/runs"), scan=lambda root: current[0], send=lambda r, c: None, refresh_s=60)
    async with app.run_test(size=(200, 30)) as pilot:
        await pilot.pause()
        current[0] = [replace(row, step=1_234_567 + i) for i, row in enumerate(rows)]  # same rows, order
        app.workspace._rescan.set()
        await wait_for(
            pilot, lambda: app.workspace.rows and app.workspace.rows[0].step > 1_000_000, "the next scan"
        )
        await pilot.pause()
        assert app.workspace.table.columns["step"].content_width >= len("1,234,567")


def test_step_after_moves_through_the_kept_steps_and_back_to_the_newest():
    steps = [100, 200, 400]
    assert step_after(steps, None, -1) == 400 and step_after(steps, None, 1) is None
    assert step_after(steps, 400, -1) == 200 and step_after(steps, 100, -1) == 100
    assert step_after(steps, 250, -1) == 100  # from between kept steps: the one before the one at or before
    assert step_after(steps, 400, 1) is None and step_after([], None, -1) is None


async def test_compared_grids_at_a_common_step(tmp_path):
    from tui_gan.data.synthetic import make_synthetic_digits
    from tui_gan.jobs.runfiles import SampleStore
    from tui_gan.training import events as ev
    from tui_gan.workspace.runs import scan_runs

    root = tmp_path / "runs"
    for i, arch in enumerate(("mlp", "simple")):
        run = write_finished_run(root / f"2026010{i}-{arch}", arch, seed=i, fd_start=50, fd_end=10)
        for step in (2000, 4000, 6000):  # in order, as a job keeps them
            SampleStore(run).add(
                ev.Samples(arch, step=step, images=make_synthetic_digits(16, seed=step)[0].numpy())
            )
    app = WorkspaceApp(
        root, scan=lambda r: [row for row in scan_runs(r) if row.run_dir.parent == root], refresh_s=60
    )
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: len(app.workspace.rows) == 2, "the runs")
        await pilot.press("space", "down", "space")
        strip = app.workspace.query_one(SampleStrip)
        await wait_for(
            pilot,
            lambda: [r.step for r in strip.runs] == [6000, 6000],
            lambda: f"the newest grids: {strip.runs}",
        )
        await pilot.press("left_square_bracket", "left_square_bracket")  # 6000, then 4000
        await wait_for(pilot, lambda: [r.step for r in strip.runs] == [4000, 4000], "the grids at step 4,000")
        assert "grids at step 4,000" in str(app.workspace.query_one("#ws-status").render())
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: [r.step for r in strip.runs] == [6000, 6000], "the newest again")
        assert app.workspace.grid_step is None


async def test_a_run_seen_training_rings_once_when_it_ends(monkeypatch):
    """Between two scans one run finishes, one dies and one is stopped by its user: the first two
    ring the terminal (notify.py), once each; the stop and the runs already over stay quiet."""
    ended = {"mlp-0": "completed", "dcgan-1": "stopped", "mlp-2": "died"}
    first = [replace(r, state="running", live=True) if r.name == "mlp-2" else r for r in fixed_rows()]
    later = [replace(r, state=ended.get(r.name, r.state), live=False) for r in first]
    scans = iter([first, first])
    app = WorkspaceApp(Path("/runs"), scan=lambda root: next(scans, later), refresh_s=60)
    rang = []
    monkeypatch.setattr(app, "ring", lambda happened, name="": rang.append((happened.kind, happened.message)))
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(4):  # first, first again, later, later again
            await pilot.pause(0.1)
            app.workspace._rescan.set()
        await wait_for(pilot, lambda: len(rang) == 2, "the rings")
        app.workspace._rescan.set()  # the same rows once more: no second ring
        await pilot.pause(0.3)
        assert sorted(rang) == [
            ("died", "mlp-2 died at step 2,000"),
            ("finished", "mlp-0 completed at step 0"),
        ]
