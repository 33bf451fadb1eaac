"""--checkpoint-every: epochs or training time, one rule in the engine; routine checkpoints stay
out of the dashboard's event log and show on its status line (for late viewers too); an old
checkpoint's int still resumes."""

from __future__ import annotations

import queue
from types import SimpleNamespace

import pytest
from factories import SYNTHETIC_RUN, Recorder, blob_digits, one_line_error, tiny_config
from pilot import Harness, log_text, press, running, until_training, widget_text
from waiting import wait_for

from tui_gan.cadence import Cadence
from tui_gan.cli import main
from tui_gan.cli.parser import parse
from tui_gan.cli.train import config_from_args
from tui_gan.config import TrainConfig
from tui_gan.errors import ConfigError
from tui_gan.jobs import protocol as proto
from tui_gan.jobs.runfiles import SampleStore
from tui_gan.jobs.server import Job
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint, save_checkpoint
from tui_gan.training.engine import Engine
from tui_gan.ui.app import TuiGanApp
from tui_gan.ui.widgets.status import StatusBar, StatusInfo

# --- the option ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, cadence",
    [
        ("3", Cadence(epochs=3)),
        ("1", Cadence(epochs=1)),
        (2, Cadence(epochs=2)),  # a config file's number
        ("90s", Cadence(seconds=90)),
        ("10m", Cadence(seconds=600)),
        ("1.5h", Cadence(seconds=5400)),
        (" 2H ", Cadence(seconds=7200)),
        ("0", Cadence()),
        (0, Cadence()),
    ],
)
def test_epochs_times_and_zero_parse(value, cadence):
    assert Cadence.parse(value) == cadence


@pytest.mark.parametrize(
    "bad, message",
    [
        ("1.5", "'1.5' is neither a number of epochs (3), a training time (90s, 10m, 1h) nor 0"),
        ("-1", "'-1' is neither"),
        ("ten", "'ten' is neither"),
        ("10min", "'10min' is neither"),
        ("", "'' is neither"),
        ("0m", "'0m' is no training time: 0 alone means only at the end"),
    ],
)
def test_a_bad_value_is_a_one_line_usage_error(capsys, bad, message):
    with pytest.raises(SystemExit) as info:
        main(["train", "--headless", f"--checkpoint-every={bad}"])
    line = one_line_error(capsys, info.value.code)
    assert line.startswith("tui-gan: error: argument --checkpoint-every: ") and message in line, line


def test_the_command_line_and_config_files_keep_a_string():
    args, _ = parse(["train", "--checkpoint-every", "10M"])
    assert config_from_args(args).checkpoint_every == "10m"
    assert TrainConfig(checkpoint_every=3).checkpoint_every == "3"  # a config file's int
    assert TrainConfig().checkpoint_every == "10m"  # the default
    for bad in ("soon", 1.5, True):
        with pytest.raises(ConfigError, match="checkpoint-every .* is neither"):
            TrainConfig(checkpoint_every=bad).validate()


def test_due_follows_epochs_or_training_time():
    every_two = Cadence(epochs=2)
    assert (
        every_two.due(True, 4, 0.0) and not every_two.due(True, 3, 1e9) and not every_two.due(False, 4, 1e9)
    )
    ten_minutes = Cadence(seconds=600)
    assert ten_minutes.due(False, 1, 600.0) and not ten_minutes.due(True, 1, 599.9)
    assert not Cadence().due(True, 1, 1e9)


# --- the engine ----------------------------------------------------------------------------------


class FastClock(Engine):
    """Each step counts a minute of training time besides its few real milliseconds: training-time
    cadences without waiting for them."""

    def train_step(self, state=None):
        super().train_step(state)
        (state or self.current).train_time += 60.0


def saved(tmp_path, every: str, engine_class=Engine, **changes) -> list[tuple[int, bool]]:
    """(step, routine) of each CheckpointSaved of a run of 256 digits: 8 steps an epoch."""
    rec = Recorder()
    config = tiny_config(tmp_path, checkpoint_every=every, **changes)
    engine_class(config, rec, dataset=blob_digits(256), run_dir=tmp_path / every).run()
    return [(e.step, e.routine) for e in rec.of(ev.CheckpointSaved)]


def test_the_engine_writes_routine_checkpoints_every_n_epochs(tmp_path):
    assert saved(tmp_path, "2", epochs=5) == [(16, True), (32, True), (40, False)]  # the last: final
    assert saved(tmp_path, "0", epochs=5) == [(40, False)]
    assert saved(tmp_path, "10m", epochs=5) == [(40, False)]  # a few seconds of training


