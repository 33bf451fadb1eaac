"""The bounded histories behind the dashboard's panels (tui_gan/history.py): loss series, sample
grids and quality evaluations keep bounded memory however long the run."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from tui_gan.history import (
    HISTORY_BUCKETS,
    DownsampledSeries,
    LossHistory,
    QualityHistory,
    SampleHistory,
    Snapshot,
    StepHistory,
)
from tui_gan.jobs.runfiles import LossPoints
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


def test_extend_keeps_what_adding_one_by_one_keeps():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(5000, 3))
    rows[77, 1] = np.nan  # skipped whole, as add skips it
    one, batched = DownsampledSeries(64), DownsampledSeries(64)
    for row in rows:
        one.add(row)
    for start in range(0, len(rows), 37):
        batched.extend(rows[start : start + 37])
    assert batched.stride == one.stride
    np.testing.assert_allclose(batched.values(), one.values())


def test_a_fitted_series_goes_on_as_if_it_had_seen_every_value():
    values = np.sin(np.arange(30_001) / 300.0)
    big, small = DownsampledSeries(4096), DownsampledSeries(64)
    big.extend(values[:20_001])
    small.extend(values[:20_001])
    fitted = big.fitted(64)
    assert fitted.stride == small.stride and len(fitted) <= 64
    fitted.extend(values[20_001:])
    small.extend(values[20_001:])
    np.testing.assert_allclose(fitted.values(), small.values())


def _points(first: int, last: int) -> list[ev.StepPoint]:
    """Steps first..last with a slow trend in each loss, the epoch changing every 937 steps."""
    return [
        ev.StepPoint(i, (i - 1) // 937, 1.0 + math.sin(i / 5e4), 0.8 + i / 1e6, 0.55, 0.45)
        for i in range(first, last + 1)
    ]


def _feed(history: StepHistory, points: list[ev.StepPoint], batch: int = 32) -> None:
    for start in range(0, len(points), batch):  # as the Reporter does, a GPU's batch of steps at a time
        history.extend(points[start : start + batch])


def test_step_history_keeps_a_short_run_step_by_step():
    h = StepHistory()
    points = _points(1, 100)
    _feed(h, points)
    assert list(h) == [p.row() for p in points] and h.stride == 1 and h.last_step == 100


def test_step_history_memory_is_bounded_and_it_spans_the_whole_run():
    points = _points(1, 200_000)
    h = StepHistory()
    tracemalloc.start()
    try:
        _feed(h, points[:10_000])
        at_10k = tracemalloc.get_traced_memory()[0]
        _feed(h, points[10_000:])
        at_200k, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(h) <= HISTORY_BUCKETS and h.stride > 1
    assert at_200k < 1_000_000 and peak < 4_000_000  # ~130 bytes a row; a list of row tuples was 60 MB
    assert at_200k - at_10k < 500_000
    spans = h.spans()
    assert spans[0, 0] == 1 and h.last_step == 200_000
    assert (spans[1:, 0] == spans[:-1, 1] + 1).all()  # every step in exactly one row
    d_loss = np.array([p.d_loss for p in points])
    assert h.rows()[:, 2].mean() == pytest.approx(d_loss.mean(), rel=1e-3)


def test_step_history_state_resumes_as_if_never_stopped():
    points = _points(1, 50_000)
    straight, first = StepHistory(), StepHistory()
    _feed(straight, points)
    _feed(first, points[:23_456])
    state = first.state()
    resumed = StepHistory.restored(state["rows"], state["stride"], state["partial"], state["count"])
    _feed(resumed, points[23_456:])
    assert resumed.stride == straight.stride
    np.testing.assert_allclose(resumed.rows(), straight.rows())
    np.testing.assert_array_equal(resumed.spans(), straight.spans())


def test_old_per_step_rows_are_downsampled_on_restore():
    points = _points(1, 30_000)
    straight = StepHistory()
    _feed(straight, points)
    restored = StepHistory.restored(np.array([p.row() for p in points]))
    assert len(restored) <= HISTORY_BUCKETS and restored.last_step == 30_000
    np.testing.assert_allclose(restored.rows(), straight.rows())


def test_a_resumed_jobs_viewer_series_weighs_every_step_alike():
    """jobs/server.py seeds its viewers' series from the resumed history: the steps after the
    resume must not count more than those before it."""
    points = _points(1, 60_000)
    history = StepHistory()
    _feed(history, points[:40_000])
    seeded, straight = LossPoints.of(history), LossPoints()
    for start in range(40_000, 60_000, 50):
        seeded.extend(points[start : start + 50])
    for start in range(0, 60_000, 50):
        straight.extend(points[start : start + 50])
    assert [p.step for p in seeded.points()] == [p.step for p in straight.points()]
    np.testing.assert_allclose([p.d_loss for p in seeded.points()], [p.d_loss for p in straight.points()])


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


def test_the_loss_plot_spans_the_whole_run_from_the_bounded_history(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from tui_gan.training.rundir import RunDir

    drawn, save = [], Figure.savefig

    def savefig(fig, *args, **kwargs):  # the figure, to read what it plots
        drawn.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    history = StepHistory()
    _feed(history, _points(1, 200_000), batch=1000)
    path = RunDir.open(tmp_path).write_loss_plot("simple", history)
    assert path.stat().st_size > 10_000
    ax = drawn[0].axes[0]
    x = ax.lines[0].get_xdata()
    assert len(x) == len(history) and x[0] <= history.stride and x[-1] >= 200_000 - history.stride
    assert ax.get_title().startswith("simple: 200000 steps, each point the mean of")
