"""The engine in its own process (tui_gan/training/process.py): the dashboard's default.

Each test starts a real child Python that imports torch, so each costs a few seconds."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tui_gan.errors import DataUnavailable
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training import process
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.engine import Engine
from tui_gan.training.process import EngineProcess

from factories import blob_digits, tiny_config

DIGITS = blob_digits(512, seed=3)


class Events:
    """Records events from the relay thread; wait() polls for one that matches."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def wait(self, test, what: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if test(event):
                    return event
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; got {[type(e).__name__ for e in self.events][-10:]}")


def start(engine: EngineProcess) -> tuple[threading.Thread, dict]:
    """run() in a thread, as the App's worker does; its return value lands in the dict."""
    out: dict = {}

    def target():
        try:
            out["reason"] = engine.run()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def test_trains_pauses_and_stops_with_a_final_checkpoint(tmp_path):
    events = Events()
    config = tiny_config(tmp_path, epochs=1000, checkpoint_every=0)
    engine = EngineProcess(config, events, dataset=DIGITS, run_dir=tmp_path / "run", exit_when_done=False,
                           stats_interval=0.05, samples_interval=0.2)
    engine.setup()
    thread, out = start(engine)
    events.wait(lambda e: isinstance(e, ev.Stats) and e.step >= 5, "training")
    samples = events.wait(lambda e: isinstance(e, ev.Samples), "a sample grid")
    assert samples.images.shape[1:] == (28, 28)  # numpy arrays cross the pipe intact

    engine.send(cmd.TogglePause())
    paused = events.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "paused", "paused")
    time.sleep(0.5)
    steps = [e.step for e in events.events if isinstance(e, ev.Stats)]
    assert max(steps) <= paused.step + 1  # the child really stopped stepping

    engine.send(cmd.Stop(checkpoint=True))
    thread.join(timeout=60)
    assert out == {"reason": "stopped"}
    assert engine.process.returncode == 0
    final = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")
    assert final["step"] == paused.step
    finished = [e for e in events.events if isinstance(e, ev.Finished)]
    assert finished and finished[-1].reason == "stopped"


def test_commands_sent_before_the_child_exists_still_arrive(tmp_path):
    events = Events()
    config = tiny_config(tmp_path, epochs=1000)
    engine = EngineProcess(config, events, dataset=DIGITS, run_dir=False, exit_when_done=False)
    engine.send(cmd.Pause())  # the App can send while setup() is still starting the child
    engine.setup()
    thread, out = start(engine)
    events.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "paused", "paused")
    engine.send(cmd.Stop(checkpoint=False))
    thread.join(timeout=60)
    assert out == {"reason": "stopped"}
    assert not any(isinstance(e, ev.Stats) and e.step > 1 for e in events.events)


def test_setup_errors_reach_the_caller_as_themselves(tmp_path):
    config = tiny_config(tmp_path, dataset="mnist", data_dir=str(tmp_path / "no-mnist-here"))
    engine = EngineProcess(config, Events(), run_dir=False, download=False)
    with pytest.raises(DataUnavailable):  # the dashboard offers synthetic digits for exactly this
        engine.setup()
    assert engine.process.returncode == 0


def test_a_child_that_dies_is_reported_not_waited_for(tmp_path):
    events = Events()
    engine = EngineProcess(tiny_config(tmp_path, epochs=1000), events, dataset=DIGITS, run_dir=False,
                           exit_when_done=False, stats_interval=0.05)
    engine.setup()
    thread, out = start(engine)
    events.wait(lambda e: isinstance(e, ev.Stats), "training")
    engine.process.kill()  # as the kernel's OOM killer would
    thread.join(timeout=30)
    assert out == {"reason": "error"}
    failed = events.wait(lambda e: isinstance(e, ev.Failed), "a Failed event")
    assert "training process died (killed by SIGKILL" in failed.message
    assert events.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "error", "state error")


class StuckEngine(Engine):
    """Never reaches a step boundary again after its first step."""

    def train_step(self, state=None) -> None:
        super().train_step(state)
        time.sleep(600)


def test_a_forced_stop_kills_a_child_that_does_not_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "FORCED_STOP_GRACE_S", 1.0)
    events = Events()
    # engine_class travels by reference: the child imports this test module to find it
    engine = EngineProcess(tiny_config(tmp_path, epochs=1000), events, engine_class=StuckEngine, dataset=DIGITS,
                           run_dir=False, exit_when_done=False)
    engine.setup()
    thread, out = start(engine)
    events.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "running", "running")
    engine.send(cmd.Stop(checkpoint=False))  # the second q
    thread.join(timeout=30)
    assert out == {"reason": "stopped"}
    assert engine.process.returncode == -signal.SIGKILL
    assert not any(isinstance(e, ev.Failed) for e in events.events)