def test_the_engine_writes_routine_checkpoints_every_so_much_training_time(tmp_path):
    # a minute a step: every 5 steps, mid-epoch too; the epochs (8 steps) do not matter
    assert saved(tmp_path, "5m", FastClock, epochs=3) == [
        (5, True),
        (10, True),
        (15, True),
        (20, True),
        (24, False),
    ]
    assert saved(tmp_path, "1", FastClock, epochs=3) == [(8, True), (16, True), (24, False)]


def test_a_checkpoint_asked_for_leaves_latest_pt_to_the_stop(tmp_path):
    """`c` writes step_N.pt; latest.pt (what --resume RUN_DIR reads) is still written at the stop,
    even at the same step."""
    rec = Recorder()
    config = tiny_config(tmp_path, epochs=1000, checkpoint_every="0")
    engine = Engine(config, rec, dataset=blob_digits(256), run_dir=tmp_path / "run")
    engine.setup()
    for _ in range(3):
        engine.train_step()
    for command in (cmd.Pause(), cmd.SaveCheckpoint(), cmd.Stop(checkpoint=True)):
        engine.send(command)
    assert engine.run() == "stopped"
    asked, final = rec.of(ev.CheckpointSaved)
    assert asked.path.endswith("step_0000003.pt") and not asked.routine
    assert final.path.endswith("latest.pt") and not final.routine and final.step == 3


