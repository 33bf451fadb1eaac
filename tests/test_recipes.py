"""How each architecture trains (tui_gan/training/recipes.py): losses, learning-rate schedules and
TTUR, the generator EMA, best.pt and early stopping, rolling back, and their checkpoints."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from factories import Recorder, make_engine, straight_and_resumed

from tui_gan.cli import main
from tui_gan.config import TrainConfig
from tui_gan.errors import ConfigError
from tui_gan.models import ARCHS
from tui_gan.quality.report import QualityReport
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.engine import Engine
from tui_gan.training.quality_judge import QualityJudge
from tui_gan.training.recipes import SEED, Recipe, lr_factor, resolve
from tui_gan.training.step import gradient_penalty


@pytest.mark.parametrize("loss", ["bce", "hinge", "lsgan", "wgan-gp"])
def test_each_loss_trains_with_finite_moving_losses(tmp_path, loss):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, loss=loss, max_steps=6)
    assert engine.run() == "max_steps"
    points = rec.points()
    assert [p.step for p in points] == list(range(1, 7))
    assert all(math.isfinite(v) for p in points for v in (p.d_loss, p.g_loss, p.d_real, p.d_fake))
    assert len({round(p.d_loss, 5) for p in points}) > 1 and len({round(p.g_loss, 5) for p in points}) > 1
    assert engine.current.recipe.loss == loss
    assert engine.current.recipe.n_critic == (5 if loss == "wgan-gp" else 1)
    started = rec.of(ev.Started)[0]
    assert started.loss == loss and loss in started.recipe


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = w . x has gradient w everywhere: the penalty is (|w| - 1)^2 whatever the points."""

    class LinearCritic(torch.nn.Sequential):
        def forward(self, x, y=None):  # a discriminator's signature: y, the class, unused here
            return super().forward(x)

    D = LinearCritic(torch.nn.Flatten(), torch.nn.Linear(4, 1, bias=True))
    with torch.no_grad():
        D[1].weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # |w| = 5
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    assert gradient_penalty(D, real, fake).item() == pytest.approx(16.0)
    gp = gradient_penalty(D, real, fake)
    gp.backward()  # differentiable in D's weights: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(D[1].weight.grad, 2 * 4 * torch.tensor([[3.0, 0.0, 4.0, 0.0]]) / 5)


def test_schedules_give_the_expected_learning_rates():
    linear, cosine = Recipe(lr_schedule="linear"), Recipe(lr_schedule="cosine", warmup=10)
    assert [lr_factor(SEED, s, 100) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert [lr_factor(linear, s, 100) for s in (0, 25, 50, 100, 150)] == [1.0, 0.75, 0.5, 0.0, 0.0]
    assert [lr_factor(cosine, s, 110) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]  # warm-up from 0
    assert lr_factor(cosine, 10, 110) == pytest.approx(1.0)
    assert lr_factor(cosine, 60, 110) == pytest.approx(0.5)
    assert lr_factor(cosine, 110, 110) == pytest.approx(0.0)


def test_the_engine_sets_both_learning_rates_each_step(tmp_path):
    """TTUR (separate rates for G and D) and a linear decay over the configured epochs."""
    engine = make_engine(tmp_path, lr_g=1e-4, lr_d=4e-4, lr_schedule="linear", epochs=2, max_steps=8)
    engine.run()  # 8 steps of the 16 the two epochs have: half way down
    s = engine.current
    assert s.opt_g.param_groups[0]["lr"] == pytest.approx(1e-4 * (1 - 7 / 16))
    assert s.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * (1 - 7 / 16))


def test_recipes_resolve_per_architecture_and_options_win(tmp_path):
    seed = TrainConfig(recipe="seed", arch="mlp")
    assert resolve(seed, "mlp") == SEED == Recipe("bce", 2e-4, 2e-4, "none", 0, 0.0, 1)
    default = TrainConfig(arch="dcgan")
    assert resolve(default, "dcgan") == ARCHS["dcgan"].recipe
    mine = TrainConfig(recipe="seed", lr=1e-3, lr_d=5e-4, ema=0.99, loss="hinge")
    assert resolve(mine, "simple") == Recipe("hinge", 1e-3, 5e-4, "none", 0, 0.99, 1)
    assert resolve(TrainConfig(beta1=0.3), "simple") == replace(ARCHS["simple"].recipe, beta1=0.3)


