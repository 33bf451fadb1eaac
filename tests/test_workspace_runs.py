"""The workspace's data (tui_gan/workspace/runs.py) and the shell commands on it: rows of real
finished runs, of damaged folders and of a live job, the compare charts' series, `ls --json`,
and `pause` / `resume` / `stop` of a real detached job."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from factories import SYNTHETIC_RUN, endless_config, one_line_error
from test_logs import RATE, simulate
from waiting import wait_until

from tui_gan.cli import main
from tui_gan.history import StepHistory
from tui_gan.jobs import registry
from tui_gan.jobs.client import query_status
from tui_gan.quality.report import QualityReport
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.rundir import RunDir
from tui_gan.training.summary import SUMMARY_FILE
from tui_gan.workspace import runs as ws
from tui_gan.workspace.runs import plain, read_row, read_series, scan_runs

pytestmark = pytest.mark.usefixtures("private_runtime")


def report(fd: float, classes: int = 10) -> QualityReport:
    return QualityReport(1000, (0.1,) * 10, classes, 0.01, 0.9, 8.5, fd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Two tiny runs trained to their end by the command line (32 steps each); the first gets
    three quality rows as an evaluating run writes them (no classifier to train here)."""
    root = tmp_path_factory.mktemp("trained") / "runs"
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUI_GAN_RUNTIME_DIR", str(root.parent / "rt"))
        patch.setenv("TUI_GAN_DATA", str(root.parent / "data"))
        for key, options in (
            ("hinge", ["--name", "baseline", "--loss", "hinge", "--lr", "2e-4", "--ema", "0.999"]),
            ("seed", ["--recipe", "seed", "--conditional"]),
        ):
            before = set(root.iterdir()) if root.exists() else set()
            args = ["train", "--headless", *SYNTHETIC_RUN, "--epochs", "2", "--runs-dir", str(root), *options]
            assert main(args) == 0
            (runs[key],) = set(root.iterdir()) - before
            time.sleep(0.05)  # distinct end times: newest first is an order
    writer = RunDir.open(runs["hinge"])
    for step, fd, classes in ((8, 50.0, 6), (16, 30.0, 9), (32, 40.0, 10)):
        writer.append_quality("simple", step, step // 16, report(fd, classes), 13.6)
    return runs


def copy_runs(trained: dict[str, Path], root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    return {key: Path(shutil.copytree(run, root / run.name)) for key, run in trained.items()}


def last_metrics_row(run: Path) -> dict:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))[-1]


# --- finished runs ---------------------------------------------------------------------------------
def test_finished_runs_are_read_from_their_files(trained, tmp_path):
    runs = copy_runs(trained, tmp_path / "runs")
    rows = scan_runs(tmp_path / "runs")
    assert [row.run_dir for row in rows] == [runs["seed"], runs["hinge"]]  # newest first
    hinge, seed = rows[1], rows[0]
    last = last_metrics_row(runs["hinge"])
    assert (hinge.name, hinge.arch, hinge.recipe) == ("baseline", "simple", "hinge 2e-4 EMA aug")
    assert (hinge.state, hinge.live, hinge.problem) == ("completed", False, None)
    assert (hinge.step, hinge.epoch, hinge.epochs) == (32, 2, 2)
    # the last step's losses (a row holds its interval's means, and the last step's values)
    assert hinge.d_loss == pytest.approx(float(last["d_loss_last"] or last["d_loss"]))
    assert hinge.g_loss == pytest.approx(float(last["g_loss_last"] or last["g_loss"]))
    assert hinge.images_per_s == pytest.approx(float(last["images_per_s"]), abs=0.05)  # the csv: .1f
    assert hinge.images_per_s > 0
    assert (hinge.fd, hinge.fd_history, hinge.best_fd, hinge.classes) == (40.0, (50.0, 30.0, 40.0), 30.0, 10)
    assert (hinge.device, hinge.host, hinge.viewers, hinge.eta_s) == ("cpu", "", None, None)
    assert hinge.sweep is None
    assert hinge.config["loss"] == "hinge" and hinge.when > 0
    assert (seed.name, seed.recipe) == (runs["seed"].name, "bce 2e-4 cond")
    assert (seed.fd, seed.fd_history) == (None, ())
    assert read_row(runs["hinge"]) == hinge
    assert json.loads(runs["hinge"].joinpath("config.json").read_text())["name"] == "baseline"


