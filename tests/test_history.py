"""The bounded histories behind the dashboard's panels (tui_gan/history.py): loss series, sample
grids and quality evaluations keep bounded memory however long the run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_gan.history import DownsampledSeries, LossHistory, QualityHistory, SampleHistory, Snapshot
from tui_gan.quality import QualityReport
from tui_gan.training import events as ev

# --- loss series -------------------------------------------------------------------------------


def test_downsampled_series_is_bounded_and_keeps_the_mean():
    series = DownsampledSeries(capacity=64)
    values = np.sin(np.arange(100_000) / 500.0) + 2.0
    for v in values:
        series.add(float(v))
    stored = series.values()
    assert len(stored) <= 64 and series.stride >= 100_000 // 64
    assert math.isclose(np.mean(stored), values.mean(), rel_tol=0.02)
    series.add(float("inf"))  # a diverged loss does not wreck the scale
    assert all(math.isfinite(v) for v in series.values())


def test_loss_history_tracks_last_and_ema():
    h = LossHistory(capacity=8)
    pts = [ev.StepPoint(i, 0, 1.0 if i < 100 else 0.0, 2.0, 0.9, 0.1) for i in range(1, 201)]
    h.extend(pts)
    assert h.steps_seen == 200 and h.last_step == 200
    assert h.d_loss.last == 0.0 and 0.0 < h.d_loss.ema < 0.2  # smoothed toward the new level
    assert h.g_loss.ema == pytest.approx(2.0) and len(h.d_loss.series) <= 8


# --- sample grids ------------------------------------------------------------------------------


def _snap(step: int) -> Snapshot:
    return Snapshot(step, np.full((2, 28, 28), step % 256, np.uint8))


def test_sample_history_is_bounded_keeps_both_ends_and_thins_old_ones():
    h = SampleHistory(capacity=20)
    for step in range(1, 1001):
        h.add(_snap(step))
    steps = [s.step for s in h.snapshots]
    assert len(h) <= 20 and steps[0] == 1 and steps[-1] == 1000
    assert steps == sorted(steps)
    gaps = np.diff(steps)
    assert gaps[-1] == 1 and gaps[0] > gaps[-1]  # recent ones dense, old ones thinned
    assert h.index_near(steps[3]) == 3 and h.index_near(steps[3] + 1) in (3, 4) and h.index_near(0) == 0


def test_sample_history_replaces_a_repeated_step():
    h = SampleHistory(capacity=8)
    h.add(_snap(5))
    h.add(_snap(9))
    again = _snap(9)
    h.add(again)  # the pause refresh of the same step
    assert [s.step for s in h.snapshots] == [5, 9] and h[-1] is again


# --- quality evaluations -----------------------------------------------------------------------


def test_quality_history_keeps_the_latest_and_the_distance_trend():
    h = QualityHistory()
    for fd in (90.0, 40.0, 20.0):
        report = QualityReport(100, (0.1,) * 10, 10, 0.0, 0.9, 8.0, fd)
        h.add(
            ev.Quality(
                "simple",
                step=1,
                epoch=0,
                report=report,
                real_floor=9.0,
                classifier_accuracy=0.98,
                seconds=0.02,
            )
        )
    assert (
        h.count == 3 and h.latest.report.frechet_distance == 20.0 and h.frechet.values() == [90.0, 40.0, 20.0]
    )
