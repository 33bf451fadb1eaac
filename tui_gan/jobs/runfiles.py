"""Reading a run folder back: the loss and quality history and the kept sample grids, so a
viewer that attaches late, a resumed run and a replay of a finished run all start with the run
so far. Torch-free: the replay viewer's process reads these too."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tui_gan.config import NUM_CLASSES
from tui_gan.fileio import atomic_write, atomic_write_bytes
from tui_gan.history import DownsampledSeries, SampleHistory, Snapshot, StepHistory
from tui_gan.quality.report import QualityReport
from tui_gan.training import events as ev
from tui_gan.training.rundir import METRIC_BASE_COLUMNS, METRIC_COLUMNS, QUALITY_BASE_COLUMNS, QUALITY_COLUMNS
from tui_gan.training.summary import (
    SUMMARY_BUCKETS,
    SUMMARY_FILE,
    ArchSummary,
    read_summary,
    write_summary,
)

LOSS_POINTS = 2048  # loss points per architecture a viewer gets on attach (the run's shape, downsampled)
QUALITY_EVENTS = 512  # quality evaluations per architecture kept for attach
_SNAPSHOT_FILE = re.compile(r"step_(\d+)\.npz$")


class LossPoints:
    """One architecture's loss points, downsampled by pair-averaging once `capacity` are kept.
    Read from a run folder, also its training clock: `timing`, TIMING_FIELDS rows (summary.py)."""

    def __init__(self, capacity: int = LOSS_POINTS) -> None:
        self.series = DownsampledSeries(capacity)
        self.timing = DownsampledSeries(capacity)
        self.last: ev.StepPoint | None = None
        self.images_per_s = 0.0  # as of the last metrics row read (a replay's status line)
        self.time_s = 0.0

    @classmethod
    def of(cls, history: StepHistory, capacity: int = LOSS_POINTS) -> LossPoints:
        """A resumed run's history so far, coarsened to `capacity`: the steps that follow weigh
        as they would have had every step come through here."""
        out = cls(capacity)
        out.series = history.series.fitted(capacity)
        return out

    def extend(self, rows: Iterable) -> None:
        """rows: StepPoints or STEP_FIELDS sequences."""
        array = np.array([r.row() if isinstance(r, ev.StepPoint) else r for r in rows], dtype=np.float64)
        if len(array):
            self.series.extend(array.reshape(len(array), -1))  # a Stats event's points in one go
            self.last = ev.StepPoint.from_row(array[-1])

    def points(self) -> tuple[ev.StepPoint, ...]:
        return tuple(ev.StepPoint.from_row(v) for v in self.series.values())


def read_metrics(
    run_dir: Path, capacity: int = LOSS_POINTS, problems: list[str] | None = None, series: bool = True
) -> dict[str, LossPoints]:
    """Each architecture's loss points: the digest (summary.npz) and the metrics.csv rows after
    it, or the whole file downsampled as it is read when there is no digest (an older run).
    `problems` gets a line for damage found (an unknown header, unreadable rows); a last line cut
    short, as a kill leaves it, is no damage. Without `series` only the last point and figures
    are kept (a runs list's row: a third of the time)."""
    out: dict[str, LossPoints] = defaultdict(lambda: LossPoints(capacity))
    found = read_summary(run_dir, series)
    offset = 0
    if found is not None:
        archs, offset = found
        for name, a in archs.items():
            points = out[name]
            points.series, points.last = a.series.fitted(capacity), a.last
            points.images_per_s, points.time_s = a.images_per_s, a.time_s
            if a.timing is not None:
                points.timing = a.timing.fitted(capacity)
    bad = _BadRows("metrics.csv", problems)
    for row in _csv_rows(run_dir / "metrics.csv", METRIC_COLUMNS, METRIC_BASE_COLUMNS, offset, problems):
        try:
            values = [float(row[c]) for c in ev.STEP_FIELDS]
            rate, seconds = float(row["images_per_s"]), float(row["time_s"])
        except (TypeError, ValueError):
            bad.row(False)  # a line cut short by a kill: skip it
            continue
        bad.row(True)
        points = out[row["arch"]]
        if series:
            points.extend([values])
            points.timing.add(np.array([values[0], seconds, rate]))
        else:
            points.last = ev.StepPoint.from_row(values)
        points.images_per_s, points.time_s = rate, seconds
    bad.report()
    return dict(out)


class _BadRows:
    """Counts the rows of a CSV file that do not parse, but a last one (torn by a kill)."""

    def __init__(self, name: str, problems: list[str] | None) -> None:
        self.name, self.problems = name, problems
        self.count, self.last_bad = 0, False

    def row(self, ok: bool) -> None:
        self.count += not ok
        self.last_bad = not ok

    def report(self) -> None:
        damaged = self.count - self.last_bad
        if damaged and self.problems is not None:
            self.problems.append(f"{self.name}: {damaged} unreadable row{'s' * (damaged > 1)}")


def rebuild_summary(run_dir: Path) -> None:
    """A digest of metrics.csv as it is now, read whole: after a resume in place dropped rows,
    or for a run an older tui-gan began (whose architectures the resumed job would not know)."""
    (run_dir / SUMMARY_FILE).unlink(missing_ok=True)
    path = run_dir / "metrics.csv"
    if not path.exists():
        return
    archs = {
        name: ArchSummary(p.series, p.last, p.images_per_s, p.time_s, p.timing)
        for name, p in read_metrics(run_dir, SUMMARY_BUCKETS).items()
    }
    if archs:
        write_summary(run_dir, archs, path.stat().st_size)


def read_quality(run_dir: Path, problems: list[str] | None = None) -> dict[str, list[ev.Quality]]:
    """quality.csv as Quality events per architecture (what the panel needs; costs are not kept).
    `problems`: as read_metrics'."""
    out: dict[str, list[ev.Quality]] = defaultdict(list)
    bad = _BadRows("quality.csv", problems)
    for row in _csv_rows(run_dir / "quality.csv", QUALITY_COLUMNS, QUALITY_BASE_COLUMNS, 0, problems):
        try:
            report = QualityReport(
                n=int(row["n"]),
                histogram=tuple(float(row[f"share_{d}"]) for d in range(NUM_CLASSES)),
                classes_covered=int(row["classes_covered"]),
                kl_to_uniform=float(row["kl_to_uniform"]),
                mean_confidence=float(row["mean_confidence"]),
                classifier_score=float(row["classifier_score"]),
                frechet_distance=float(row["frechet_distance"]),
                class_accuracy=tuple(float(row[f"accuracy_{d}"]) for d in range(NUM_CLASSES))
                if row.get("accuracy")
                else (),
            )
            event = ev.Quality(
                row["arch"],
                step=int(row["step"]),
                epoch=int(row["epoch"]),
                report=report,
                real_floor=float(row["real_floor"]),
                classifier_accuracy=float("nan"),
                seconds=0.0,
            )
        except (TypeError, ValueError):
            bad.row(False)
            continue
        bad.row(True)
        out[row["arch"]].append(event)
    bad.report()
    return {arch: events[-QUALITY_EVENTS:] for arch, events in out.items()}


def _csv_rows(
    path: Path,
    columns: tuple[str, ...],
    required: int | None = None,
    offset: int = 0,
    problems: list[str] | None = None,
):
    """Rows of a CSV file whose header is `columns`, or its first `required` or more of them (a
    file from an older tui-gan, which had fewer); those from byte `offset` on, if it is past the
    header. A file that is there but cannot be read, or has another header, gives none and a line
    in `problems`; so does a line csv cannot split (the rows before it are given)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        _problem(problems, f"{path.name}: {exc.strerror or exc}")
        return
    with f:
        try:
            first = f.readline().decode("utf-8", "replace")
            header = tuple(next(csv.reader([first]), ()))
            if header != columns[: len(header)] or len(header) < (required or len(columns)):
                if first:  # an empty file is one whose header is being written
                    _problem(problems, f"{path.name}: not the file tui-gan writes (unknown header)")
                return
            if offset > f.tell():
                f.seek(offset)
            text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")  # a torn line too
            yield from csv.DictReader(text, fieldnames=header)
        except (OSError, csv.Error) as exc:
            _problem(problems, f"{path.name}: {getattr(exc, 'strerror', None) or exc}")


def _problem(problems: list[str] | None, line: str) -> None:
    if problems is not None:
        problems.append(line)


def truncate_after(run_dir: Path, arch: str, step: int) -> None:
    """Drop `arch`'s metrics and quality rows after `step`: a run resumed in place from a checkpoint
    at `step` redoes those steps, and its files must not hold them twice."""
    for name in ("metrics.csv", "quality.csv"):
        path = run_dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        lines = text.splitlines(keepends=True)
        kept = [lines[0]] if lines else []
        for line in lines[1:]:
            fields = next(csv.reader([line]), [])
            try:
                later = fields[0] == arch and int(fields[1]) > step
            except (IndexError, ValueError):
                later = True  # a torn last line
            if not later:
                kept.append(line)
        if len(kept) != len(lines):
            atomic_write_bytes(path, "".join(kept).encode())


class SampleStore:
    """The sample-history scrubber's grids, kept in the run folder so they outlive the job:
    samples/<arch>/history/step_N.npz, one per kept grid. Thinned exactly as SampleHistory
    thins (files it drops are deleted), so the folder stays bounded too."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.histories: dict[str, SampleHistory] = {}

    def folder(self, arch: str) -> Path:
        return self.run_dir / "samples" / arch / "history"

    def history(self, arch: str) -> SampleHistory:
        if arch not in self.histories:
            self.histories[arch] = self.load(self.run_dir, arch)
        return self.histories[arch]

    @classmethod
    def load(cls, run_dir: Path, arch: str) -> SampleHistory:
        history = SampleHistory()
        for step, path in snapshot_files(run_dir, arch):
            snapshot = read_snapshot(step, path)
            if snapshot is not None:  # a file cut short by a kill: the others still load
                history.add(snapshot)
        return history

    def add(self, event: ev.Samples) -> None:
        history = self.history(event.arch)
        before = {s.step for s in history.snapshots}
        history.add(Snapshot.of(event))
        after = {s.step for s in history.snapshots}
        folder = self.folder(event.arch)
        for step in before - after:
            (folder / f"step_{step:07d}.npz").unlink(missing_ok=True)
        buf = io.BytesIO()
        arrays = {
            "images": event.images,
            "ema": np.bool_(event.ema),
            "per_class": np.int64(event.per_class),
            "interp_class": np.int64(event.interp_class),
            "stage": np.str_(event.stage),
        }
        if event.interpolation is not None:
            arrays["interpolation"] = event.interpolation
        np.savez(buf, **arrays)
        # Written atomically but without waiting for the disk: a lost grid costs nothing, a
        # once-a-second fsync would cost training time.
        atomic_write(folder / f"step_{event.step:07d}.npz", lambda f: f.write(buf.getvalue()), durable=False)

    def drop_after(self, arch: str, step: int) -> None:
        """Forget grids after `step` (a resume from an earlier checkpoint starts another timeline)."""
        history = self.history(arch)
        for snap in [s for s in history.snapshots if s.step > step]:
            (self.folder(arch) / f"step_{snap.step:07d}.npz").unlink(missing_ok=True)
        history.snapshots = [s for s in history.snapshots if s.step <= step]


def snapshot_files(run_dir: Path, arch: str) -> list[tuple[int, Path]]:
    """(step, file) of each kept grid, oldest first, from the file names alone."""
    folder = run_dir / "samples" / arch / "history"
    return sorted(
        (int(m.group(1)), p) for p in folder.glob("step_*.npz") if (m := _SNAPSHOT_FILE.search(p.name))
    )


def read_snapshot(step: int, path: Path) -> Snapshot | None:
    try:
        with np.load(path) as data:
            interp = data["interpolation"] if "interpolation" in data.files else None
            extra = {
                k: data[k].item() for k in ("ema", "per_class", "interp_class", "stage") if k in data.files
            }
            return Snapshot(step, data["images"], interp, **extra)
    except (OSError, ValueError, KeyError, EOFError):
        return None
