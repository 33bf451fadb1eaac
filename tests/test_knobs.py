"""Architecture knobs (models/knobs.py): the defaults rebuild today's five exactly, every knob
builds, trains and resumes, and bad values are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from factories import SYNTHETIC_RUN, one_line_error

from tui_gan.cli import main
from tui_gan.models import ARCHS, count_params, get_arch
from tui_gan.models.knobs import Knobs, depth_widths
from tui_gan.training.checkpoint import load_checkpoint

# (G, D) parameters of each architecture as it was built before the knobs: checkpoints of today
# hold exactly these tensors
TODAY = {
    "mlp": (1489936, 1460225),
    "dcgan": (1431093, 659393),
    "simple": (227344, 201217),
    "relu-mlp": (559632, 533505),
    "mlp-bn-dropout": (1489936, 1460225),
}


GOLDEN = Path(__file__).parent / "golden" / "architectures.json"  # each net's tensors before the knobs


@pytest.mark.parametrize("name", list(TODAY))
def test_the_defaults_build_todays_architectures(name):
    """The tensors (names and shapes) a checkpoint of today holds are the ones built now."""
    spec = ARCHS[name]
    G, D = spec.build(100, knobs=Knobs())
    assert (count_params(G), count_params(D)) == TODAY[name]
    golden = json.loads(GOLDEN.read_text())[name]
    for net, built in (("G", G), ("D", D)):
        assert {k: list(v.shape) for k, v in built.state_dict().items()} == golden[net]
    family_depth = len(spec.generator.get("hidden", [])) or None
    same, _ = spec.build(100, knobs=Knobs(depth=family_depth if name != "dcgan" else 0, activation=None))
    assert count_params(same) == TODAY[name][0]


def test_depth_spreads_widths_from_the_first_to_the_last():
    assert depth_widths([256, 512, 1024], None) == [256, 512, 1024]
    assert depth_widths([256, 512, 1024], 5) == [256, 362, 512, 724, 1024]
    assert depth_widths([256, 512, 1024], 2) == [256, 1024] and depth_widths([256], 3) == [256, 256, 256]


def test_knobs_change_what_is_built():
    G, D = get_arch("mlp").build(100, knobs=Knobs(width=2.0, activation="silu", d_norm="spectral"))
    assert [m.out_features for m in G.net if isinstance(m, torch.nn.Linear)] == [512, 1024, 2048, 784]
    assert any(isinstance(m, torch.nn.SiLU) for m in G.modules())
    linears = [m for m in D.net if isinstance(m, torch.nn.Linear)]
    assert all(hasattr(m, "parametrizations") for m in linears)  # spectral norm on every layer
    _, D = get_arch("dcgan").build(100, knobs=Knobs(depth=2, d_norm="layer"))
    convs = [m for m in D.net if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in D.modules()) == 4
    x = torch.rand(3, 1, 28, 28)
    assert D(x).shape == (3, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "options"),
    [
        ("mlp", ["--width", "0.5", "--depth", "4", "--activation", "silu"]),
        ("simple", ["--d-norm", "spectral", "--activation", "gelu"]),
        ("dcgan", ["--width", "0.25", "--depth", "1", "--d-norm", "layer"]),
        ("dcgan", ["--width", "0.25", "--d-norm", "spectral", "--activation", "leaky_relu"]),
        ("progan", ["--width", "0.25", "--depth", "1", "--d-norm", "spectral", "--grow-images", "32"]),
    ],
)
def test_every_knob_trains_and_resumes(tmp_path, arch, options, capsys):
    run = tmp_path / "run"
    base = ["train", "--headless", *SYNTHETIC_RUN, "--arch", arch, "--run-dir", str(run)]
    assert main([*base, *options, "--max-steps", "3"]) == 0
    config = json.loads((run / "config.json").read_text())
    knobs = Knobs.of(config)
    assert not knobs.default and f"training {arch} ({knobs.describe()})" in capsys.readouterr().out
    assert main(["train", "--headless", "--resume", str(run), "--max-steps", "2"]) == 0  # knobs from the run
    checkpoint = load_checkpoint(run / "checkpoints" / arch / "latest.pt")
    assert checkpoint["step"] == 5 and Knobs.of(checkpoint["config"]) == knobs


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--width", "0"], "width must be above 0"),
        (["--depth", "-1"], "depth must be a whole number"),
        (["--depth", "0"], "no hidden layer"),
        (["--activation", "tanh"], "invalid choice 'tanh'"),
        (["--d-norm", "batch"], "invalid choice 'batch'"),
    ],
)
def test_bad_knobs_are_one_line_errors(tmp_path, capsys, options, says):
    try:
        code = main(["train", "--headless", *SYNTHETIC_RUN, "--runs-dir", str(tmp_path), *options])
    except SystemExit as usage:  # the parser's own errors (a choice): the same one line, exit 2
        code = usage.code
    assert says in one_line_error(capsys, code)


def test_archs_counts_what_the_knobs_would_build(capsys):
    assert main(["archs", "--width", "2"]) == 0
    out = capsys.readouterr().out
    assert "built with width ×2" in out
    line = next(line for line in out.splitlines() if line.startswith("simple "))
    g = int(line.split("G ")[1].split()[0].replace(",", ""))
    assert g > 2 * TODAY["simple"][0] * 0.9
    assert "width must be above 0" in one_line_error(capsys, main(["archs", "--width", "-1"]))
