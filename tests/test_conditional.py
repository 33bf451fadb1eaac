"""Conditional generation (--conditional): class-conditional G and D for every architecture, the
class-major sample grid, per-class accuracy, `tui-gan sample --digit`, and their files."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from factories import (
    Recorder,
    blob_digits,
    make_engine,
    one_line_error,
    run_dirs,
    straight_and_resumed,
    train_args,
)

from tui_gan.cli import main
from tui_gan.data import Dataset
from tui_gan.errors import ConfigError
from tui_gan.history import Snapshot
from tui_gan.jobs import protocol
from tui_gan.jobs.runfiles import SampleStore, read_quality
from tui_gan.models import ARCH_NAMES, get_arch
from tui_gan.quality.metrics import class_accuracy
from tui_gan.quality.report import QualityReport
from tui_gan.training import events as ev
from tui_gan.training.rundir import QUALITY_COLUMNS, RunDir
from tui_gan.training.state import sample_digits
from tui_gan.ui.widgets.samples import class_layout


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_every_architecture_has_a_conditional_g_and_d(arch):
    torch.manual_seed(0)
    G, D = get_arch(arch).build(100, 10)
    G.eval(), D.eval()
    y = torch.tensor([0, 3, 7, 9])
    x = G(torch.randn(4, 100), y)
    assert x.shape == (4, 1, 28, 28)
    out = D(x, y)  # the adversarial logit, then the auxiliary classifier's ten class logits
    assert out.shape == (4, 11)
    assert not torch.equal(out[:, 0], D(x, (y + 1) % 10)[:, 0])  # D judges the digit with its class
    assert torch.equal(out[:, 1:], D(x, (y + 1) % 10)[:, 1:])  # the classifier only sees the digit
    z = torch.randn(1, 100).repeat(2, 1)
    drawn = G(z, torch.tensor([1, 8]))
    assert not torch.equal(drawn[0], drawn[1])  # the same z drawn as another class
    with pytest.raises(ValueError, match="classes"):
        G(torch.randn(4, 100))
    plain_g, plain_d = get_arch(arch).build(100)  # the unconditional nets keep their weights' names
    added = {"project.embed.weight", "project.classify.weight", "project.classify.bias"}
    assert not added & set(plain_d.state_dict())
    assert set(plain_d.state_dict()) | added == set(D.state_dict())


def test_conditional_training_and_its_sample_grid(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, conditional=True, sample_count=16, max_steps=6)
    assert engine.run() == "max_steps"
    points = rec.points()
    assert len(points) == 6 and all(math.isfinite(p.d_loss) and math.isfinite(p.g_loss) for p in points)
    s = engine.current
    # 16 rounds up to 2 per class; row c is the same two latents drawn as digit c
    assert s.per_class == 2 and len(s.fixed_noise) == 20
    assert s.fixed_labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert torch.equal(s.fixed_noise[:2], s.fixed_noise[18:])
    samples = rec.of(ev.Samples)[-1]
    assert samples.per_class == 2 and samples.images.shape == (20, 28, 28)
    assert samples.interp_class == 0 and samples.interpolation.shape[0] > 0
    z = torch.randn(5, engine.config.z_dim)
    drawn = sample_digits(s.sampler, z, torch.full((5,), 7))  # the asked classes' shapes
    assert drawn.shape == (5, 28, 28) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(samples.images, s.digits())


def test_conditional_needs_labels(tmp_path):
    unlabelled = blob_digits(64)
    unlabelled = Dataset(unlabelled.name, unlabelled.images, None, "generated", "blobs without labels")
    engine = make_engine(tmp_path, dataset=unlabelled, conditional=True)
    with pytest.raises(ConfigError, match="--conditional needs class labels"):
        engine.setup()


@pytest.mark.slow
def test_conditional_resume_is_exact(tmp_path):
    k = 4
    runs = straight_and_resumed(tmp_path, k, conditional=True, arch="mlp-bn-dropout", ema=0.99)
    assert runs.resumed.losses() == runs.straight.losses()[k:]
    assert runs.engine.current.fixed_labels.tolist() == [c for c in range(10) for _ in range(2)]


def test_class_accuracy_counts_digits_drawn_as_asked():
    asked = torch.tensor([0, 0, 1, 1, 1, 1, 2, 2])
    read = torch.tensor([0, 5, 1, 1, 1, 0, 2, 2])
    acc = class_accuracy(read, asked)
    assert acc[:3] == (0.5, 0.75, 1.0) and all(math.isnan(a) for a in acc[3:])
    report = QualityReport(8, (0.1,) * 10, 10, 0.0, 0.9, 9.0, 20.0, acc)
    assert report.accuracy == pytest.approx(0.75)  # classes never asked for do not count
    assert QualityReport(8, (0.1,) * 10, 10, 0.0, 0.9, 9.0, 20.0).accuracy is None


def test_reports_and_grids_cross_the_wire_and_the_run_folder(tmp_path):
    report = QualityReport(1000, (0.1,) * 10, 10, 0.0, 0.9, 9.0, 20.0, tuple(i / 10 for i in range(10)))
    quality = ev.Quality(
        "dcgan", step=5, epoch=0, report=report, real_floor=13.6, classifier_accuracy=0.98, seconds=0.1
    )
    assert protocol.decode_event(protocol.encode_event(quality)).report == report
    samples = ev.Samples(
        "dcgan",
        step=5,
        images=np.zeros((20, 28, 28), np.uint8),
        interpolation=np.zeros((4, 28, 28), np.uint8),
        ema=True,
        per_class=2,
        interp_class=3,
    )
    assert protocol.decode_event(protocol.encode_event(samples)).per_class == 2

    run = RunDir.create(str(tmp_path), "dcgan")
    run.append_quality("dcgan", 5, 0, report, 13.6)
    run.append_quality("mlp", 6, 0, QualityReport(1000, (0.1,) * 10, 10, 0.0, 0.9, 9.0, 30.0), 13.6)
    back = read_quality(run.path)
    assert back["dcgan"][0].report.class_accuracy == report.class_accuracy
    assert back["mlp"][0].report.class_accuracy == ()
    store = SampleStore(run.path)
    store.add(samples)
    snap = SampleStore.load(run.path, "dcgan")[0]
    assert (snap.per_class, snap.interp_class, snap.ema) == (2, 3, True)


def test_a_quality_file_from_before_conditional_generation_still_reads(tmp_path):
    old = QUALITY_COLUMNS[:20]
    assert old[-1] == "share_9"
    row = ["mlp", "10", "0", "1000", "10", "0.01", "0.9", "9", "40", "13.6", *["0.1"] * 10]
    (tmp_path / "quality.csv").write_text(",".join(old) + "\n" + ",".join(row) + "\n")
    assert read_quality(tmp_path)["mlp"][0].report.frechet_distance == 40.0


def test_class_layout_fits_a_row_per_digit_or_shares_lines():
    # tall and wide: each class its own line (10 lines of 7-line half digits), as many digits as fit
    assert class_layout(120, 79, 7, 14, 7) == (7, 1, 10)
    # 5 lines of digits: two classes to a line
    assert class_layout(120, 39, 7, 14, 7) == (3, 2, 10)
    # too short for all ten even one digit each: the first classes, one digit each
    assert class_layout(40, 15, 7, 14, 7) == (1, 2, 4)
    assert class_layout(10, 40, 7, 14, 7) == (0, 0, 0)


def test_sample_draws_a_chosen_digit(tmp_path, idx_dir, capsys, classifier_cache):
    assert (
        main(
            train_args(
                tmp_path,
                idx_dir,
                "--max-steps",
                "3",
                "--eval-every",
                "0",
                "--conditional",
                "--no-tensorboard",
            )
        )
        == 0
    )
    (run,) = run_dirs(tmp_path)
    ckpt = run / "checkpoints" / "simple" / "latest.pt"
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--digit", "7", "-n", "6", "-o", str(tmp_path / "seven.npy")]) == 0
    assert "6 x digit 7" in capsys.readouterr().out
    assert np.load(tmp_path / "seven.npy").shape == (6, 28, 28)
    assert main(["sample", str(ckpt), "-n", "20", "-o", str(tmp_path / "all.png")]) == 0
    assert "0-9 in turn" in capsys.readouterr().out

    assert "--digit must be 0-9" in one_line_error(
        capsys, main(["sample", str(ckpt), "--digit", "10", "-o", str(tmp_path / "x.png")])
    )


def test_conditional_cannot_change_on_resume_and_plain_checkpoints_draw_no_digit(
    tmp_path, idx_dir, capsys, classifier_cache
):
    assert (
        main(train_args(tmp_path, idx_dir, "--max-steps", "2", "--eval-every", "0", "--no-tensorboard")) == 0
    )
    (run,) = run_dirs(tmp_path)
    ckpt = run / "checkpoints" / "simple" / "latest.pt"
    capsys.readouterr()
    line = one_line_error(capsys, main(["sample", str(ckpt), "--digit", "3", "-o", str(tmp_path / "x.png")]))
    assert "without --conditional" in line
    line = one_line_error(capsys, main(train_args(tmp_path, idx_dir, "--resume", str(ckpt), "--conditional")))
    assert "cannot change" in line


async def test_the_samples_panel_shows_a_row_per_digit(harness):
    from pilot import running, until_training, widget_text
    from waiting import wait_for

    app = harness.app(conditional=True, sample_count=30)
    async with running(app, (160, 50)) as pilot:
        await until_training(pilot, app)
        panel = app.dashboard.samples_panel
        await wait_for(
            pilot, lambda: panel.snapshot is not None and panel.snapshot.per_class == 3, "conditional samples"
        )
        await pilot.pause(0.1)
        assert str(panel.border_subtitle).startswith("digits 0-9 · ")
        labels = re.findall(r"\d", widget_text(panel))  # block cells are no digits: only the class labels are
        assert labels == sorted(labels) and set(labels) == set("0123456789")
        await pilot.resize_terminal(80, 24)  # every digit still shows, at a quarter of the size
        await wait_for(pilot, lambda: str(panel.border_subtitle).endswith("quarter size"), "the small layout")
        assert set(re.findall(r"\d", widget_text(panel))) == set("0123456789")
        await pilot.resize_terminal(60, 16)  # too small even so: the first digits, and it says so
        await wait_for(pilot, lambda: "of 0-9" in str(panel.border_subtitle), "the short layout")


def test_saved_grids_put_a_row_per_digit(tmp_path):
    from PIL import Image

    from tui_gan.ui.exports import grid_png

    def shape(path):  # (columns, rows) of 28-pixel digits with 2-pixel padding
        width, height = Image.open(path).size
        return (width - 2) // 30, (height - 2) // 30

    rec = Recorder()
    make_engine(tmp_path, rec, run_dir=tmp_path / "run", conditional=True, sample_count=16, epochs=1).run()
    assert shape(tmp_path / "run" / "samples" / "simple" / "epoch_001.png") == (2, 10)
    export = grid_png(tmp_path, "simple", Snapshot.of(rec.of(ev.Samples)[-1]))
    export.write()
    width, height = Image.open(export.path).size  # the dashboard's `s` at scale 2
    assert ((width // 2 - 2) // 30, (height // 2 - 2) // 30) == (2, 10)
    assert "class-conditional" in rec.of(ev.Started)[0].recipe
