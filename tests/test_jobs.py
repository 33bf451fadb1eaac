"""Training jobs that outlive their viewers (tui_gan/jobs): real job processes, real sockets.

Each job is a fresh Python that imports torch, so each costs a few seconds."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from factories import SYNTHETIC_RUN, endless_config, logged_steps
from pilot import exited, log_text, press, running, samples_step
from viewers import Viewer
from waiting import process_alive, wait_for, wait_gone, wait_until

from tui_gan.errors import DataUnavailable
from tui_gan.jobs import protocol as proto
from tui_gan.jobs import registry
from tui_gan.jobs.client import query_status
from tui_gan.jobs.launch import start_job
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint

TESTS = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("private_runtime")


def status_step(info: registry.JobInfo) -> int:
    status = query_status(info)
    assert status is not None, "the job does not answer"
    return status["step"]


def wait_step(info: registry.JobInfo, at_least: int, timeout: float = 60.0) -> int:
    steps = []

    def reached() -> bool:
        steps.append(status_step(info))
        return steps[-1] >= at_least

    wait_until(reached, lambda: f"step {at_least}; the job stayed at step {steps[-1]}", timeout, interval=0.1)
    return steps[-1]


# --- the protocol ------------------------------------------------------------------------------
def test_every_event_survives_the_wire():
    import numpy as np

    from tui_gan.quality.report import QualityReport

    report = QualityReport(100, tuple([0.1] * 10), 10, 0.01, 0.9, 8.5, 23.0)
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    quality = ev.Quality(
        "mlp", step=5, epoch=0, report=report, real_floor=19.0, classifier_accuracy=0.98, seconds=0.1
    )
    events = [
        ev.Started(
            "mlp",
            dataset="MNIST",
            device="cpu",
            run_dir="/r",
            steps_per_epoch=468,
            epochs=100,
            step=5,
            epoch=0,
            params_g=10,
            params_d=20,
            note="note",
            torch_threads=2,
        ),
        ev.Stats(
            "mlp",
            points=(ev.StepPoint(1, 0, 0.5, 0.7, 0.6, 0.4), ev.StepPoint(2, 0, 0.4, 0.8, 0.6, 0.3)),
            step=2,
            epoch=0,
            epoch_progress=0.1,
            images_per_s=900.0,
            elapsed_s=1.5,
        ),
        ev.Samples("mlp", step=2, images=images, interpolation=images[:1]),
        quality,
        ev.StateChanged("mlp", "paused", 2),
        ev.CheckpointSaved("mlp", "/r/x.pt", 2),
        ev.ArchSwitched("dcgan", "mlp", 0),
        ev.Notice("mlp", "hi", "warning", "quality"),
        ev.Failed("mlp", "boom", None),
        ev.Finished("mlp", "stopped", 2, "/r"),
        proto.Viewers("mlp", 3),
        proto.Replay(
            "mlp",
            histories={"mlp": (ev.StepPoint(1, 0, 0.5, 0.7, 0.6, 0.4),)},
            samples={"mlp": (ev.Samples("mlp", step=2, images=images),)},
            qualities={"mlp": (quality,)},
            log=(ev.Notice("mlp", "old"),),
            viewers=2,
            read_only=False,
        ),
    ]
    for event in events:
        frame = proto.pack({"op": "event", "event": proto.encode_event(event)})
        back = proto.decode_event(proto.unpack(frame[4:])["event"])
        assert type(back) is type(event)
        if isinstance(event, ev.Samples):
            assert (back.images == event.images).all() and (back.interpolation == event.interpolation).all()
        elif isinstance(event, proto.Replay):
            assert (
                back.histories == event.histories
                and back.qualities == event.qualities
                and back.log == event.log
            )
            assert (back.samples["mlp"][0].images == images).all()
        else:
            assert back == event


def test_commands_are_checked_before_they_reach_the_engine():
    for command in (
        cmd.Pause(),
        cmd.TogglePause(),
        cmd.SwitchArch("dcgan"),
        cmd.Stop(checkpoint=False),
        cmd.EvaluateNow(),
    ):
        assert proto.decode_command(proto.encode_command(command)) == command
    for bad in (
        {"type": "RunShell"},
        {"type": "SwitchArch", "name": 7},
        {"type": "Stop", "checkpoint": "yes"},
        {"type": "SwitchArch", "name": "x" * 1000},
        "Pause",
        None,
    ):
        with pytest.raises(proto.ProtocolError):
            proto.decode_command(bad)
    with pytest.raises(proto.ProtocolError):
        proto.frame_length(struct.pack(">I", proto.MAX_VIEWER_FRAME + 1), proto.MAX_VIEWER_FRAME)
    with pytest.raises(proto.ProtocolError):
        proto.unpack(b"\xc1\xff\x00garbage")


def test_a_viewer_of_another_user_is_refused(monkeypatch):
    from tui_gan.jobs import viewer as server

    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert server.same_user(a)  # SO_PEERCRED: the peer is us
        monkeypatch.setattr(server.os, "getuid", lambda: 12345)
        assert not server.same_user(a)


# --- jobs and viewers ----------------------------------------------------------------------------
@pytest.mark.slow
def test_setup_errors_reach_the_starter_as_themselves(tmp_path):
    config = endless_config(tmp_path, dataset="mnist", data_dir=str(tmp_path / "no-mnist-here"))
    with pytest.raises(DataUnavailable):  # the dashboard offers synthetic digits for exactly this
        start_job(config, engine_kwargs={"download": False})
    assert not list((tmp_path / "runs").glob("*/job.json"))


@pytest.mark.slow
async def test_attach_detach_reattach_with_the_dashboard(tmp_path, jobs, cpu_monitor):
    """A job trains with nobody watching; a dashboard attaches, sees it train, detaches with d;
    training goes on; a second dashboard starts with the loss history so far."""
    from tui_gan.ui.app import TuiGanApp
    from tui_gan.ui.engine_link import job_engine_factory

    info = jobs(endless_config(tmp_path))
    wait_step(info, 20)

    def dashboard():
        return TuiGanApp(
            endless_config(tmp_path),
            engine_factory=job_engine_factory(attach=info),
            monitor_factory=cpu_monitor,
            system_interval=0.2,
        )

    first = dashboard()

    async with running(first) as pilot:
        await wait_for(
            pilot,
            lambda: first.dashboard.status_bar.info.step >= 20 and samples_step(first),
            "the job's state",
        )
        assert first.dashboard.views["simple"].losses.steps_seen > 0  # the replay, before any live point
        seen = first.dashboard.status_bar.info.step
        await wait_for(pilot, lambda: first.dashboard.status_bar.info.step > seen, "the step to advance")
        assert first.dashboard.samples_panel.snapshot is not None
        await press(pilot, "d")
        await wait_for(pilot, lambda: exited(first), "the dashboard to exit")
        left_at = first.dashboard.status_bar.info.step

    assert first.dashboard.detached and first.return_code == 0
    assert wait_step(info, left_at + 20) > left_at  # training went on without a viewer

    second = dashboard()

    async with running(second) as pilot:
        await wait_for(pilot, lambda: second.dashboard.status_bar.info.step > left_at, "the job's state")
        history = second.dashboard.views["simple"].losses
        assert history.steps_seen > 0 and len(history.d_loss.series) > 0
        assert "training simple" in log_text(second)  # the job's event log came along
        await press(pilot, "escape")  # the first screen: escape is not "back", it does nothing
        assert not exited(second)
        await press(pilot, "d")
        await wait_for(pilot, lambda: exited(second), "the dashboard to exit")

    assert second.dashboard.detached and registry.pid_alive(info.pid) and status_step(info) > left_at


@pytest.mark.slow
async def test_two_viewers_see_the_same_state(tmp_path, jobs, cpu_monitor):
    from tui_gan.ui.app import TuiGanApp
    from tui_gan.ui.engine_link import job_engine_factory

    info = jobs(endless_config(tmp_path))
    other = Viewer(info)
    app = TuiGanApp(
        endless_config(tmp_path),
        engine_factory=job_engine_factory(attach=info),
        monitor_factory=cpu_monitor,
        system_interval=0.2,
    )

    async with running(app) as pilot:
        await wait_for(
            pilot, lambda: app.dashboard.run_state == "running" and app.dashboard.viewers == 2, "both viewers"
        )
        await press(pilot, "space")  # pause from the dashboard ...
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", "paused here")
        other.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "paused", "paused there")
        other.client.send(cmd.Resume())  # ... resume from the other viewer
        await wait_for(pilot, lambda: app.dashboard.run_state == "running", "running again here")
        await press(pilot, "q")  # another viewer is watching: ask first
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmStopScreen", "the question")
        await press(pilot, "n")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ != "ConfirmStopScreen", "the question to close"
        )
        assert not app.dashboard.quitting
        await press(pilot, "q", "y")
        await wait_for(pilot, lambda: exited(app), "the app to exit", 60)

    assert other.wait(lambda e: isinstance(e, ev.Finished), "the job's end").reason == "stopped"
    other.thread.join(10)
    wait_gone(info.pid)
    job = registry.read_job(info.run_dir)
    assert job.state == "stopped" and job.exit_code == 0
    assert load_checkpoint(info.run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == job.step


@pytest.mark.slow
async def test_the_dashboard_starts_a_job_by_default_and_q_stops_it(tmp_path, cpu_monitor):
    """The real `tui-gan` path: no engine_factory, so the App starts a job and attaches to it."""
    from tui_gan.jobs.client import JobClient
    from tui_gan.ui.app import TuiGanApp

    config = endless_config(tmp_path)
    app = TuiGanApp(config, monitor_factory=cpu_monitor, system_interval=0.2)

    async with running(app) as pilot:
        await wait_for(
            pilot,
            lambda: app.dashboard.run_state == "running" and app.dashboard.status_bar.info.step >= 5,
            "training",
            60,
        )
        assert isinstance(app.dashboard.engine, JobClient)
        await wait_for(pilot, lambda: samples_step(app), "the first samples")
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", "paused")
        paused_at = app.dashboard.status_bar.info.step
        await press(pilot, "q")
        await wait_for(pilot, lambda: exited(app), "the app to exit", 60)

    assert app.return_code == 0
    wait_gone(app.dashboard.engine.info.pid)
    (final,) = Path(config.runs_dir).glob("*/checkpoints/simple/latest.pt")
    assert load_checkpoint(final)["step"] == paused_at


@pytest.mark.timeout(300)  # 30 epochs trained unwatched (up to 120 s) after the dashboard came up
@pytest.mark.slow
def test_a_closed_dashboard_leaves_its_job_training(tmp_path):
    """kill -9 of the dashboard's process (or a dropped SSH link): its job goes on training, and
    once training ends with nobody watching it writes its final checkpoint and exits."""
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from waiting import wait_for
        from tui_gan.config import TrainConfig
        from tui_gan.ui.app import TuiGanApp
        assert "torch" not in sys.modules, "imported by the UI's modules"
        config = TrainConfig(arch="simple", dataset="synthetic", synthetic_size=512, batch_size=32, epochs=30,
                             eval_every=0, runs_dir={str(tmp_path / "runs")!r}).validate()
        app = TuiGanApp(config, system_interval=0.2)

        async def body():
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: app.dashboard.status_bar.info.step >= 3
                               and app.dashboard.samples_panel.snapshot
                               and app.dashboard.system_panel.status, "training", 60)
                assert "torch" not in sys.modules
                run = app.dashboard
                print(run.engine.info.pid, run.system_panel.status.torch_threads, flush=True)
                time.sleep(600)

        asyncio.run(body())
    """)
    dashboard = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # the job inherits it: torch there runs 1 thread
    )
    try:
        line = dashboard.stdout.readline()
        assert line, dashboard.stderr.read()[-2000:]
        pid, threads = line.split()
        pid = int(pid)
        assert threads == "1"  # the job's torch threads, reported by the job (the dashboard has no torch)
        dashboard.kill()
        dashboard.wait()
        wait_gone(pid, timeout=120)  # 30 epochs of 16 steps, then the job ends on its own
    finally:
        dashboard.kill()
    (run_dir,) = (tmp_path / "runs").iterdir()
    job = registry.read_job(run_dir)
    assert (job.state, job.exit_code, job.step) == ("completed", 0, 30 * 16)
    assert load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == 30 * 16


