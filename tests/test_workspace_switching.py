"""Moving between the workspace and runs' dashboards in one App, with real training jobs: a run
opened from the workspace stays attached when escape goes back, so opening it again is instant
(the same screen, no new connection); `w` and `q` find the way back; q in a run stops it."""

from __future__ import annotations

import pytest
from factories import endless_config
from pilot import exited, press, running
from test_jobs import status_step, wait_step
from waiting import process_alive, wait_for

from tui_gan.jobs import registry
from tui_gan.jobs.client import query_status
from tui_gan.ui.app import TuiGanApp, WorkspaceApp
from tui_gan.ui.engine_link import job_engine_factory
from tui_gan.ui.screens.run import RunScreen
from tui_gan.ui.screens.workspace import WorkspaceScreen

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("private_runtime"), pytest.mark.timeout(240)]


def viewers(info: registry.JobInfo) -> int:
    return query_status(info)["viewers"]


async def open_run(pilot, app, name: str) -> RunScreen:
    """Enter on the row of the run called `name`; its dashboard once it shows the job's step."""
    workspace = app.screen
    assert isinstance(workspace, WorkspaceScreen)
    await wait_for(pilot, lambda: name in [r.name for r in workspace.rows], f"{name} in the list")
    table = workspace.table
    key = next(key for key, row in table.rows_by_key.items() if row.name == name)
    while table._order[table.cursor_row] != key:
        await pilot.press("down" if table._order.index(key) > table.cursor_row else "up")
    await press(pilot, "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), f"{name}'s dashboard")
    run = app.screen
    await wait_for(pilot, lambda: run.status_bar.info.step > 0, f"{name}'s step")
    return run


async def test_runs_stay_attached_behind_the_workspace(tmp_path, jobs, cpu_monitor):
    a = jobs(endless_config(tmp_path, name="alpha"))
    b = jobs(endless_config(tmp_path, name="beta"))
    wait_step(a, 4)
    wait_step(b, 4)
    app = WorkspaceApp(tmp_path / "runs", monitor_factory=cpu_monitor, refresh_s=0.5)
    async with running(app) as pilot:
        first = await open_run(pilot, app, "alpha")
        assert first.run_dir == str(a.run_dir) and viewers(a) == 1
        await press(pilot, "escape")  # back to the list; alpha's connection stays
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen), "the workspace again")
        seen = first.status_bar.info.step
        await wait_for(pilot, lambda: first.status_bar.info.step > seen, "alpha's events, still arriving")
        assert viewers(a) == 1

        other = await open_run(pilot, app, "beta")
        assert other is not first and viewers(b) == 1
        await press(pilot, "w")  # w in a dashboard opened from the workspace: back to it
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen), "the workspace via w")

        again = await open_run(pilot, app, "alpha")
        assert again is first and viewers(a) == 1  # the same screen: no new attach

        await press(pilot, "q")  # q in a run stops it, and the workspace shows again
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen), "back after stopping")
        await wait_for(pilot, lambda: not process_alive(a.pid), "alpha's job to end", 60)
        assert registry.classify(a.run_dir).state == "stopped"
        await press(pilot, "q")
        await wait_for(pilot, lambda: exited(app), "the App to end")
    assert registry.pid_alive(b.pid) and status_step(b) > 4  # leaving the workspace stops nothing
    assert viewers(b) == 0  # its kept dashboard detached when the App ended


async def test_the_workspace_from_a_dashboard_and_back(tmp_path, jobs, cpu_monitor):
    """`w` over a dashboard, Enter on that same run comes back to it; q in the workspace too."""
    info = jobs(endless_config(tmp_path, name="solo"))
    wait_step(info, 4)
    app = TuiGanApp(
        endless_config(tmp_path), engine_factory=job_engine_factory(attach=info), monitor_factory=cpu_monitor
    )
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.dashboard.status_bar.info.step > 0, "the dashboard")
        await press(pilot, "w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen), "the workspace")
        again = await open_run(pilot, app, "solo")
        assert again is app.dashboard and viewers(info) == 1
        await press(pilot, "w")
        await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen), "the workspace again")
        assert app.screen.check_action("back", ()) and not app.screen.check_action("quit", ())  # footer: Back
        await press(pilot, "q")
        await wait_for(pilot, lambda: app.screen is app.dashboard, "the dashboard after q")
        await press(pilot, "d")
        await wait_for(pilot, lambda: exited(app), "detached")
    assert registry.pid_alive(info.pid) and app.dashboard.detached
