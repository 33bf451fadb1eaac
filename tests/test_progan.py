"""Progressive growing (models/progan.py): each stage's shapes, fade-in continuity, an exact
resume mid-fade, and the stage where users see it (the event log, the samples title, sample)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from factories import Recorder, make_engine, one_line_error, straight_and_resumed
from pilot import log_text, press, running
from waiting import wait_for

from tui_gan.cli import main
from tui_gan.models import get_arch
from tui_gan.models.knobs import Knobs
from tui_gan.models.progan import RESOLUTIONS
from tui_gan.training import events as ev

PHASE = 96  # images per growth phase in these tests: 3 steps of batch 32


def grown(images: int, n_classes: int = 0, **knobs):
    """progan's G and D (width 1/4 unless given) after `images` real digits, in eval mode."""
    torch.manual_seed(0)
    G, D = get_arch("progan").build(100, n_classes, Knobs(width=knobs.pop("width", 0.25), grow_images=PHASE))
    for net in (G, D):
        net.advance(images)
        net.eval()
    return G, D


def blocks_of(images: torch.Tensor, size: int) -> bool:
    """Whether every size x size block of the 28x28 images holds one value (a lower resolution
    scaled up with nearest neighbours)."""
    low = images[..., ::size, ::size]
    return torch.equal(images, low.repeat_interleave(size, -1).repeat_interleave(size, -2))


