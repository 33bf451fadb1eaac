"""Sweeps (tui_gan/sweeps): the grid from the command line, real sweeps whose cells are real
training jobs run through submitit's local executor, stopping with SIGTERM and resuming, and
`train --resume auto`, which a stopped or requeued cell relies on."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factories import SYNTHETIC_RUN, one_line_error
from waiting import wait_until

from tui_gan.cli import main
from tui_gan.jobs import registry
from tui_gan.sweeps.grid import folder_name, make_cells, split_options
from tui_gan.sweeps.state import Sweep
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.workspace.runs import scan_runs

pytestmark = pytest.mark.usefixtures("private_runtime")
TAKES_VALUE = {"--arch": True, "--lr": True, "--seed": True, "--conditional": False, "--run-dir": True}


def sweep_command(tmp_path: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "tui_gan", "sweep", *SYNTHETIC_RUN, "--runs-dir", str(tmp_path), *options]


def cell_states(folder: Path) -> list[str]:
    return [c.state for c in Sweep.load(folder).cells]


def test_commas_make_a_grid_and_seeds_repeat_each_config():
    fixed, swept = split_options(
        ["--arch", "mlp,dcgan", "--lr=2e-4,5e-4", "--conditional", "--seed", "3"], TAKES_VALUE
    )
    assert fixed == ["--conditional", "--seed", "3"]
    assert swept == {"--arch": ["mlp", "dcgan"], "--lr": ["2e-4", "5e-4"]}
    cells = make_cells(swept, [0, 1])
    assert len(cells) == 8 and [c.index for c in cells] == list(range(8))
    assert (cells[0].values, cells[0].seed) == ({"arch": "mlp", "lr": "2e-4"}, 0)
    assert (cells[7].values, cells[7].seed) == ({"arch": "dcgan", "lr": "5e-4"}, 1)
    assert cells[3].config_key == "arch=mlp lr=5e-4" and cells[3].folder == "003-mlp-5e-4-s1"
    assert folder_name(0, {"loss": "a b/c"}, 2) == "000-a_b_c-s2"  # no path or space in a folder name
    assert make_cells({}, [0])[0].config_key == "base"


def test_runs_at_once_go_k_per_gpu_or_share_the_cores():
    from tui_gan.sweeps.runner import slots

    assert [s["gpu"] for s in slots(2, gpus=3, cores=16)] == [0, 0, 1, 1, 2, 2]
    cpu = slots(3, gpus=0, cores=8)
    assert [s["env"]["OMP_NUM_THREADS"] for s in cpu] == ["2", "2", "2"] and cpu[0]["gpu"] is None
    assert slots(4, gpus=0, cores=2)[0]["env"]["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--run-dir", "x"], "set by the sweep"),
        (["--arch", "mlp,,dcgan"], "empty value"),
        (["--bogus", "1"], "not a train option"),
        (["--lr", "2e-4,fast"], "run lr=fast seed=0"),  # checked as train checks it, before anything runs
        (["--arch", "mlp,nope"], "nope"),
        (["--seed", "1,2", "--seeds", "2"], "not both"),
        (["--budget", "soon"], "--budget"),
        (["--parallel", "0"], "--parallel"),
        (["--arch", "progan", "--grow-images", "64,0"], "grow images must be"),
    ],
)
def test_bad_sweeps_are_one_line_errors_and_leave_nothing(tmp_path, capsys, options, says):
    code = main(["sweep", *SYNTHETIC_RUN, "--runs-dir", str(tmp_path), *options])
    assert says in one_line_error(capsys, code)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sweep_runs_every_cell_and_ranks_the_configs(tmp_path):
    """Two learning rates x two seeds, all at once, in the foreground (not a terminal)."""
    done = subprocess.run(
        sweep_command(tmp_path, "--lr", "1e-4,2e-4", "--seeds", "2", "--max-steps", "24", "--parallel", "4")
        + ["--name", "lr"],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "sweep-lr"
    sweep = Sweep.load(folder)
    assert [c.state for c in sweep.cells] == ["finished"] * 4 and sweep.seeds == [0, 1]
    assert "sweep done: 4 finished" in done.stdout
    for cell in sweep.cells:
        run = sweep.run_dir(cell)
        config = json.loads((run / "config.json").read_text())
        assert (config["lr"], config["seed"]) == (float(cell.values["lr"]), cell.seed)
        assert load_checkpoint(run / "checkpoints" / "simple" / "latest.pt")["step"] == 24
    with open(folder / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["config"], r["seed"], r["step"]) for r in rows] == [
        ("lr=1e-4", "0", "24"),
        ("lr=1e-4", "1", "24"),
        ("lr=2e-4", "0", "24"),
        ("lr=2e-4", "1", "24"),
    ]
    board = json.loads((folder / "results.json").read_text())["leaderboard"]
    assert [g["config"] for g in board] == ["lr=1e-4", "lr=2e-4"] and board[0]["runs"] == 2
    rows = scan_runs(tmp_path)  # the workspace lists the cells, grouped under their sweep
    assert len(rows) == 4 and {r.sweep for r in rows} == {"sweep-lr"}
    assert {r.name for r in rows} >= {"lr/lr=1e-4 seed=0", "lr/lr=2e-4 seed=1"}
    shown = subprocess.run(
        [sys.executable, "-m", "tui_gan", "sweep", "--show", str(folder)], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "lr=2e-4" in shown.stdout and "2 finished" in shown.stdout


@pytest.mark.slow
def test_resume_auto_starts_a_run_then_continues_it(tmp_path, capsys):
    run = tmp_path / "run"
    command = [
        "train",
        "--headless",
        *SYNTHETIC_RUN,
        "--run-dir",
        str(run),
        "--resume",
        "auto",
        "--max-steps",
        "8",
    ]
    assert main(command) == 0
    assert load_checkpoint(run / "checkpoints" / "simple" / "latest.pt")["step"] == 8
    assert main(command) == 0  # the same command again: it goes on from its checkpoint
    assert load_checkpoint(run / "checkpoints" / "simple" / "latest.pt")["step"] == 16
    for path in (run / "checkpoints").rglob("*.pt"):
        path.unlink()  # killed before its first checkpoint: nothing to continue, so it starts again
    assert main(command) == 0
    assert load_checkpoint(run / "checkpoints" / "simple" / "latest.pt")["step"] == 8
    assert "holds no checkpoint to continue from: starting it again" in capsys.readouterr().err
    code = main(["train", "--headless", *SYNTHETIC_RUN, "--resume", "auto"])
    assert "--resume auto needs --run-dir" in one_line_error(capsys, code)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_preempted_cell_checkpoints_is_requeued_and_continues(tmp_path):
    """submitit's preemption signal (what a scheduler's warning becomes in the cell's process,
    sent here once the run trains) reaches the training as SIGTERM; submitit runs the cell
    again, and it continues from its checkpoint to the end of its budget."""
    import psutil
    import submitit

    from tui_gan.sweeps.cell import TrainCell

    run = tmp_path / "run"
    argv = [
        "train",
        "--headless",
        *SYNTHETIC_RUN,
        "--run-dir",
        str(run),
        "--resume",
        "auto",
        "--max-time",
        "4s",
    ]
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(TrainCell(argv, {"OMP_NUM_THREADS": "1"}))
    metrics = run / "metrics.csv"
    wait_until(
        lambda: metrics.exists() and len(metrics.read_text().splitlines()) > 1, "the run to train", 120
    )
    first = registry.read_job(run).pid
    os.kill(psutil.Process(first).ppid(), signal.SIGUSR2)  # to the cell's process, as the scheduler would
    assert job.result() == 0
    log = "".join(p.read_text() for p in (tmp_path / "submitit").glob("*_log.*"))
    assert "SIGTERM: stopping at the next step with a final checkpoint" in log  # the first try, cut short
    assert "requeue" in log.lower()
    checkpoint = load_checkpoint(run / "checkpoints" / "simple" / "latest.pt")
    assert checkpoint["train_time"] >= 4.0 and registry.read_job(run).state == "max_time"
    assert registry.read_job(run).pid != first  # a second process went on in the same folder


async def test_the_workspace_on_a_sweep_folder_shows_its_leaderboard(tmp_path):
    from textual.widgets import Static

    from tui_gan.ui.app import WorkspaceApp
    from tui_gan.ui.widgets.leaderboard import Leaderboard
    from tui_gan.workspace.model import RunRow
    from tui_gan.workspace.runs import canonical

    cells = make_cells({"--lr": ["1e-4", "2e-4"]}, [0, 1])
    for cell, state in zip(cells, ("finished", "finished", "running", "pending")):
        cell.state = state
    sweep = Sweep(tmp_path, "lr", [], {"lr": ["1e-4", "2e-4"]}, [0, 1], 2, cells)
    sweep.save()
    best = {0: 40.0, 1: 50.0, 2: 30.0}  # the pending run has no folder yet
    rows = [
        RunRow(canonical(sweep.run_dir(c)), c.label, "simple", "", c.state, c.state == "running", best_fd=fd)
        for c, fd in ((cells[i], best[i]) for i in best)
    ]
    app = WorkspaceApp(tmp_path, scan=lambda root: rows, refresh_s=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        status = str(app.workspace.query_one("#ws-status", Static).render())
        assert "sweep lr: 4 runs, 2 finished, 1 pending, 1 running" in status
        board = app.workspace.query_one(Leaderboard)
        assert board.display
        text = "\n".join(
            strip.text for strip in board.render_lines(board.content_region.translate(-board.region.offset))
        )
        first, second = (line for line in text.splitlines() if "lr=" in line)
        assert "lr=2e-4" in first and "30.0" in first  # ranked by mean best FD: 30 against 45
        assert "lr=1e-4" in second and "45.0 ± 5.0" in second and "2 finished" in second


def test_a_search_space_from_choices_and_ranges():
    from tui_gan.sweeps.search import space

    fixed = ["--lr", "1e-4:1e-3", "--batch-size", "32:128", "--epochs", "3", "--data-dir", "a:b"]
    dims = {d.name: d for d in space(fixed, {"--loss": ["hinge", "lsgan"]})}
    assert fixed == ["--epochs", "3", "--data-dir", "a:b"]  # only numeric ranges are searched
    assert dims["loss"].choices == ("hinge", "lsgan")
    assert (dims["lr"].low, dims["lr"].high, dims["lr"].integer) == (1e-4, 1e-3, False)
    assert dims["lr"].distribution().log and dims["batch-size"].integer
    assert dims["batch-size"].ends() == ("32", "128")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--search", "tpe", "--lr", "1e-3:1e-4"], "no range"),
        (["--search", "tpe", "--epochs", "3"], "needs a space"),
        (["--search", "tpe", "--lr", "1e-4:1e-3", "--seeds", "2"], "--seeds is for grids"),
        (["--search", "tpe", "--lr", "1e-4:1e-3", "--trials", "0"], "--trials"),
        (["--search", "tpe", "--batch-size", "0:64"], "run batch-size=0"),  # each end checked as train does
    ],
)
def test_bad_searches_are_one_line_errors(tmp_path, capsys, options, says):
    base = ["sweep", "--dataset", "synthetic", "--arch", "simple", "--runs-dir", str(tmp_path)]
    assert says in one_line_error(capsys, main([*base, *options]))
    code = main([*base, "--search", "tpe", "--lr", "1e-4:1e-3", "--eval-every", "0"])
    assert "--eval-every cannot be 0" in one_line_error(capsys, code)


def test_a_run_that_lags_the_search_is_pruned(tmp_path, monkeypatch, classifier_cache):
    """Three finished trials reached FD 5 at every evaluation; a fresh run's first evaluation is
    far worse, so the pruner ends it, through the run's own report to its trial."""
    from factories import DIGITS, Recorder, tiny_config
    from optuna.distributions import FloatDistribution

    from tui_gan.sweeps.search import open_study, trial_env
    from tui_gan.training import events as ev
    from tui_gan.training.engine import Engine

    study = open_study(tmp_path, "lag", 0)
    for _ in range(3):
        trial = study.ask({"lr": FloatDistribution(1e-4, 1e-3, log=True)})
        for at in range(100):
            trial.report(5.0, at)
        study.tell(trial, 5.0)
    number = study.ask({"lr": FloatDistribution(1e-4, 1e-3, log=True)}).number
    monkeypatch.setenv(*trial_env(tmp_path, "lag", number).popitem())
    rec = Recorder()
    config = tiny_config(tmp_path, eval_every=0.3, eval_samples=200, epochs=1000)
    assert Engine(config, rec, dataset=DIGITS).run() == "pruned"
    assert any("pruned by the search" in n.message for n in rec.of(ev.Notice))
    reported = study.trials[number].intermediate_values
    assert reported and min(reported.values()) > 5.0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_search_asks_its_study_for_each_run_and_tells_it_how_each_ended(tmp_path):
    from tui_gan.data import load_dataset
    from tui_gan.quality import load_or_train
    from tui_gan.sweeps.search import open_study

    load_or_train(load_dataset("synthetic", synthetic_size=512))  # cached: every run evaluates at once

    base = [sys.executable, "-m", "tui_gan", "sweep", "--dataset", "synthetic", "--synthetic-size", "512"]
    done = subprocess.run(
        [*base, "--arch", "simple", "--batch-size", "32", "--lr", "1e-4:1e-3", "--loss", "hinge,lsgan"]
        + ["--search", "tpe", "--trials", "2", "--budget", "3s", "--eval-every", "1", "--parallel", "2"]
        + ["--runs-dir", str(tmp_path), "--name", "tpe"],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sweep = Sweep.load(tmp_path / "sweep-tpe")
    assert [c.extra["trial"] for c in sweep.cells] == [0, 1] and sweep.search["trials"] == 2
    trials = open_study(sweep.folder, "tpe", 0).trials
    with open(sweep.folder / "results.csv", newline="") as f:
        best = {r["run_dir"]: r["best_fd"] for r in csv.DictReader(f)}
    for cell, trial in zip(sweep.cells, trials):
        assert trial.state.name == "COMPLETE" and cell.state == "finished"
        assert trial.value == pytest.approx(float(best[str(sweep.run_dir(cell))]), rel=1e-3)
        assert trial.params["loss"] == cell.values["loss"] and trial.intermediate_values


def test_attach_takes_a_sweep_folder(tmp_path, capsys):
    """A sweep folder is not a run: attach opens its workspace (which needs a terminal)."""
    Sweep(tmp_path, "x", [], {}, [0], 1, make_cells({}, [0])).save()
    assert "attach needs a terminal" in one_line_error(capsys, main(["attach", str(tmp_path)]))
    assert "not a tui-gan run folder" in one_line_error(capsys, main(["attach", str(tmp_path / "nothing")]))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_sweep_outlives_its_coordinator_stops_with_checkpoints_and_resumes(tmp_path):
    """A detached sweep with a budget of training time. kill -9 of its coordinator: the runs are
    processes of their own and train on; `--resume` finds them training and watches them from
    their folders (no second job). SIGTERM to that coordinator stops them with final
    checkpoints; `--resume` again continues them in their folders to the same budget."""
    resume = [sys.executable, "-m", "tui_gan", "sweep", "--resume"]
    started = subprocess.run(
        # 12 s: a coordinator killed, a second one started and told to stop all fit in it on a busy
        # 2-core machine (6 s did not, once); 1,000 epochs, so the budget is what ends the runs
        sweep_command(tmp_path, "--lr", "1e-4,2e-4", "--budget", "12s", "--parallel", "2", "--name", "b")
        + ["--epochs", "1000", "--detach"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    folder = tmp_path / "sweep-b"

    def training() -> bool:
        return all(registry.classify(folder / c.folder).state == "running" for c in Sweep.load(folder).cells)

    wait_until(training, "both runs training", 120)
    pids = {c.folder: registry.read_job(folder / c.folder).pid for c in Sweep.load(folder).cells}
    first = Sweep.load(folder).coordinator["pid"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not registry.pid_alive(first), "the coordinator to die", 30)
    assert subprocess.run([*resume, str(folder), "--detach"], capture_output=True, timeout=60).returncode == 0
    log = folder / "sweep.log"
    wait_until(lambda: log.read_text().count("still training, watched from its folder") == 2, "adopted", 60)
    second = Sweep.load(folder).coordinator["pid"]
    os.kill(second, signal.SIGTERM)  # stops the runs it watches: no submitit job of its own for them
    wait_until(lambda: not registry.pid_alive(second), "the second coordinator to end", 120)
    sweep = Sweep.load(folder)
    assert [c.state for c in sweep.cells] == ["stopped", "stopped"], [c.detail for c in sweep.cells]
    stopped_at = {}
    for cell in sweep.cells:
        assert registry.read_job(sweep.run_dir(cell)).pid == pids[cell.folder]  # the first job throughout
        checkpoint = load_checkpoint(sweep.run_dir(cell) / "checkpoints" / "simple" / "latest.pt")
        assert 0 < checkpoint["train_time"] < 12.0  # stopped before its budget, its training kept
        stopped_at[cell.folder] = checkpoint["step"]
    assert "continue it: tui-gan sweep --resume" in log.read_text()

    resumed = subprocess.run([*resume, str(folder)], capture_output=True, text=True, timeout=200)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sweep = Sweep.load(folder)
    assert [c.state for c in sweep.cells] == ["finished", "finished"]
    for cell in sweep.cells:
        checkpoint = load_checkpoint(sweep.run_dir(cell) / "checkpoints" / "simple" / "latest.pt")
        assert checkpoint["train_time"] >= 12.0 and checkpoint["step"] > stopped_at[cell.folder]
        assert registry.read_job(sweep.run_dir(cell)).state == "max_time"


def test_one_coordinator_per_sweep(tmp_path, capsys):
    sweep = Sweep(tmp_path, "one", [], {}, [0], 1, make_cells({}, [0]))
    sweep.coordinator = {"pid": os.getppid(), "host": registry.HOST}  # a live process: not ours
    sweep.save()
    line = one_line_error(capsys, main(["sweep", "--resume", str(tmp_path), "--detach"]))
    assert f"already run by its coordinator (pid {os.getppid()})" in line
    sweep.coordinator = {"pid": 12345, "host": "node9"}
    sweep.save()
    assert "run by a coordinator on node9 (pid 12345): resume it there" in one_line_error(
        capsys, main(["sweep", "--resume", str(tmp_path), "--detach"])
    )
