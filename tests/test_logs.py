"""metrics.csv by time, and the digest that lets attach and replay skip most of it."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tui_gan.history import StepHistory
from tui_gan.jobs.runfiles import read_metrics, rebuild_summary, truncate_after
from tui_gan.training.events import StepPoint
from tui_gan.training.metrics_log import LogCadence
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.rundir import METRIC_COLUMNS, RunDir
from tui_gan.training.summary import SUMMARY_EVERY_S, SUMMARY_FILE

RATE = 500  # steps per training second: a small model on a GPU


def points(first: int, n: int) -> list[StepPoint]:
    rng = np.random.default_rng(first)
    return [StepPoint(s, s // 1000, *rng.normal([1.3, 0.8, 0.6, 0.4], 0.1)) for s in range(first, first + n)]


def test_cadence_cuts_a_row_per_interval_of_training():
    cadence = LogCadence(0.1, start_s=10.0)
    batch = points(1, 250)  # half a second of steps, as one Stats flush brings them
    rows = cadence.rows(batch, 64_000.0, 10.5)
    assert len(rows) == 5 and sum(r.steps for r in rows) == 250
    assert [r.time_s for r in rows] == pytest.approx([10.1, 10.2, 10.3, 10.4, 10.5])
    first = np.array([p.row()[2:] for p in batch[:50]])
    assert rows[0].point.step == 50 and rows[0].steps == 50
    assert rows[0].point.g_loss == pytest.approx(first[:, 1].mean())
    assert rows[0].low == pytest.approx(tuple(first.min(axis=0)))
    assert rows[0].high == pytest.approx(tuple(first.max(axis=0)))
    assert rows[0].last == pytest.approx(batch[49].row()[2:])
    assert cadence.rows(points(251, 20), 64_000.0, 10.54) == []  # the interval is not over
    (forced,) = cadence.rows([], 64_000.0, 10.56, force=True)  # a checkpoint: what waits is written
    assert forced.steps == 20 and forced.point.step == 270


def test_every_step_keeps_a_row_per_step():
    rows = LogCadence(None).rows(points(1, 7), 100.0, 0.01)
    assert [(r.point.step, r.steps) for r in rows] == [(s, 1) for s in range(1, 8)]


def simulate(outputs: RunOutputs, arch: str, history: StepHistory, start: int, steps: int) -> None:
    """`steps` steps at RATE, flushed every 0.5 s of training as a job flushes its Stats."""
    outputs.begin(arch, (start - 1) / RATE)
    for first in range(start, start + steps, RATE // 2):
        batch = points(first, min(RATE // 2, start + steps - first))
        history.extend(batch)
        outputs.steps(arch, history, batch, 64_000.0, batch[-1].step / RATE)
    outputs.steps(arch, history, [], 64_000.0, (start + steps - 1) / RATE, force=True)


def test_files_grow_with_training_time_and_the_digest_skips_what_it_holds(tmp_path):
    run = RunDir.open(tmp_path)
    outputs = RunOutputs(run)
    history = StepHistory()
    simulate(outputs, "mlp", history, 1, RATE * 300)  # five minutes at GPU speed
    outputs.close()
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == pytest.approx(300 / 0.1, rel=0.01)  # a row per 0.1 s, not per step
    assert sum(int(r["steps"]) for r in rows) == RATE * 300

    whole = read_metrics(tmp_path)  # through the digest: written at the end, nothing after it
    assert (tmp_path / SUMMARY_FILE).exists()
    (tmp_path / SUMMARY_FILE).unlink()
    assert read_metrics(tmp_path)["mlp"].last.step == whole["mlp"].last.step == RATE * 300

    # The digest is what a reader takes for the rows before its offset: rewrite those rows
    # (same length) as another architecture's, and the digest-based read does not see them.
    outputs = RunOutputs(run)
    simulate(outputs, "mlp", history, RATE * 300 + 1, RATE * 2 * int(SUMMARY_EVERY_S))
    outputs.close()
    lines = (tmp_path / "metrics.csv").read_bytes().splitlines(keepends=True)
    ghost = b"ghost,1,0,9,9,9,9,0,0,1"
    lines[1:1001] = [ghost + b"," * (len(line) - len(ghost) - 1) + b"\n" for line in lines[1:1001]]
    (tmp_path / "metrics.csv").write_bytes(b"".join(lines))
    read = read_metrics(tmp_path)
    assert set(read) == {"mlp"}
    assert read["mlp"].last.step == RATE * (300 + 2 * int(SUMMARY_EVERY_S))
    assert len(read["mlp"].points()) > 1000
    (tmp_path / SUMMARY_FILE).unlink()
    assert set(read_metrics(tmp_path)) == {"ghost", "mlp"}  # read whole, the rewritten rows show


def test_a_killed_job_is_read_from_its_digest_and_the_rows_after_it(tmp_path):
    run = RunDir.open(tmp_path)
    outputs = RunOutputs(run)
    history = StepHistory()
    simulate(outputs, "dcgan", history, 1, int(RATE * (SUMMARY_EVERY_S + 20)))
    # killed: no outputs.close(), so the digest is the one from a minute in
    read = read_metrics(tmp_path)["dcgan"]
    assert read.last.step == int(RATE * (SUMMARY_EVERY_S + 20))
    steps = [p.step for p in read.points()]
    assert steps == sorted(steps) and steps[-1] > RATE * SUMMARY_EVERY_S


def test_an_old_run_without_digest_opens_and_keeps_its_columns(tmp_path):
    """A run from before the cadence: a row per step, nine columns, no summary.npz."""
    old_columns = METRIC_COLUMNS[:9]
    with open(tmp_path / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(old_columns)
        for p in points(1, 3000):
            writer.writerow(("simple", *p.row(), 6400.0, p.step / 100))
    assert read_metrics(tmp_path)["simple"].last.step == 3000
    outputs = RunOutputs(RunDir.open(tmp_path))
    simulate(outputs, "simple", StepHistory(), 3001, 500)
    outputs.close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(old_columns) and all(line.count(",") == 8 for line in lines)
    assert read_metrics(tmp_path)["simple"].last.step == 3500


def test_a_resume_in_place_rebuilds_the_digest(tmp_path):
    run = RunDir.open(tmp_path)
    outputs = RunOutputs(run)
    for arch in ("mlp", "simple"):
        simulate(outputs, arch, StepHistory(), 1, RATE * 10)
    outputs.close()
    truncate_after(tmp_path, "simple", RATE * 4)  # the resumed checkpoint's step
    rebuild_summary(tmp_path)
    read = read_metrics(tmp_path)
    assert read["simple"].last.step <= RATE * 4 and read["mlp"].last.step == RATE * 10
    (tmp_path / SUMMARY_FILE).write_bytes(b"torn")  # a digest that cannot be read: the file is
    assert read_metrics(tmp_path)["mlp"].last.step == RATE * 10