@pytest.mark.parametrize(
    ("images", "stage", "alpha"),
    [
        (0, "7x7 stable", 1.0),
        (PHASE + PHASE // 2, "14x14 fade-in α 0.50", 0.5),
        (2 * PHASE, "14x14 stable", 1.0),
        (3 * PHASE, "28x28 fade-in α 0.00", 0.0),
        (10 * PHASE, "28x28 stable", 1.0),
    ],
)
def test_each_stage_draws_and_judges_at_its_resolution(images, stage, alpha):
    G, D = grown(images)
    z = torch.randn(8, 100)
    x = G(z)
    assert G.stage == stage and float(G.growth.alpha) == alpha and D.stage == stage
    assert x.shape == (8, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    resolution = RESOLUTIONS[G.growth.stage]
    assert blocks_of(x, 28 // resolution)
    if resolution == 14:
        assert not blocks_of(x, 4)  # and not at a lower one
    assert D(x).shape == (8, 1) and torch.isfinite(D(x)).all()
    # D sees real digits as this stage shows them: at its resolution
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    seen = D.real_view(real)
    assert seen.shape == real.shape and torch.equal(seen, real) == (images >= 4 * PHASE)
    if alpha == 1.0:
        assert blocks_of(seen, 28 // resolution)


@pytest.mark.parametrize("phase", [1, 3])  # the fade-in of 14x14, of 28x28
def test_a_new_block_fades_in_from_exactly_the_stage_before(phase):
    """At alpha 0 G draws what the stage before drew (scaled up) and D judges as it did."""
    before_g, before_d = grown(phase * PHASE - 1)
    G, D = grown(phase * PHASE)
    assert "fade-in α 0.00" in G.stage and float(G.growth.alpha) == 0.0
    z, x = torch.randn(6, 100), torch.rand(6, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(G(z), before_g(z), rtol=0, atol=1e-6)
        torch.testing.assert_close(D(x), before_d(x), rtol=0, atol=1e-5)
        # and alpha moves it away smoothly
        G.advance(PHASE // 2)
        assert float(G.growth.alpha) == 0.5 and not torch.allclose(G(z), before_g(z))


def test_the_stage_travels_in_the_weights():
    """A state dict (a checkpoint's, the EMA's copy) carries how far the nets have grown."""
    G, D = grown(PHASE + 24)
    fresh_g, fresh_d = grown(0)
    fresh_g.load_state_dict(G.state_dict())
    fresh_d.load_state_dict(D.state_dict())
    assert fresh_g.stage == G.stage == fresh_d.stage == "14x14 fade-in α 0.25"
    z = torch.randn(4, 100)
    torch.testing.assert_close(fresh_g(z), G(z))
    assert copy.deepcopy(G).stage == G.stage


def test_conditional_progan_draws_the_asked_digit_at_every_stage():
    for images in (0, 3 * PHASE + 10, 5 * PHASE):
        G, D = grown(images, n_classes=10)
        y = torch.tensor([1, 7, 1, 7])
        x = G(torch.randn(1, 100).repeat(4, 1), y)
        assert D(x, y).shape == (4, 11) and not torch.equal(x[0], x[1])


def test_knobs_build_progan():
    G, D = grown(0, width=0.5)
    wide_g, _ = get_arch("progan").build(
        100, knobs=Knobs(width=1.0, depth=1, activation="silu", d_norm="layer")
    )
    assert sum(p.numel() for p in wide_g.parameters()) > sum(p.numel() for p in G.parameters())
    assert any(isinstance(m, torch.nn.SiLU) for m in wide_g.modules())
    _, spectral = get_arch("progan").build(100, knobs=Knobs(d_norm="spectral"))
    assert all(hasattr(m, "parametrizations") for m in spectral.modules() if isinstance(m, torch.nn.Conv2d))


def test_growing_resumes_exactly_mid_fade(tmp_path):
    """The checkpoint at step 5 is halfway through 14x14's fade-in; the resumed run goes on through
    14x14 stable into 28x28's fade-in with the straight run's losses, bit for bit."""
    runs = straight_and_resumed(tmp_path, 5, arch="progan", width=0.25, grow_images=PHASE)
    assert runs.resumed.losses() == runs.straight.losses()[5:]
    grows = [e.message for e in runs.straight.of(ev.Notice) if "grows" in e.message]
    assert grows == [
        f"progan grows: 14x14 fading in over {PHASE} images",
        "progan grows: 14x14 stable",
        f"progan grows: 28x28 fading in over {PHASE} images",
    ]
    s = runs.engine.current
    assert s.stage == "28x28 fade-in α 0.33" and s.G_ema.stage == s.stage == s.D.stage
    assert runs.straight.of(ev.Samples)[-1].stage == s.stage


@pytest.mark.usefixtures("one_torch_thread")
async def test_the_dashboard_shows_the_stage_and_switches_in_and_out(harness):
    """The samples title and the event log say how far progan has grown; switching to another
    architecture and back (key 6) continues it where it was, stage and all."""
    app = harness.app(arch="progan", width=0.25, grow_images=200 * 32)  # 200 steps a phase
    panel = app.dashboard.samples_panel
    async with running(app) as pilot:
        await wait_for(pilot, lambda: "EMA · 7x7 stable · step" in str(panel.border_title), "7x7")
        await wait_for(pilot, lambda: "progan grows: 14x14 fading in" in log_text(app), "the growth line")
        await wait_for(pilot, lambda: "EMA · 14x14 fade-in α 0." in str(panel.border_title), "14x14")
        await press(pilot, "1")
        await wait_for(pilot, lambda: app.dashboard.arch == "mlp", "mlp")
        left = app.dashboard.engine.archs["progan"]
        left_at = left.step
        assert "samples · mlp" in str(panel.border_title)
        await press(pilot, "6")
        await wait_for(pilot, lambda: app.dashboard.arch == "progan", "progan again")
        assert app.dashboard.engine.current is left and left.G.growth.seen >= left_at * 32  # not regrown
        await wait_for(pilot, lambda: left.step > left_at + 1, "progan to go on")
        await wait_for(
            pilot, lambda: left.stage in str(app.dashboard.samples_panel.border_title), "its stage"
        )


def test_sample_draws_at_the_checkpoints_stage(tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "--headless", "--dataset", "synthetic", "--synthetic-size", "512", "--batch-size", "32"]
    options = ["--arch", "progan", "--width", "0.25", "--grow-images", str(PHASE), "--eval-every", "0"]
    assert main([*base, *options, "--run-dir", str(run), "--max-steps", "2"]) == 0
    assert f"progan (width ×0.25, growth phases of {PHASE} images)" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["grow_images"] == PHASE
    out = tmp_path / "digits.npy"
    assert main(["sample", str(run), "-n", "8", "-o", str(out)]) == 0
    digits = torch.from_numpy(np.load(out).astype(np.int64))
    assert digits.shape[-2:] == (28, 28) and blocks_of(digits, 4)  # still 7x7 at step 2
    capsys.readouterr()
    assert "grow images must be a whole number" in one_line_error(capsys, main([*base, "--grow-images", "0"]))


def test_dcgan_ignores_the_growth_setting(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, arch="dcgan", width=0.25, grow_images=PHASE, max_steps=1)
    assert engine.run() == "max_steps" and not engine.current.grows
    assert rec.of(ev.Started)[0].built == "width ×0.25" and rec.of(ev.Samples)[-1].stage == ""