# --- signals, kills and resume -------------------------------------------------------------------
def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui_gan", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=kwargs.get("cwd"),
    )


TRAIN = (
    "train",
    "--headless",
    *SYNTHETIC_RUN,
    "--checkpoint-every",
    "0",
    "--log-every-step",  # exact resume compared step by step
)


def metrics(run_dir: Path) -> dict[int, tuple[str, str]]:
    rows = (line.split(",") for line in (run_dir / "metrics.csv").read_text().splitlines()[1:])
    return {int(r[1]): (r[3], r[4]) for r in rows}


@pytest.mark.timeout(300)  # three headless runs, the last two given 120 s each
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_with_a_final_checkpoint_and_resume_continues_exactly(tmp_path, sig):
    runs = tmp_path / "runs"
    proc = cli(*TRAIN, "--epochs", "1000", "--runs-dir", str(runs))

    def twenty_steps() -> bool:
        assert proc.poll() is None, proc.stderr.read()
        return bool(list(runs.glob("*/metrics.csv"))) and len(metrics(next(runs.iterdir()))) >= 20

    try:
        wait_until(twenty_steps, "20 steps in metrics.csv", 60, interval=0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    (run_dir,) = runs.iterdir()
    stopped = load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")["step"]
    assert stopped >= 20 and max(metrics(run_dir)) == stopped  # nothing trained went unsaved
    job = registry.read_job(run_dir)
    assert (job.state, job.exit_code, job.step) == (signal.Signals(sig).name, 128 + sig, stopped)

    resumed = cli(*TRAIN, "--resume", str(run_dir), "--max-steps", "10")
    reference_runs = tmp_path / "reference"  # an uninterrupted run, trained meanwhile
    ref = cli(*TRAIN, "--epochs", "1000", "--max-steps", str(stopped + 10), "--runs-dir", str(reference_runs))
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert list(runs.iterdir()) == [run_dir]  # the same folder, not a new one
    out, err = ref.communicate(timeout=120)
    assert ref.returncode == 0, err
    (ref_dir,) = reference_runs.iterdir()
    assert metrics(run_dir) == metrics(ref_dir)  # every step, before and after the stop, identical
    assert sorted(metrics(run_dir)) == list(range(1, stopped + 11))


@pytest.mark.timeout(300)  # four jobs, each given 60 s to start
@pytest.mark.slow
def test_kill_9_during_checkpoint_writes_never_damages_the_previous_one(tmp_path, jobs):
    """A checkpoint every 2 steps of mlp (~20 MB each): killed at random moments, mostly inside a
    write. The latest.pt on disk always loads."""
    rng = random.Random(0)
    for trial in range(4):
        config = endless_config(tmp_path / f"t{trial}", arch="mlp", synthetic_size=64, checkpoint_every=1)
        info = jobs(config)
        latest = info.run_dir / "checkpoints" / "mlp" / "latest.pt"
        wait_until(latest.exists, "the first checkpoint", 60, interval=0.02)
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(info.pid, signal.SIGKILL)
        wait_gone(info.pid)
        data = load_checkpoint(latest)
        assert data["step"] >= 2 and data["step"] % 2 == 0


@pytest.mark.slow
def test_garbage_from_a_client_does_not_disturb_training(tmp_path, jobs):
    info = jobs(endless_config(tmp_path))
    before = wait_step(info, 5)
    attempts = [
        os.urandom(4096),  # random bytes
        struct.pack(">I", 2**31) + b"x" * 100,  # a huge length prefix
        proto.pack({"op": "hello", "v": 1, "role": "viewer"})[:7],  # half a message, then gone
        proto.pack({"op": "hello", "v": 1, "role": "viewer"})
        + proto.pack({"op": "command", "command": {"type": "Nope"}}),
        proto.pack({"op": "hello", "v": 1, "role": "viewer"}) + struct.pack(">I", 10) + b"\xc1" * 10,
    ]
    for payload in attempts:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(info.socket))
            sock.sendall(payload)
    with socket.socket(socket.AF_UNIX) as sock:  # one that says nothing at all, and stays
        sock.connect(str(info.socket))
        assert wait_step(info, before + 30) > before
    viewer = Viewer(info)  # a proper viewer is still served
    viewer.wait(lambda e: isinstance(e, ev.Stats) and e.points, "live stats")
    assert viewer.close() == "detached"
    log = (info.run_dir / "job.log").read_text()
    assert log.count("dropped a viewer connection") >= 3
    assert "Traceback" not in log