def test_sweep_folders_group_their_runs_and_each_run_shows_once(trained, tmp_path):
    root = tmp_path / "runs"
    runs = copy_runs(trained, root)
    sweep = root / "lr-sweep"
    (sweep / "notes").mkdir(parents=True)  # a folder in a sweep that is no run
    (sweep / "sweep.json").write_text("{}")
    inner = Path(shutil.copytree(runs["seed"], sweep / "lr-1e-4"))
    (root / "not-a-run").mkdir()
    rows = scan_runs(root)
    assert sorted(str(row.run_dir) for row in rows) == sorted(map(str, [*runs.values(), inner]))
    assert {row.run_dir: row.sweep for row in rows}[inner] == "lr-sweep"
    relative = scan_runs(Path(os.path.relpath(root)))  # the same runs, the same paths and colours
    assert [(r.run_dir, r.colour) for r in relative] == [(r.run_dir, r.colour) for r in rows]


def test_reading_runs_imports_no_torch(trained):
    """The workspace's process never imports torch: rows, series and `ls` read files and sockets."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from tui_gan.cli import main; "
        "from tui_gan.workspace.runs import read_series, scan_runs; "
        f"root = Path({str(trained['hinge'].parent)!r}); rows = scan_runs(root); "
        "assert len(rows) == 2 and all(read_series(r.run_dir).loss_step for r in rows); "
        "main(['ls', '--runs-dir', str(root), '--json']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_ls_json_has_the_rows_fields(trained, tmp_path, capsys):
    runs = copy_runs(trained, tmp_path / "runs")
    (runs["seed"] / "config.json").write_text("{garbage")
    assert main(["ls", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["run_dir"] for o in objects] == [str(runs["seed"]), str(runs["hinge"])]
    hinge = objects[1]
    assert set(hinge) >= {"name", "arch", "recipe", "state", "step", "fd", "fd_history", "colour", "problem"}
    assert (hinge["name"], hinge["step"], hinge["fd_history"]) == ("baseline", 32, [50, 30, 40])
    assert objects[0]["state"] == "damaged" and objects[0]["problem"] == "config.json is not JSON"
    assert main(["ls", "--runs-dir", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "no live training jobs" in table and f"  {runs['seed']}: config.json is not JSON" in table


# --- the compare charts' series ------------------------------------------------------------------
def test_series_of_a_real_run_put_each_evaluation_on_the_training_clock(trained):
    run = trained["hinge"]
    series = read_series(run)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    steps, times = [int(r["step"]) for r in rows], [float(r["time_s"]) for r in rows]
    assert series.name == "baseline" and series.colour == read_row(run).colour
    assert series.fd_step == (8, 16, 32) and series.fd == (50.0, 30.0, 40.0)
    # metrics.csv's clock (a row per 0.1 s of training; .3f there), between its rows, 0 s at step 0
    assert series.fd_time == pytest.approx(np.interp([8, 16, 32], [0, *steps], [0, *times]), abs=1e-3)
    assert series.fd_time[-1] == pytest.approx(times[-1], abs=1e-3) and steps[-1] == 32
    assert series.loss_step == tuple(float(s) for s in range(1, 33))
    assert series.rate_step == tuple(float(s) for s in steps)
    assert series.images_per_s == pytest.approx([float(r["images_per_s"]) for r in rows], abs=0.05)


def test_series_stay_bounded_and_the_clock_survives_the_digest(tmp_path):
    """A long run's files as a job writes them (100,000 steps at RATE/s, an evaluation every
    30 s): a few thousand points, FD on the training clock, with or without summary.npz."""
    run = RunDir.open(tmp_path / "long")
    run.write_config({"arch": "mlp", "epochs": 100})
    outputs, history = RunOutputs(run), StepHistory()
    for start in range(1, 100_001, 15_000):
        steps = min(15_000, 100_001 - start)
        simulate(outputs, "mlp", history, start, steps)
        outputs.quality("mlp", start + steps - 1, 0, report(100.0 / start), 13.6)
    outputs.close()
    for digest in (True, False):
        if not digest:
            (run.path / SUMMARY_FILE).unlink()
        series = read_series(run.path)
        assert 1000 < len(series.loss_step) <= 2048 and 1000 < len(series.rate_step) <= 2048
        assert len(series.fd) == 7 and series.fd_step[-1] == 100_000
        assert series.fd_time == pytest.approx([s / RATE for s in series.fd_step], rel=1e-3)
        assert set(series.images_per_s) == {64_000.0}
    assert read_row(run.path).step == 100_000


# --- damaged folders -----------------------------------------------------------------------------
def damage(runs: dict[str, Path], root: Path) -> dict[str, Path]:
    """Copies of a finished run, each damaged another way."""
    good = runs["hinge"]
    made = {}

    def copy(name: str) -> Path:
        made[name] = Path(shutil.copytree(good, root / name))
        return made[name]

    (copy("garbage-config") / "config.json").write_bytes(b"\x00\xffnot json")
    (copy("list-config") / "config.json").write_text("[1, 2]")
    torn = copy("torn-metrics")  # a line cut short, then rows after it: not what a kill leaves
    with open(torn / "metrics.csv", "a") as f:
        f.write("simple,33,2,0.5\nsimple,34,2,0.5,0.5,0.5,0.5,900,9.0\n")
    killed = copy("killed-mid-row")  # only the last line cut short: as a kill -9 leaves it
    with open(killed / "metrics.csv", "a") as f:
        f.write("simple,34,2,0.5,0.5,0.5,0.5,900,9.0,1\nsimple,35,2,0.5,0.")
    (copy("bad-header") / "metrics.csv").write_text("what,is,this\n1,2,3\n")
    (copy("bad-quality") / "quality.csv").write_text("\x00\x01\x02 binary junk\n")
    (copy("torn-digest") / SUMMARY_FILE).write_bytes(b"PK\x03\x04 torn")
    config_dir = copy("config-is-a-folder")
    (config_dir / "config.json").unlink()
    (config_dir / "config.json").mkdir()
    made["unreadable"] = root / "unreadable"
    shutil.copytree(good, made["unreadable"])
    return made


def test_damaged_folders_are_rows_that_say_what_is_wrong(trained, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    made = damage(trained, root)
    made["unreadable"].chmod(0)
    if os.access(made["unreadable"], os.R_OK):  # root: permissions do not bind; fail as they would
        listdir = os.listdir

        def refuse(path):
            if Path(path) == made["unreadable"]:
                raise PermissionError(13, "Permission denied", str(path))
            return listdir(path)

        monkeypatch.setattr(os, "listdir", refuse)
    try:
        rows = {row.run_dir.name: row for row in scan_runs(root)}
    finally:
        made["unreadable"].chmod(0o700)
    assert set(rows) == set(made)
    expected = {
        "garbage-config": "config.json is not JSON",
        "list-config": "config.json holds no settings",
        "torn-metrics": "metrics.csv: 1 unreadable row",
        "bad-header": "metrics.csv: not the file tui-gan writes (unknown header)",
        "bad-quality": "quality.csv: not the file tui-gan writes (unknown header)",
        "config-is-a-folder": "config.json: Is a directory",
        "unreadable": "cannot read the folder: Permission denied",
    }
    for name, problem in expected.items():
        assert (rows[name].state, rows[name].problem, rows[name].live) == ("damaged", problem, False), name
    assert rows["torn-metrics"].step == 34  # what it could read, it shows
    killed, digest = rows["killed-mid-row"], rows["torn-digest"]
    assert (killed.state, killed.problem, killed.step) == ("completed", None, 34)
    assert (digest.state, digest.problem, digest.step, digest.fd) == ("completed", None, 32, 40.0)
    series = read_series(made["bad-header"])  # the charts get what there is
    assert series.loss_step == () and series.fd == (50.0, 30.0, 40.0)
    assert read_series(tmp_path / "nowhere").fd == ()


def test_a_digest_spares_the_rows_it_holds(trained, tmp_path):
    """Rows before summary.npz's offset are not read: scrambled there, the row does not notice."""
    (run,) = copy_runs({"hinge": trained["hinge"]}, tmp_path / "runs").values()
    lines = (run / "metrics.csv").read_bytes().splitlines(keepends=True)
    lines[1:-1] = [b"?" * (len(line) - 1) + b"\n" for line in lines[1:-1]]
    (run / "metrics.csv").write_bytes(b"".join(lines))
    scrambled = len(lines) - 2
    row = read_row(run)
    assert scrambled >= 1 and (row.state, row.problem, row.step) == ("completed", None, 32)
    (run / SUMMARY_FILE).unlink()  # read whole, as an older run is: the damage shows
    row = read_row(run)
    assert (row.state, row.step) == ("damaged", 32)
    assert row.problem.startswith(f"metrics.csv: {scrambled} unreadable row")