# --- an old checkpoint ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("private_runtime")
@pytest.mark.parametrize("old, now", [(1, "10m"), (3, "3")])
def test_an_old_checkpoint_with_an_int_resumes(tmp_path, capsys, old, now):
    """Before times, checkpoint_every was an int of epochs with at most one a minute: 1, the old
    default, resumes with today's default; another number still counts epochs."""
    runs = ["--runs-dir", str(tmp_path / "runs")]
    assert main(["train", "--headless", *SYNTHETIC_RUN, *runs, "--max-steps", "3"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    latest = run / "checkpoints" / "simple" / "latest.pt"
    data = load_checkpoint(latest)
    data["config"]["checkpoint_every"] = old
    save_checkpoint(latest, data)
    args, _ = parse(["train", "--resume", str(latest)])
    assert config_from_args(args).checkpoint_every == now
    assert main(["train", "--headless", "--resume", str(run), "--max-steps", "3"]) == 0
    assert "simple at step 6" in capsys.readouterr().out
    assert load_checkpoint(latest)["config"]["checkpoint_every"] == now


# --- late viewers --------------------------------------------------------------------------------


def test_a_late_viewer_gets_each_architectures_last_checkpoint_and_no_routine_log_lines(tmp_path):
    job = Job(tiny_config(tmp_path), engine_class=lambda *args, **kwargs: SimpleNamespace())
    job.samples = SampleStore(tmp_path)
    events = [
        ev.CheckpointSaved("simple", "/r/checkpoints/simple/latest.pt", 16, routine=True, train_time=9.0),
        ev.CheckpointSaved("simple", "/r/checkpoints/simple/step_0000020.pt", 20, train_time=11.0),
        ev.CheckpointSaved("simple", "/r/checkpoints/simple/latest.pt", 32, routine=True, train_time=18.0),
        ev.CheckpointSaved("simple", "/r/checkpoints/simple/best.pt", 40, train_time=22.0),
        ev.CheckpointSaved("mlp", "/r/checkpoints/mlp/latest.pt", 8, routine=True, train_time=5.0),
    ]
    for event in events:
        job._on_event(event)
    replay = job.replay()[0]
    back = proto.decode_event(
        proto.unpack(proto.pack({"event": proto.encode_event(replay), "op": "event"})[4:])["event"]
    )
    assert back.checkpoints == {"simple": events[2], "mlp": events[4]}  # best.pt is not where it goes on
    assert [e for e in back.log if isinstance(e, ev.CheckpointSaved)] == [events[1], events[3]]


# --- the dashboard -------------------------------------------------------------------------------


def test_the_status_line_shows_the_checkpoints_step_and_training_time_age():
    bar = StatusBar()
    run_dir = "/home/someone/experiments/gans/runs/20260101-120000-mlp-a-long-name"
    bar.info = StatusInfo(arch="mlp", run_dir=run_dir, elapsed_s=300.0, checkpoint=(12_300, 60.0))
    for width in (80, 200):
        lines = bar.render_info(width).plain.splitlines()
        assert len(lines) == 2 and all(len(line) <= width for line in lines), lines
        assert "ckpt 12,300 · 4m ago" in lines[1]
    assert bar.render_info(80).plain.endswith("…")  # the run folder gives way
    bar.set_info(elapsed_s=3600.0 + 60 * 7)
    assert "ckpt 12,300 · 1h06m ago" in bar.render_info(80).plain
    bar.set_info(elapsed_s=60.0)
    assert "ckpt 12,300 · now" in bar.render_info(80).plain
    bar.set_info(checkpoint=None)
    assert "ckpt" not in bar.render_info(80).plain


class Listening:
    """An engine that says nothing by itself: the test emits what a job would send."""

    def __init__(self, config, emit, **_):
        self.emit = emit
        self.commands: queue.Queue = queue.Queue()
        self.current = SimpleNamespace(name=config.arch, step=0)

    def setup(self) -> None:
        pass

    def send(self, command) -> None:
        self.commands.put(command)

    def run(self) -> str:
        while not isinstance(self.commands.get(), cmd.Stop):
            pass
        return "stopped"


def started(arch: str, step: int) -> ev.Started:
    return ev.Started(
        arch,
        **dict(dataset="MNIST", device="cpu", run_dir="/r", steps_per_epoch=16, epochs=100),
        **dict(step=step, epoch=step // 16, params_g=1, params_d=1),
    )


def stats(arch: str, step: int, elapsed: float) -> ev.Stats:
    return ev.Stats(
        arch, points=(), step=step, epoch=step // 16, epoch_progress=0.0, images_per_s=1.0, elapsed_s=elapsed
    )


async def test_a_late_viewer_shows_the_replayed_checkpoint_and_routine_ones_only_there(cpu_monitor):
    app = TuiGanApp(TrainConfig(arch="simple"), engine_factory=Listening, monitor_factory=cpu_monitor)
    asked = ev.CheckpointSaved("simple", "/r/checkpoints/simple/step_0000020.pt", 20, train_time=30.0)
    async with running(app, (80, 24)) as pilot:
        await wait_for(pilot, lambda: app.dashboard.engine is not None, "the engine")
        bar = app.dashboard.status_bar
        replay = proto.Replay(
            "simple",
            histories={},
            samples={},
            qualities={},
            log=(asked,),
            checkpoints={
                "simple": ev.CheckpointSaved("simple", "/r/x/latest.pt", 32, routine=True, train_time=40.0)
            },
        )
        for event in (replay, started("simple", 40), stats("simple", 40, 100.0)):
            app.dashboard.engine.emit(event)
        await wait_for(pilot, lambda: bar.info.elapsed_s == 100.0, "the replay")
        assert log_text(app).count("checkpoint written") == 1  # the asked-for one, from the job's log
        assert "ckpt 32 · 1m ago" in widget_text(bar)
        app.dashboard.engine.emit(stats("simple", 50, 220.0))  # the age grows with training time
        await wait_for(pilot, lambda: "ckpt 32 · 3m ago" in widget_text(bar), "an older checkpoint")
        app.dashboard.engine.emit(
            ev.CheckpointSaved("simple", "/r/x/latest.pt", 64, routine=True, train_time=220.0)
        )
        app.dashboard.engine.emit(
            ev.CheckpointSaved("mlp", "/r/y/latest.pt", 8, routine=True, train_time=1.0)
        )
        await wait_for(pilot, lambda: "ckpt 64 · now" in widget_text(bar), "the new checkpoint")
        assert log_text(app).count("checkpoint written") == 1
        app.dashboard.engine.emit(ev.ArchSwitched("mlp", "simple", 8))
        app.dashboard.engine.emit(started("mlp", 8))  # each architecture its own
        await wait_for(pilot, lambda: "ckpt 8 · " in widget_text(bar), "mlp's checkpoint")
        await press(pilot, "q")


@pytest.mark.usefixtures("one_torch_thread")
async def test_routine_checkpoints_of_a_real_engine_stay_out_of_the_event_log(tmp_path, cpu_monitor):
    app = Harness(tmp_path, cpu_monitor).app(checkpoint_every="1")  # 16 steps an epoch
    async with running(app) as pilot:
        await until_training(pilot, app, steps=40)
        bar = app.dashboard.status_bar
        await wait_for(
            pilot, lambda: bar.info.checkpoint and bar.info.checkpoint[0] >= 32, "routine checkpoints"
        )
        step = bar.info.checkpoint[0]
        assert step % 16 == 0 and f"ckpt {step:,} · " in widget_text(bar)
        assert "checkpoint written" not in log_text(app)
        await press(pilot, "c")
        await wait_for(pilot, lambda: "checkpoint written" in log_text(app), "the asked-for checkpoint")
        await press(pilot, "q")
        await wait_for(pilot, lambda: app.return_code is not None, "the exit")
    written = [text for text in log_text(app).splitlines() if "checkpoint written" in text]
    assert "step_" in written[0] and len(written) <= 2  # c's, and the final latest.pt unless just written
