"""GAN health: quality evaluations inside the engine, and alerts that fire once per episode."""

import torch
from factories import DIGITS, Recorder, blob_digits, run_in_thread, tiny_config
from waiting import wait_until

from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.engine import Engine
from tui_gan.training.health import DiscriminatorWins, ModeCollapse
from tui_gan.training.runstate import RunState


def test_discriminator_wins_warns_once_per_episode():
    alarm = DiscriminatorWins(window=10)
    warnings = [alarm.update(0.01) for _ in range(30)]
    assert sum(w is not None for w in warnings) == 1 and "discriminator wins" in [w for w in warnings if w][0]
    assert all(alarm.update(0.5) is None for _ in range(30))  # recovery ends the episode quietly
    assert sum(alarm.update(0.01) is not None for _ in range(30)) == 1  # a new episode warns again


def test_discriminator_wins_needs_a_sustained_stretch():
    alarm = DiscriminatorWins(window=10)
    assert all(alarm.update(v) is None for v in [0.01] * 9 + [0.9] * 10)


def test_mode_collapse_hysteresis():
    alarm = ModeCollapse()
    assert alarm.update(10, 0.01) is None
    assert "cover 2 of 10" in alarm.update(2, 1.5)
    assert alarm.update(3, 1.2) is None  # still the same episode
    assert alarm.update(7, 0.4) is None  # not yet recovered (needs 8 classes and KL < 0.3)
    assert alarm.update(9, 0.1) is None
    assert alarm.update(10, 0.9) is not None  # KL alone can signal collapse


class OneDigit(torch.nn.Module):
    """A collapsed generator: every z gives the same image (`digit`, uint8 28x28); it keeps
    `inner`'s parameters so that the engine's optimizer still has them."""

    def __init__(self, inner: torch.nn.Module, digit: torch.Tensor):
        super().__init__()
        self.inner = inner
        self.digit = digit.float().mul(2 / 255).sub(1)

    def forward(self, z):
        return self.inner(z) * 0 + self.digit.expand(z.shape[0], 1, 28, 28)


def run_until(engine, predicate, what: str, timeout=60):
    """Runs the engine in a thread until `predicate` holds (or fails after `timeout`), then stops it."""
    thread, _ = run_in_thread(engine)
    try:
        wait_until(predicate, what, timeout, interval=0.01)
    finally:
        engine.send(cmd.Stop(checkpoint=False))
        thread.join(30)


def test_engine_evaluates_quality_and_flags_a_one_digit_generator(tmp_path, classifier_cache):
    data = DIGITS
    rec = Recorder()
    engine = Engine(
        tiny_config(tmp_path, eval_every=0.2, eval_samples=200, epochs=1000, recipe="seed"),
        rec,
        dataset=data,
        run_dir=tmp_path / "run",
        exit_when_done=False,
    )
    engine.setup()
    engine.current.G = OneDigit(engine.current.G, data.images[3])
    run_until(engine, lambda: len(rec.of(ev.Quality)) >= 2, "two evaluations")
    report = rec.of(ev.Quality)[0].report
    assert report.n == 200 and report.classes_covered == 1 and report.kl_to_uniform > 2.0
    assert report.frechet_distance > 5 * rec.of(ev.Quality)[0].real_floor
    collapse = [n for n in rec.of(ev.Notice) if "mode collapse" in n.message]
    assert len(collapse) == 1  # once per episode, not at every evaluation
    assert any("quality classifier ready" in n.message for n in rec.of(ev.Notice))
    rows = (tmp_path / "run" / "quality.csv").read_text().splitlines()
    assert rows[0].startswith("arch,step,epoch,n,classes_covered") and len(rows) >= 3


def test_evaluate_now_command(tmp_path, private_cache):
    """No classifier is cached yet: `e` waits for the one training in the background."""
    rec = Recorder()
    engine = Engine(
        tiny_config(tmp_path, eval_every=3600, eval_samples=100, epochs=1000),
        rec,
        dataset=blob_digits(512),
        run_dir=False,
        exit_when_done=False,
    )
    engine.send(cmd.EvaluateNow())  # before the classifier is ready: done as soon as it is
    run_until(engine, lambda: rec.of(ev.Quality), "an evaluation")
    assert any("still training" in n.message for n in rec.of(ev.Notice))


def test_non_finite_loss_pauses_the_dashboard_engine(tmp_path):
    rec = Recorder()
    engine = Engine(
        tiny_config(tmp_path, epochs=1000, checkpoint_every="1"),
        rec,
        dataset=blob_digits(256),
        run_dir=tmp_path / "run",
        exit_when_done=False,
    )
    engine.setup()
    thread, _ = run_in_thread(engine)
    wait_until(
        lambda: rec.of(ev.CheckpointSaved), "the epoch 1 checkpoint", 20, interval=0.01
    )  # to resume from
    with torch.no_grad():
        next(engine.current.G.parameters()).fill_(float("inf"))
    wait_until(
        lambda: any(e.state == "error" for e in rec.of(ev.StateChanged)), "the failure", 20, interval=0.01
    )
    step = engine.current.step

    def answers() -> int:  # "quality metrics are off": said at the start, and to each `e`
        return sum("quality metrics are off" in n.message for n in rec.of(ev.Notice))

    said = answers()
    for n in (1, 2):  # the engine answers the second after going round its loop once more
        engine.send(cmd.EvaluateNow())
        wait_until(lambda n=n: answers() == said + n, "the engine to answer `e`", 20, interval=0.01)
    assert (
        engine.current.step == step and engine.state is RunState.FAILED
    )  # stopped, but the engine (and UI) stay alive
    message = rec.of(ev.Failed)[0].message
    assert "non-finite loss" in message and "--resume" in message and "latest.pt" in message
    engine.send(cmd.Stop())
    thread.join(20)
    assert not thread.is_alive()


def test_stop_collapsed_ends_a_collapsed_run_and_says_so(tmp_path, classifier_cache):
    """--stop-collapsed (what sweeps use): the first collapse ends the run as "collapsed"."""
    data = DIGITS
    rec = Recorder()
    engine = Engine(
        tiny_config(tmp_path, eval_every=0.2, eval_samples=200, epochs=1000, stop_collapsed=True),
        rec,
        dataset=data,
        run_dir=False,
    )
    engine.setup()
    engine.current.G = OneDigit(engine.current.G, data.images[3])
    engine.current.G_ema = None
    assert engine.run() == "collapsed"
    assert engine.state is RunState.FINISHED
    assert any("stopped (--stop-collapsed)" in n.message for n in rec.of(ev.Notice))


def test_max_time_ends_a_run_after_that_much_training(tmp_path):
    rec = Recorder()
    engine = Engine(tiny_config(tmp_path, max_time="1s", epochs=1000), rec, dataset=blob_digits(256))
    assert engine.run() == "max_time"
    assert 1.0 <= engine.current.train_time < 5.0