def test_a_job_that_does_not_answer_is_damaged(tmp_path, monkeypatch, capsys):
    """Its process lives (this one) and its socket takes connections, but it never answers."""
    import psutil

    monkeypatch.setattr(ws, "STATUS_TIMEOUT_S", 0.3)
    run = tmp_path / "runs" / "hung"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "dcgan", "epochs": 5}))
    sock_path = run / "job.sock"
    info = registry.JobInfo(run, os.getpid(), sock_path, "running", "dcgan", psutil.Process().create_time())
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        listener.listen()
        registry.write_job(info)
        registry.register(info)
        (row,) = scan_runs(tmp_path / "runs")
        assert (row.state, row.live, row.pid, row.arch) == ("damaged", False, os.getpid(), "dcgan")
        assert row.problem == f"its job (pid {os.getpid()}) does not answer on {sock_path}"
        assert main(["ls", "--runs-dir", str(tmp_path / "runs")]) == 0
        live = capsys.readouterr().out.split("recent runs")[0]
        assert f"{run}  dcgan  damaged" in live


# --- a live job, and the shell's commands to it ----------------------------------------------------
@pytest.fixture
def job(tmp_path, jobs):
    """A detached endless job (as `train --detach` starts one), killed at the end if still alive."""
    return jobs(endless_config(tmp_path, name="live-one"))


