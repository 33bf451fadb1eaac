"""The folder a run leaves behind: config, metrics, checkpoints, sample grids, loss plot, GIF.

Layout (one folder per run, architectures you switch to get their own sub-folders):
    config.json  metrics.csv  summary.npz (training/summary.py)  quality.csv  error.log (only after a crash)
    checkpoints/<arch>/latest.pt, step_0001234.pt
    samples/<arch>/epoch_001.png ...
    loss_<arch>.png  progress_<arch>.gif
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tui_gan.config import NUM_CLASSES
from tui_gan.errors import RunDirError
from tui_gan.fileio import append_whole, atomic_write_bytes
from tui_gan.history import StepHistory
from tui_gan.training.events import STEP_FIELDS
from tui_gan.training.metrics_log import EXTRA_COLUMNS, LogRow

QUALITY_COLUMNS = (
    "arch",
    "step",
    "epoch",
    "n",
    "classes_covered",
    "kl_to_uniform",
    "mean_confidence",
    "classifier_score",
    "frechet_distance",
    "real_floor",
    *(f"share_{d}" for d in range(NUM_CLASSES)),
    "accuracy",
    *(f"accuracy_{d}" for d in range(NUM_CLASSES)),  # conditional runs only (else empty)
)
QUALITY_BASE_COLUMNS = 20  # files from before conditional generation end after share_9
# A row stands for the steps of a short interval (training/metrics_log.py): the step columns hold
# the last step's number and the means, EXTRA_COLUMNS the count and extremes (empty for one step).
METRIC_COLUMNS = ("arch", *STEP_FIELDS, "images_per_s", "time_s", *EXTRA_COLUMNS)
GIF_FRAMES = 120  # the progress GIF's epoch grids at most
METRIC_BASE_COLUMNS = 3 + len(STEP_FIELDS)  # files from before the cadence end after time_s


class RunDir:
    def __init__(self, path: Path):
        self.path = path
        self._metric_columns: int | None = None  # known at the first append
        self._metrics_size: int | None = None

    @classmethod
    def create(cls, runs_root: str | os.PathLike, arch: str) -> RunDir:
        root = Path(runs_root).absolute()  # viewers attach from other folders: paths they can use
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            path = root / (f"{stamp}-{arch}" if n == 0 else f"{stamp}-{arch}-{n}")
            try:
                root.mkdir(parents=True, exist_ok=True)
                path.mkdir(mode=0o700, exist_ok=False)  # owner-only: it holds the job's socket
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunDirError(f"cannot create run folder {path}: {exc.strerror or exc}") from None
            return cls.open(path)
        raise RunDirError(f"cannot find a free run folder name under {root}")

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        path = Path(path).absolute()
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(f"run folder {path} is not writable: {exc.strerror or exc}") from None
        return cls(path)

    # --- files -----------------------------------------------------------------------------
    def checkpoint_path(self, arch: str, name: str) -> Path:
        return self.path / "checkpoints" / arch / f"{name}.pt"

    def write_config(self, data: dict[str, Any]) -> Path:
        return atomic_write_bytes(
            self.path / "config.json", (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        )

    def append_metrics(self, arch: str, rows: Iterable[LogRow]) -> None:
        """Rows land whole or not at all (OSError: none of them did; metrics.csv is as it was)."""
        if self._metric_columns is None:
            self._metric_columns = self._metrics_columns()
        out = []
        if self._metrics_size == 0:
            out.append(METRIC_COLUMNS)
        for r in rows:
            step, epoch, *means = r.point.row()
            fields = [arch, step, epoch, *(f"{v:.6g}" for v in means)]
            fields += [f"{r.images_per_s:.1f}", f"{r.time_s:.3f}"]
            if self._metric_columns > METRIC_BASE_COLUMNS:
                extremes = (f"{v:.6g}" for values in zip(r.low, r.high, r.last) for v in values)
                fields += [r.steps, *(extremes if r.steps > 1 else [""] * (len(EXTRA_COLUMNS) - 1))]
            out.append(fields)
        self._metrics_size = append_whole(self.path / "metrics.csv", _csv_text(out))

    def _metrics_columns(self) -> int:
        """A metrics.csv an older tui-gan began keeps its columns."""
        path = self.path / "metrics.csv"
        try:
            with open(path, encoding="utf-8") as f:
                header = next(csv.reader([f.readline()]), [])
            self._metrics_size = path.stat().st_size
        except OSError:
            header, self._metrics_size = [], 0
        if header and tuple(header) == METRIC_COLUMNS[:METRIC_BASE_COLUMNS]:
            return METRIC_BASE_COLUMNS
        if not header:
            self._metrics_size = 0  # an empty file gets the header
        return len(METRIC_COLUMNS)

    def metrics_offset(self) -> int:
        """metrics.csv's length as written so far (0 before the first row)."""
        return self._metrics_size or 0

    def append_quality(self, arch: str, step: int, epoch: int, report, real_floor: float) -> None:
        """quality.csv: one row per evaluation (see tui_gan.quality.QualityReport), whole or not at all."""
        path = self.path / "quality.csv"
        row = (
            arch,
            step,
            epoch,
            report.n,
            report.classes_covered,
            f"{report.kl_to_uniform:.5g}",
            f"{report.mean_confidence:.5g}",
            f"{report.classifier_score:.5g}",
            f"{report.frechet_distance:.5g}",
            f"{real_floor:.5g}",
            *(f"{h:.4f}" for h in report.histogram),
            *(
                (f"{report.accuracy:.4f}", *(f"{a:.4f}" for a in report.class_accuracy))
                if report.class_accuracy
                else [""] * 11
            ),
        )
        new = not path.exists() or not path.stat().st_size
        append_whole(path, _csv_text([QUALITY_COLUMNS, row] if new else [row]))

    def save_samples(self, arch: str, epoch: int, images: np.ndarray, columns: int | None = None) -> Path:
        from tui_gan.render import save_grid_png

        return save_grid_png(images, self.path / "samples" / arch / f"epoch_{epoch:03d}.png", columns)

    def write_loss_plot(self, arch: str, history: StepHistory) -> Path | None:
        """The whole run from its bounded history: each point the mean of a bucket of steps, at
        the bucket's mean step."""
        if not len(history):
            return None
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        h = history.rows()
        fig = Figure(figsize=(8, 5), dpi=100)
        ax, ax2 = fig.subplots(2, 1, sharex=True)
        col_of = STEP_FIELDS.index
        for col, label in ((col_of("d_loss"), "D loss"), (col_of("g_loss"), "G loss")):
            ax.plot(h[:, 0], h[:, col], lw=0.5, alpha=0.35)
            ax.plot(h[:, 0], _smooth(h[:, col]), lw=1.5, label=label, color=ax.lines[-1].get_color())
        ax.set_ylabel("loss")
        ax.legend()
        means = f", each point the mean of {history.stride:,} steps" if history.stride > 1 else ""
        ax.set_title(f"{arch}: {history.last_step} steps{means}")
        for col, label in ((col_of("d_real"), "D(x)"), (col_of("d_fake"), "D(G(z))")):
            ax2.plot(h[:, 0], _smooth(h[:, col]), lw=1.2, label=label)
        ax2.set_ylim(0, 1)
        ax2.set_xlabel("step")
        ax2.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return atomic_write_bytes(self.path / f"loss_{arch}.png", buf.getvalue())

    def write_progress_gif(
        self, arch: str, final: np.ndarray | None = None, columns: int | None = None
    ) -> Path | None:
        """A GIF of the per-epoch grids (and the final one), so training can be replayed at a glance."""
        from PIL import Image

        from tui_gan.render import grid_image, save_gif

        paths = sorted(
            (self.path / "samples" / arch).glob("epoch_*.png"),
            key=lambda p: int(p.stem[6:]) if p.stem[6:].isdigit() else -1,  # epoch_1000 after epoch_999
        )
        if len(paths) > GIF_FRAMES:  # a day-long run: evenly spread frames, the last one among them
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, GIF_FRAMES).round().astype(int)]
        frames = [Image.open(p).convert("L") for p in paths]
        if final is not None:
            frames.append(grid_image(final, columns))
        if not frames:
            return None
        frames = [f.resize((f.width * 2, f.height * 2), Image.NEAREST) for f in frames]
        durations = [400] * (len(frames) - 1) + [2000]
        return save_gif(frames, self.path / f"progress_{arch}.gif", durations)

    def write_error(self, text: str) -> Path:
        return atomic_write_bytes(self.path / "error.log", text.encode())


def _csv_text(rows: Iterable[Iterable]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


def _smooth(values: np.ndarray, window: int = 50) -> np.ndarray:
    window = max(1, min(window, len(values) // 10 or 1))
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")