@pytest.mark.slow
def test_ls_and_attach_errors(tmp_path, jobs, capsys):
    from tui_gan.cli import main

    runs = tmp_path / "runs"
    assert main(["ls", "--runs-dir", str(runs)]) == 0
    assert "no live training jobs" in capsys.readouterr().out
    first = jobs(endless_config(tmp_path))
    wait_step(first, 3)
    assert main(["ls", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert str(first.run_dir) in out and str(first.pid) in out and "running" in out
    second = jobs(endless_config(tmp_path, arch="mlp"))
    wait_step(second, 1)
    main(["ls", "--runs-dir", str(runs)])
    live = capsys.readouterr().out.split("recent runs")[0]
    assert live.index(str(second.run_dir)) < live.index(str(first.run_dir))  # newest first
    assert " mlp " in live and " simple " in live

    os.kill(second.pid, signal.SIGKILL)  # dies without cleaning up: its socket and job.json stay
    wait_gone(second.pid)
    code = main(["attach", str(second.run_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and " died " in err[0] and "before its first checkpoint" in err[0]
    main(["ls", "--runs-dir", str(runs)])
    out = capsys.readouterr().out
    assert (
        str(first.run_dir) in out.split("recent runs")[0]
        and str(second.run_dir) not in out.split("recent runs")[0]
    )
    assert f"{second.run_dir} died before its first checkpoint" in out.split("recent runs")[1]

    assert main(["attach", str(tmp_path)]) == 2
    assert "not a tui-gan run folder" in capsys.readouterr().err
    line = main(["train", "--headless", "--resume", str(first.run_dir)])
    assert line == 2 and "in use by a live job" in capsys.readouterr().err


@pytest.mark.slow
def test_detach_option_prints_how_to_attach(tmp_path):
    proc = cli("train", "--detach", *TRAIN[2:], "--epochs", "2", "--runs-dir", str(tmp_path / "runs"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"tui-gan attach {run_dir}" in out and "kill" in out
    pid = registry.read_job(run_dir).pid
    wait_gone(pid)
    job = registry.read_job(run_dir)
    assert job.state == "completed" and job.step == 32
    assert "completed: simple at step 32" in (run_dir / "job.log").read_text()


# --- a finished run, read-only; resume in place -------------------------------------------------
@pytest.fixture
def finished_run(tmp_path) -> Path:
    """A headless run of 3 epochs (48 steps), trained to its end. A fixture: the CLI runs its own
    event loop, which it cannot do inside an async test's."""
    from tui_gan.cli import main

    assert (
        main(
            [
                "train",
                "--headless",
                "--dataset",
                "synthetic",
                "--synthetic-size",
                "512",
                "--arch",
                "simple",
                "--batch-size",
                "32",
                "--epochs",
                "3",
                "--eval-every",
                "0",
                "--runs-dir",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir


@pytest.mark.slow
async def test_a_finished_run_opens_read_only(tmp_path, cpu_monitor, finished_run):
    from tui_gan.ui.app import TuiGanApp
    from tui_gan.ui.engine_link import job_engine_factory

    run_dir = finished_run
    assert list((run_dir / "samples" / "simple" / "history").glob("step_*.npz"))  # the scrubber's grids, kept
    app = TuiGanApp(
        endless_config(tmp_path),
        engine_factory=job_engine_factory(attach=run_dir),
        monitor_factory=cpu_monitor,
    )

    async with running(app) as pilot:
        await wait_for(
            pilot,
            lambda: (
                (app.dashboard.status_bar.info.step, samples_step(app), app.dashboard.run_state)
                == (48, 48, "finished")
            ),
            "the run's end",
        )
        assert app.dashboard.read_only
        assert app.dashboard.views["simple"].losses.steps_seen == 48
        assert app.dashboard.status_bar.info.checkpoint[0] == 48  # its latest.pt, read without torch
        await press(pilot, "left")  # the sample history scrubs as in a live run
        assert app.dashboard.scrub_step is not None and app.dashboard.scrub_step < 48
        await press(pilot, "space")
        await wait_for(pilot, lambda: "read-only" in log_text(app), "a read-only note")
        await press(pilot, "q")
        await wait_for(pilot, lambda: exited(app), "the app to exit")

    assert app.return_code == 0


@pytest.mark.slow
def test_resume_in_place_keeps_one_history(tmp_path):
    """A run killed after its last checkpoint redoes those steps on resume: its files hold each
    step once, and the panels start from the checkpoint's history."""
    from tui_gan.cli import main
    from tui_gan.jobs.runfiles import SampleStore, read_metrics

    args = [
        "train",
        "--headless",
        *SYNTHETIC_RUN,
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    assert main([*args, "--epochs", "2"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    ckpt = run_dir / "checkpoints" / "simple" / "latest.pt"
    early = ckpt.read_bytes()
    assert main([*args, "--resume", str(run_dir), "--epochs", "3"]) == 0  # steps 33..48
    ckpt.write_bytes(early)  # as if killed -9 after step 32's checkpoint
    grids = {s.step for s in SampleStore.load(run_dir, "simple").snapshots}
    assert max(grids) == 48
    assert main([*args, "--resume", str(ckpt), "--epochs", "4"]) == 0  # redoes 33..64
    assert logged_steps(run_dir) == (64, 64)  # rows by time: their steps add up to each step once
    steps = list(metrics(run_dir))
    assert steps == sorted(steps)
    assert read_metrics(run_dir)["simple"].last.step == 64
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()  # older event files' steps after a resume's checkpoint are purged, as in metrics.csv
    assert [s.step for s in events.Scalars("simple/loss/D")] == steps
    assert json.loads((run_dir / "job.json").read_text())["step"] == 64


@pytest.mark.slow
async def test_closing_the_dashboard_while_its_job_loads(tmp_path, cpu_monitor):
    """q then q again (or d) before the job has loaded its data: the dashboard leaves at once;
    after q the starting job is stopped, after d it trains on unwatched."""
    from tui_gan.ui.app import TuiGanApp

    for keys, survives in ((("q", "q"), False), (("d",), True)):
        runs = tmp_path / keys[0] / "runs"
        app = TuiGanApp(
            endless_config(tmp_path, runs_dir=str(runs), synthetic_size=60000), monitor_factory=cpu_monitor
        )
        before = starting_jobs()

        started = time.monotonic()
        async with running(app) as pilot:
            await wait_for(
                pilot, lambda app=app: app.dashboard.run_state == "loading data", "the job to be starting"
            )
            (pid,) = await wait_for(pilot, lambda b=before: starting_jobs() - b, "the job's process")
            await press(pilot, *keys)
            await wait_for(pilot, lambda app=app: exited(app), "the dashboard to leave", timeout=10)
        assert (
            time.monotonic() - started < 15
        )  # never waited for the job's setup (its worker thread included)
        if survives:
            wait_until(registry.live_jobs, "the detached job to come up", 60, interval=0.1)
        else:
            wait_gone(pid, timeout=30)  # stopped while it loaded its data ...
            assert not list(runs.glob("*/job.json"))  # ... so it never served viewers
        jobs_now = registry.live_jobs()
        assert bool(jobs_now) == survives
        for job in jobs_now:
            os.kill(job.pid, signal.SIGKILL)
            wait_gone(job.pid)


def starting_jobs() -> set[int]:
    """The job processes this process started (launch.start_job's `python -c ... child_main`)."""
    import psutil

    pids = set()
    for child in psutil.Process().children():
        try:
            if "child_main" in " ".join(child.cmdline()) and process_alive(child.pid):
                pids.add(child.pid)
        except psutil.Error:
            pass  # gone meanwhile
    return pids