def live_row(tmp_path):
    rows = [row for row in scan_runs(tmp_path / "runs") if row.live]
    assert len(scan_runs(tmp_path / "runs")) == 1  # its folder is under --runs-dir too: shown once
    return rows[0]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_live_job_is_listed_paused_resumed_and_stopped_from_the_shell(tmp_path, job, capsys, monkeypatch):
    runs = str(tmp_path / "runs")
    wait_until(lambda: (query_status(job) or {}).get("step", 0) >= 3, "a few steps", 60, interval=0.1)
    row = live_row(tmp_path)
    assert (row.name, row.arch, row.state, row.live) == ("live-one", "simple", "running", True)
    assert row.pid == job.pid
    assert row.step >= 3 and row.epochs == 1000 and row.epoch >= 1 and row.images_per_s > 0
    assert row.eta_s > 0 and row.d_loss is not None and row.viewers == 0
    assert (row.host, row.device) == (socket.gethostname(), "cpu")

    assert main(["pause", "live-one", "--runs-dir", runs]) == 0  # by its --name
    assert capsys.readouterr().out.startswith(f"paused: {job.run_dir} at step ")
    assert query_status(job)["state"] == "paused"
    paused = live_row(tmp_path)
    time.sleep(0.5)
    assert (paused.state, live_row(tmp_path).step) == ("paused", paused.step)

    os.kill(job.pid, signal.SIGSTOP)  # a job that stops answering
    monkeypatch.setattr(ws, "STATUS_TIMEOUT_S", 0.5)
    try:
        (hung,) = scan_runs(tmp_path / "runs")
        assert (hung.state, hung.live) == ("damaged", False) and "does not answer" in hung.problem
    finally:
        os.kill(job.pid, signal.SIGCONT)

    assert main(["resume", str(job.run_dir)]) == 0
    assert capsys.readouterr().out.startswith(f"running: {job.run_dir}")
    wait_until(lambda: live_row(tmp_path).step > paused.step, "steps after the resume", 30, interval=0.1)

    assert main(["ls", "--runs-dir", runs, "--json"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["state"], listed["live"], listed["pid"]) == ("running", True, job.pid)

    assert main(["stop", str(job.run_dir / "checkpoints")]) == 0  # a path inside the run folder
    out = capsys.readouterr().out
    ended = registry.read_job(job.run_dir)
    assert (ended.state, ended.exit_code) == ("stopped", 0)
    latest = job.run_dir / "checkpoints" / "simple" / "latest.pt"
    assert load_checkpoint(latest)["step"] == ended.step > paused.step
    assert out.strip() == f"stopped: {job.run_dir} at step {ended.step:,}; its last checkpoint: {latest}"
    (row,) = scan_runs(tmp_path / "runs")
    assert (row.state, row.live, row.step) == ("stopped", False, ended.step)

    for command in ("pause", "resume", "stop"):
        line = one_line_error(capsys, main([command, str(job.run_dir)]))
        assert f"{job.run_dir} is not live (its job ended: stopped): nothing to {command}" in line


def test_commands_to_runs_that_are_not_live_fail_in_one_line(trained, tmp_path, capsys):
    runs = copy_runs(trained, tmp_path / "runs")
    line = one_line_error(capsys, main(["pause", str(runs["hinge"])]))
    assert line.endswith(f"to train it on: tui-gan train --resume {runs['hinge']}")
    line = one_line_error(capsys, main(["stop", runs["seed"].name, "--runs-dir", str(tmp_path / "runs")]))
    assert f"{runs['seed']} is not live" in line
    assert "not a tui-gan run folder" in one_line_error(capsys, main(["resume", "nothing-by-that-name"]))
    died = registry.JobInfo(runs["seed"], 2**22 + 7, runs["seed"] / "job.sock", "running", "simple", 1.0)
    registry.write_job(died)  # job.json says running, but no such process: died
    line = one_line_error(capsys, main(["stop", str(runs["seed"])]))
    assert " died " in line and line.endswith(f"tui-gan train --resume {runs['seed']}")
    (row,) = [r for r in scan_runs(tmp_path / "runs") if r.run_dir == runs["seed"]]
    resume = f"tui-gan train --resume {runs['seed']}"
    assert row.state == "died" and row.problem.endswith(f"continue it with {resume}")
    assert row.pid == died.pid


def test_a_run_of_another_machine_is_read_from_its_files_and_named_with_its_host(trained, tmp_path, capsys):
    """A shared filesystem: job.json says a job runs on node07. It is listed from its files
    (running while it writes them, silent after), and whatever needs its job says where to go."""
    runs = copy_runs(trained, tmp_path / "runs")
    run = runs["hinge"]
    far = registry.JobInfo(run, 4242, run / "job.sock", "running", "simple", time.time(), host="node07-x")
    registry.write_job(far)
    (row,) = [r for r in scan_runs(tmp_path / "runs") if r.run_dir == run]
    assert (row.state, row.live, row.host, row.pid) == ("running", False, "node07-x", 4242)
    assert row.problem.startswith("trains on node07-x") and row.fd == 40.0  # its figures, from its files
    line = one_line_error(capsys, main(["attach", str(run)]))
    assert "trains on node07-x" in line and line.endswith(f"ssh node07-x and run: tui-gan attach {run}")
    assert "ssh node07-x to stop it there" in one_line_error(capsys, main(["stop", str(run)]))
    line = one_line_error(capsys, main(["train", "--headless", "--resume", str(run)]))
    assert "in use by a job on node07-x" in line  # never two jobs in one folder
    hour_ago = time.time() - 3600
    for name in ("job.json", "metrics.csv"):
        os.utime(run / name, (hour_ago, hour_ago))
    (row,) = [r for r in scan_runs(tmp_path / "runs") if r.run_dir == run]
    assert row.state == "silent" and "written nothing for 60 min" in row.problem
    assert main(["train", "--headless", "--resume", str(run), "--max-steps", "2"]) == 0  # taken over here
    assert registry.read_job(run).host == registry.HOST  # its job.json now says this machine


def test_ls_watch_reprints_until_ctrl_c(trained, tmp_path, capsys, monkeypatch):
    copy_runs(trained, tmp_path / "runs")
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    assert main(["ls", "--runs-dir", str(tmp_path / "runs"), "--watch"]) == 0
    out = capsys.readouterr()
    assert naps == [2.0, 2.0] and out.out.count("recent runs in") == 2 and not out.err
    naps.clear()
    assert main(["ls", "--runs-dir", str(tmp_path / "runs"), "--watch", "0.5", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert naps == [0.5, 0.5] and len(lines) == 4 and all(json.loads(line) for line in lines)
    assert "--watch takes a positive number" in one_line_error(capsys, main(["ls", "--watch", "0"]))


def test_rows_take_the_figures_a_job_reports(tmp_path):
    """read_row on a status message: the job's figures win over its files, ETA from its rate."""
    run = RunDir.open(tmp_path / "r")
    recipe = {"recipe": "default", "loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4}
    run.write_config({"arch": "dcgan", "epochs": 10, "name": "given", **recipe})
    registry.write_job(registry.JobInfo(run.path, 4242, run.path / "job.sock", "running", "dcgan", 5.0))
    status = {
        "arch": "dcgan",
        "state": "paused",
        "step": 1000,
        "epoch": 2,
        "epochs": 10,
        "total_steps": 5000,
        "steps_per_s": 100.0,
        "images_per_s": 12800.0,
        "d_loss": 1.25,
        "g_loss": 0.75,
        "fd": 33.0,
        "classes": 8,
        "host": "gpu-7",
        "device": "cuda:1",
        "gpu_util": 87.0,
        "gpu_mem_bytes": 3 * 2**30,
        "viewers": 2,
    }
    row = read_row(run.path, status)
    assert (row.name, row.state, row.live, row.pid, row.when) == ("given", "paused", True, 4242, 5.0)
    assert (row.step, row.epoch, row.epochs, row.eta_s) == (1000, 3, 10, 40.0)
    assert (row.d_loss, row.g_loss, row.fd, row.classes, row.fd_history) == (1.25, 0.75, 33.0, 8, ())
    assert (row.host, row.device, row.viewers) == ("gpu-7", "cuda:1 87% 3.0G", 2)
    assert row.recipe == "hinge 1e-4/4e-4 EMA"  # dcgan's default EMA, the rest as given
    assert json.dumps(plain(row))
    nan = read_row(run.path, {**status, "d_loss": float("nan")})
    assert plain(nan)["d_loss"] is None  # JSON has no NaN
