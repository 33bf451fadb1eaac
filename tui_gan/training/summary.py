"""summary.npz: a bounded digest of metrics.csv, so attach, replay and the workspace open a run
in the same time after a day as after a minute.

It holds each architecture's step history (a bounded series of STEP_FIELDS rows, as
StepHistory keeps them), its training clock (a bounded series of TIMING_FIELDS rows: the
workspace draws Frechet distance against training time, and img/s, from it), its last step's
numbers, and the length metrics.csv had when it was written. A reader takes the digest and
only the rows written after that offset (at most a minute's worth); a run without a digest (an
older tui-gan's) is read whole. Torch-free: the replay viewer's process reads it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tui_gan.fileio import atomic_write
from tui_gan.history import HISTORY_BUCKETS, DownsampledSeries
from tui_gan.training.events import STEP_FIELDS, StepPoint

SUMMARY_FILE = "summary.npz"
SUMMARY_EVERY_S = 60.0  # rows after the digest a reader parses: about a minute's worth at most
SUMMARY_BUCKETS = HISTORY_BUCKETS // 2  # each architecture's rows in the digest: ~100 KB
# The clock beside the losses: metrics.csv's step, time_s and images_per_s (the loss rows carry neither).
TIMING_FIELDS = ("step", "time_s", "images_per_s")


@dataclass
class ArchSummary:
    series: DownsampledSeries  # of STEP_FIELDS rows (a StepHistory's, or a viewer's LossPoints')
    last: StepPoint | None
    images_per_s: float
    time_s: float
    timing: DownsampledSeries | None = None  # of TIMING_FIELDS rows; None in a digest from before it


def write_summary(run_dir: Path, archs: dict[str, ArchSummary], metrics_offset: int) -> None:
    arrays: dict[str, np.ndarray] = {"offset": np.int64(metrics_offset), "archs": np.array(list(archs))}
    for i, a in enumerate(archs.values()):
        _put_series(arrays, f"{i}/", a.series, len(STEP_FIELDS))
        if a.timing is not None:
            _put_series(arrays, f"{i}/timing/", a.timing, len(TIMING_FIELDS))
        last = a.last.row() if a.last is not None else ()
        arrays[f"{i}/last"] = np.array(last, dtype=np.float64)
        arrays[f"{i}/figures"] = np.array([a.images_per_s, a.time_s])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    # Not fsynced: rewritten every minute, and a stale or lost digest only means a longer read.
    atomic_write(run_dir / SUMMARY_FILE, lambda f: f.write(buf.getvalue()), durable=False)


def read_summary(run_dir: Path, series: bool = True) -> tuple[dict[str, ArchSummary], int] | None:
    """The digest and its metrics.csv offset, or None when there is none that fits metrics.csv
    (absent, torn, or ahead of a file that lost its end). Without `series`, only each
    architecture's last step and figures (a runs list's row): its series are left empty."""
    try:
        with np.load(run_dir / SUMMARY_FILE) as data:
            offset = int(data["offset"])
            archs = {}
            for i, name in enumerate(data["archs"].tolist()):
                timed = series and f"{i}/timing/rows" in data.files
                steps = _get_series(data, f"{i}/") if series else DownsampledSeries(SUMMARY_BUCKETS)
                timing = _get_series(data, f"{i}/timing/") if timed else None
                last = StepPoint.from_row(data[f"{i}/last"]) if len(data[f"{i}/last"]) else None
                rate, seconds = data[f"{i}/figures"].tolist()
                archs[name] = ArchSummary(steps, last, rate, seconds, timing)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # torn by a crash: read the csv
        return None
    if not _line_end(run_dir / "metrics.csv", offset):
        return None
    return archs, offset


def _put_series(arrays: dict, prefix: str, series: DownsampledSeries, width: int) -> None:
    values, stride, partial, count = series.fitted(SUMMARY_BUCKETS).state()
    arrays[f"{prefix}rows"] = np.array(values, dtype=np.float64).reshape(-1, width)
    arrays[f"{prefix}partial"] = np.zeros(width) + partial  # 0.0 while that bucket is empty
    arrays[f"{prefix}stride"], arrays[f"{prefix}count"] = np.int64(stride), np.int64(count)


def _get_series(data, prefix: str) -> DownsampledSeries:
    return DownsampledSeries.restored(
        SUMMARY_BUCKETS,
        list(data[f"{prefix}rows"]),
        int(data[f"{prefix}stride"]),
        data[f"{prefix}partial"],
        int(data[f"{prefix}count"]),
    )


def _line_end(path: Path, offset: int) -> bool:
    """Whether `offset` is where a line of `path` ends (or 0)."""
    if offset == 0:
        return True
    try:
        with open(path, "rb") as f:
            f.seek(offset - 1)
            return f.read(1) == b"\n"
    except OSError:
        return False