def test_the_recipes_betas_reach_both_optimizers_and_a_resume_takes_new_ones(tmp_path):
    engine = make_engine(tmp_path, run_dir=tmp_path / "a", arch="simple", max_steps=2, checkpoint_every=0)
    engine.run()
    recipe = engine.current.recipe
    for opt in (engine.current.opt_g, engine.current.opt_d):
        assert opt.param_groups[0]["betas"] == (recipe.beta1, recipe.beta2)
    resumed = make_engine(
        tmp_path, arch="simple", beta2=0.9, max_steps=1, resume=engine.current.last_checkpoint
    )
    resumed.setup()  # the saved optimizer state carried the old betas
    for opt in (resumed.current.opt_g, resumed.current.opt_d):
        assert opt.param_groups[0]["betas"] == (recipe.beta1, 0.9)


def test_ema_moves_toward_g_and_is_what_samples_come_from(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, ema=0.9, max_steps=1)
    engine.setup()
    s = engine.current
    start = [p.detach().clone() for p in s.G_ema.parameters()]
    for _ in range(10):
        engine.train_step()
    g, ema = list(s.G.parameters()), list(s.G_ema.parameters())
    moved = sum((e - p0).norm() for e, p0 in zip(ema, start))
    assert moved > 0
    # closer to G than where it started, yet not G itself
    assert sum((e - w).norm() for e, w in zip(ema, g)) < sum((p0 - w).norm() for p0, w in zip(start, g))
    assert any(not torch.equal(e, w) for e, w in zip(ema, g))
    assert s.sampler is s.G_ema and not any(p.requires_grad for p in s.G_ema.parameters())


def test_raw_samples_toggle_and_checkpoints_keep_the_ema(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, run_dir=tmp_path / "run", ema=0.99, max_steps=4, checkpoint_every=0)
    engine.send(cmd.ToggleRawSamples())
    engine.run()
    samples = rec.of(ev.Samples)
    assert samples[0].ema and not samples[-1].ema  # the toggle took effect after the first grid
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")
    assert data["generator_ema"] is not None and data["show_raw"] is True
    assert data["recipe"]["ema"] == 0.99 and data["recipe"]["loss"] == "hinge"  # the recipe as resolved
    assert data["config"]["loss"] is None  # and the options as given, for architectures switched to later


@pytest.mark.parametrize(
    "changes",
    [
        dict(loss="hinge", ema=0.99, lr_schedule="cosine", warmup=3),
        dict(loss="wgan-gp", n_critic=2, lr_g=1e-4, lr_d=3e-4),
        dict(loss="lsgan", arch="mlp-bn-dropout", lr_schedule="linear"),
        dict(beta1=0.0, beta2=0.9, arch="simple"),
        dict(augment="translation", loss="lsgan"),
        dict(augment="translation+cutout", arch="mlp-bn-dropout"),
    ],
)
@pytest.mark.slow
def test_resume_is_exact_with_each_option(tmp_path, changes):
    k = 5
    runs = straight_and_resumed(tmp_path, k, **changes)
    assert runs.resumed.losses() == runs.straight.losses()[k:]


class ScriptedJudge(QualityJudge):
    """The real judge with scripted Frechet distances, one evaluation every `every` steps."""

    def __init__(self, real: QualityJudge, fds: list[float], every: int = 2):
        super().__init__(real.config, real.dataset, real.emit, real.outputs, real.checkpoint)
        self.fds, self.every = list(fds), every
        self.classifier = SimpleNamespace(val_accuracy=0.99)

    def due(self, s, train_time) -> bool:
        return bool(self.fds) and s.step % self.every == 0

    def measure(self, G, device) -> QualityReport:
        return QualityReport(100, (0.1,) * 10, 10, 0.0, 0.9, 9.0, self.fds.pop(0))


def scripted(engine: Engine, fds: list[float]) -> Engine:
    engine.setup()
    engine.quality = ScriptedJudge(engine.quality, fds)
    return engine