def test_when_the_dashboard_dies_the_engine_keeps_its_training(tmp_path):
    """kill -9 of the dashboard (or a dropped SSH link): the engine process sees its command pipe
    close, writes the final checkpoint and exits on its own."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = {[str(Path(__file__).parent)]!r}
        from factories import blob_digits, tiny_config
        from pathlib import Path
        from tui_gan.training.process import EngineProcess
        from tui_gan.training import events as ev
        steps = []
        def emit(event):
            if isinstance(event, ev.Stats):
                steps.append(event.step)
        engine = EngineProcess(tiny_config(Path({str(tmp_path)!r}), epochs=1000, checkpoint_every=0), emit,
                               dataset=blob_digits(512, seed=3), run_dir={str(run_dir)!r}, exit_when_done=False,
                               stats_interval=0.05)
        engine.setup()
        print(engine.process.pid, flush=True)
        import threading
        threading.Thread(target=engine.run, daemon=True).start()
        while not steps or steps[-1] < 5:
            time.sleep(0.05)
        print("training", flush=True)
        time.sleep(600)
    """)
    dashboard = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        child = int(dashboard.stdout.readline())
        assert dashboard.stdout.readline().strip() == "training"
        dashboard.kill()
        dashboard.wait()
        deadline = time.monotonic() + 60
        while _alive(child):
            assert time.monotonic() < deadline, "the engine process outlived its dashboard"
            time.sleep(0.1)
    finally:
        dashboard.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
    final = load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")
    assert final["step"] >= 5


def _alive(pid: int) -> bool:
    """True while `pid` runs; an unreaped zombie (no init to reap it here) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_events_keep_their_types_across_the_pipe(tmp_path):
    events = Events()
    engine = EngineProcess(tiny_config(tmp_path, epochs=1), events, dataset=DIGITS, run_dir=False,
                           exit_when_done=True, stats_interval=0.05)
    engine.setup()
    assert engine.run() == "completed"
    kinds = {type(e) for e in events.events}
    assert {ev.Started, ev.Stats, ev.Samples, ev.Finished} <= kinds
    points = [p for e in events.events if isinstance(e, ev.Stats) for p in e.points]
    assert [p.step for p in points] == list(range(1, len(points) + 1))  # every loss point, in order
    assert len(points) == 512 // 32


def test_the_dashboard_drives_its_engine_process_by_default(tmp_path, cpu_monitor):
    """The real `tui-gan` path: no engine_factory, so the App starts an EngineProcess."""
    from pilot import SIZE, press, run, wait_for

    from tui_gan.ui.app import TuiGanApp

    config = tiny_config(tmp_path, epochs=1000, synthetic_size=512, checkpoint_every=0)
    app = TuiGanApp(config, monitor_factory=cpu_monitor, system_interval=0.2)

    async def body():
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.state == "running" and app.status_bar.info.step >= 5, "training", 60)
            assert isinstance(app.engine, EngineProcess)
            await wait_for(pilot, lambda: app.images_step > 0, "the first samples")
            await press(pilot, "space")
            await wait_for(pilot, lambda: app.state == "paused", "paused")
            paused_at = app.status_bar.info.step
            await press(pilot, "q")
            await wait_for(pilot, lambda: app._exit, "the app to exit", 60)
            return paused_at

    paused_at = run(body())
    assert app.return_code == 0 and app.engine.process.returncode == 0
    (final,) = Path(config.runs_dir).glob("*/checkpoints/simple/latest.pt")
    assert load_checkpoint(final)["step"] == paused_at


def test_the_dashboard_process_never_imports_torch(tmp_path):
    """Only the engine's process pays for torch (seconds of start-up, hundreds of MB): the
    dashboard's shows its first frame without it and keeps it out for the whole session."""
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from tui_gan.cli import main  # the `tui-gan` entry point's imports
        from tui_gan.config import TrainConfig
        from tui_gan.quality.report import QualityReport  # what a Quality event unpickles
        from tui_gan.ui.app import TuiGanApp
        assert "torch" not in sys.modules, "imported by the UI's modules"

        config = TrainConfig(arch="simple", dataset="synthetic", synthetic_size=512, batch_size=32, epochs=1000,
                             eval_every=0, runs_dir={str(tmp_path / "runs")!r}).validate()
        app = TuiGanApp(config, system_interval=0.2)

        async def body():
            async with app.run_test(size=(120, 40)) as pilot:
                deadline = time.monotonic() + 60
                while not (app.status_bar.info.step >= 3 and app.images_step > 0 and app.system_panel.status):
                    assert time.monotonic() < deadline, "no training"
                    await pilot.pause(0.05)
                app.action_quit()
                while not app._exit:
                    await pilot.pause(0.05)

        asyncio.run(body())
        print(app.return_code, "torch" in sys.modules, app.system_panel.status.torch_threads)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return_code, torch_imported, threads = done.stdout.split()
    assert (return_code, torch_imported) == ("0", "False")
    assert int(threads) >= 1  # the engine process reports its own torch threads
