"""TensorBoard event files: what other tools read from a run folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from factories import blob_digits, tiny_config
from tensorboard.backend.event_processing import event_accumulator  # tensorboard: a dependency, not optional

from tui_gan.training.engine import Engine


def read_events(run_dir: Path):
    acc = event_accumulator.EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    acc.Reload()
    return acc


def test_a_run_writes_losses_samples_and_system_figures(tmp_path):
    engine = Engine(
        tiny_config(tmp_path, max_steps=40, epochs=10, log_every_step=True),
        dataset=blob_digits(512),
        run_dir=tmp_path / "run",
    )
    assert engine.run() == "max_steps"
    acc = read_events(tmp_path / "run")
    tags = acc.Tags()
    history = engine.current.history
    for tag, column in (
        ("simple/loss/D", 2),
        ("simple/loss/G", 3),
        ("simple/D(x)", 4),
        ("simple/D(G(z))", 5),
    ):
        scalars = acc.Scalars(tag)
        assert [s.step for s in scalars] == list(range(1, 41))
        assert [s.value for s in scalars] == pytest.approx([row[column] for row in history], rel=1e-6)
    assert acc.Scalars("simple/images_per_s")[-1].value > 0
    assert "system/cpu/percent" in tags["scalars"] and "system/cpu/run_rss_bytes" in tags["scalars"]
    images = acc.Images("simple/samples")
    assert 16 in {i.step for i in images}  # the first epoch's grid (then one per 30 s of training)
    assert images[0].width == images[0].height > 28 * 3  # a grid of digits, as PNG
    hparams = acc.PluginTagToContent("hparams")  # the HParams tab: the run's settings, its metrics
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["arch"].string_value == "simple"
    assert start.session_start_info.hparams["lr_g"].number_value > 0  # resolved from the recipe


def test_losses_come_at_the_metrics_cadence(tmp_path):
    """By default a scalar per ~0.1 s of training: metrics.csv's rows, mean for mean."""
    config = tiny_config(tmp_path, max_steps=60, epochs=10)
    engine = Engine(config, dataset=blob_digits(512), run_dir=tmp_path / "run")
    assert engine.run() == "max_steps"
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 1 <= len(rows) < 60 and sum(int(r["steps"]) for r in rows) == 60
    scalars = read_events(tmp_path / "run").Scalars("simple/loss/G")
    assert [s.step for s in scalars] == [int(r["step"]) for r in rows]
    assert [s.value for s in scalars] == pytest.approx([float(r["g_loss"]) for r in rows], rel=1e-5)


def test_quality_figures(tmp_path):
    from tui_gan.quality.report import QualityReport
    from tui_gan.training.tensorboard import TensorBoardLog

    log = TensorBoardLog(tmp_path)
    log.quality("mlp", 100, QualityReport(1000, tuple([0.1] * 10), 10, 0.01, 0.9, 8.5, 23.5), 19.0)
    log.close()
    acc = read_events(tmp_path)
    assert acc.Scalars("mlp/quality/frechet_distance")[0].value == pytest.approx(23.5)
    assert acc.Scalars("mlp/quality/classes_covered")[0].step == 100
    assert acc.Scalars("mlp/quality/real_floor")[0].value == pytest.approx(19.0)


def test_no_tensorboard(tmp_path):
    engine = Engine(
        tiny_config(tmp_path, max_steps=3, tensorboard=False),
        dataset=blob_digits(128),
        run_dir=tmp_path / "run",
    )
    engine.run()
    assert not (tmp_path / "run" / "tensorboard").exists()