def test_best_checkpoint_follows_the_frechet_distance(tmp_path):
    rec = Recorder()
    engine = scripted(
        make_engine(tmp_path, rec, run_dir=tmp_path / "run", max_steps=12), [50.0, 40.0, 45.0, 30.0, 35.0]
    )
    engine.run()
    best = [e for e in rec.of(ev.CheckpointSaved) if e.path.endswith("best.pt")]
    assert [e.step for e in best] == [2, 4, 8]  # FD 50, 40, then 30: each a new best
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "best.pt")
    assert data["step"] == 8 and data["best"]["fd"] == 30.0
    assert (tmp_path / "run" / "checkpoints" / "simple" / "latest.pt").is_file()  # still written at the end
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")["step"] == 12


def test_early_stop_ends_a_run_that_stopped_improving(tmp_path):
    rec = Recorder()
    engine = scripted(
        make_engine(tmp_path, rec, run_dir=tmp_path / "run", epochs=100, early_stop=2, eval_every=30),
        [50.0, 40.0, 41.0, 42.0, 10.0],
    )
    assert engine.run() == "completed"
    assert engine.current.step == 8  # evaluations at 2, 4 (best), 6, 8: two without a better FD
    notices = [n.message for n in rec.of(ev.Notice) if "early stop" in n.message]
    assert len(notices) == 1 and "best 40.0 at step 4" in notices[0]
    assert rec.of(ev.StateChanged)[-1].state == "finished"


def test_rollback_continues_from_best(tmp_path):
    rec = Recorder()
    engine = scripted(
        make_engine(tmp_path, rec, run_dir=tmp_path / "run", max_steps=6),
        [20.0, 25.0],
    )
    engine.send(cmd.RollbackToBest())  # before any best.pt: says so
    engine.run()
    assert any("no best.pt yet" in n.message for n in rec.of(ev.Notice))
    assert engine.current.step == 6
    engine.send(cmd.RollbackToBest())
    engine.drain_commands()
    assert engine.current.step == 2 and len(engine.current.history) == 2
    assert any("rolled back to best.pt (step 2, FD 20.0)" in n.message for n in rec.of(ev.Notice))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--loss", "wasserstein"], "invalid choice"),
        (["--ema", "-0.5"], "ema must be 0 (off) or a decay"),
        (["--ema", "1"], "ema must be 0 (off) or a decay"),
        (["--early-stop", "0"], "early-stop patience"),
        (["--n-critic", "0"], "n-critic"),
        (["--augment", "flip"], "invalid choice"),
        (["--lr-d", "0"], "learning rate --lr-d must be a positive number"),
        (["--warmup", "-3"], "warmup must be 0"),
        (["--early-stop", "3", "--eval-every", "0"], "--early-stop needs quality evaluations"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, capsys, extra, message):
    try:
        code = main(["train", "--headless", "--dataset", "synthetic", "--runs-dir", str(tmp_path), *extra])
    except SystemExit as exc:  # argparse's own check of a choice
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and message in err[-1], err
    assert len(err) == 1 or err[0].startswith("usage:")  # argparse's own checks print the usage first


def test_config_files_are_checked_too():
    with pytest.raises(ConfigError, match="unknown loss 'l1'"):
        TrainConfig(loss="l1").validate()
    with pytest.raises(ConfigError, match="unknown recipe"):
        TrainConfig(recipe="best").validate()


def test_a_resume_keeps_its_recipe_takes_new_options_and_other_archs_get_their_own(tmp_path):
    """The checkpoint's recipe survives new defaults; an --lr given on resume wins over the saved
    optimizer state; an architecture switched to after the resume trains with its own default."""
    first = Recorder()
    make_engine(tmp_path, first, run_dir=tmp_path / "a", arch="simple", max_steps=3, checkpoint_every=0).run()
    ckpt = first.of(ev.CheckpointSaved)[-1].path
    engine = make_engine(tmp_path, arch="simple", lr=3e-5, max_steps=2, resume=ckpt)
    engine.run()
    s = engine.current
    assert s.recipe == replace(ARCHS["simple"].recipe, lr_g=3e-5, lr_d=3e-5)
    assert s.opt_g.param_groups[0]["lr"] == s.opt_d.param_groups[0]["lr"] == 3e-5

    resumed = make_engine(tmp_path, arch="simple", max_steps=50, resume=ckpt)
    resumed.setup()
    resumed.send(cmd.SwitchArch("mlp"))
    resumed.drain_commands()
    assert resumed.current.recipe == ARCHS["mlp"].recipe  # not simple's lr 1e-3 / EMA 0.999
    assert resumed.archs["simple"].recipe == ARCHS["simple"].recipe
