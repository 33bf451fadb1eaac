"""TensorBoard event files beside metrics.csv (RUN_DIR/tensorboard/), so TensorBoard, W&B sync
and Aim read tui-gan runs: losses and D outputs per step, img/s, quality figures, GPU (or CPU)
figures, and the sample grid as an image. Losses come at metrics.csv's cadence.

Tags are "<arch>/<what>", so the architectures of one run sit side by side. A run resumed in
place purges what the folder's older event files logged after the checkpoint's step, as
metrics.csv drops those rows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tui_gan.training.events import STEP_VALUES
from tui_gan.training.metrics_log import LogRow

IMAGE_EVERY_S = 30.0  # a grid at most this often (and at every epoch's end): ~20 KB each
SYSTEM_EVERY_S = 10.0
TAGS = dict(zip(STEP_VALUES, ("loss/D", "loss/G", "D(x)", "D(G(z))")))  # tag of each step value


MAX_WAITING = 200  # writes kept while the event file cannot be written (a full disk)


class TensorBoardLog:
    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        self.folder = run_dir / "tensorboard"
        self.writer = self._open(purge_step)
        self.failed: OSError | None = None  # the writer thread's error: a new event file is due
        self._waiting: list[tuple[str, tuple]] = []  # writes made since, to make in the new file
        self._last_image: dict[str, float] = {}
        self._last_system = 0.0

    def _open(self, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        _quiet_writer_threads()
        return SummaryWriter(str(self.folder), purge_step=purge_step, flush_secs=10)

    def write(self, what: str, *args) -> None:
        """One of the writes below. The event file is written by a thread of TensorBoard's; when
        that fails (OSError: a full disk), the error surfaces at a later write and the writer is
        dead. The write is kept (and later ones, up to MAX_WAITING) for reopen()."""
        if self.failed is None:
            try:
                return getattr(self, what)(*args)
            except OSError as exc:
                self.failed = exc
        if len(self._waiting) < MAX_WAITING:
            self._waiting.append((what, args))
        raise self.failed

    def reopen(self) -> None:
        """After a failure, a new event file with the writes kept since (what was in flight in
        the dead thread is lost: metrics.csv has it). OSError while the disk still refuses."""
        if self.failed is None:
            return
        try:
            self.writer.close()  # the old file ends with what reached it
        except OSError:
            pass
        self.writer = self._open()
        self.failed = None
        while self._waiting:
            what, args = self._waiting[0]
            getattr(self, what)(*args)
            self._waiting.pop(0)

    def steps(self, arch: str, rows: Sequence[LogRow]) -> None:
        """metrics.csv's rows (training/metrics_log.py): each interval's mean losses and D
        outputs at its last step, one event of four values, written straight to the file writer
        (~13 us a value here, against ~37 through add_scalar's checks)."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        value, write = Summary.Value, self.writer.file_writer.add_summary
        tags = [f"{arch}/{tag}" for tag in TAGS.values()]
        for r in rows:
            _, _, *means = r.point.row()
            write(Summary(value=[value(tag=t, simple_value=v) for t, v in zip(tags, means)]), r.point.step)
        if rows and rows[-1].images_per_s:
            self.writer.add_scalar(f"{arch}/images_per_s", rows[-1].images_per_s, rows[-1].point.step)

    def quality(self, arch: str, step: int, report, real_floor: float) -> None:
        add = self.writer.add_scalar
        add(f"{arch}/quality/frechet_distance", report.frechet_distance, step)
        add(f"{arch}/quality/real_floor", real_floor, step)
        add(f"{arch}/quality/classes_covered", report.classes_covered, step)
        add(f"{arch}/quality/classifier_score", report.classifier_score, step)
        add(f"{arch}/quality/mean_confidence", report.mean_confidence, step)
        add(f"{arch}/quality/kl_to_uniform", report.kl_to_uniform, step)
        if report.accuracy is not None:  # a conditional generator: drawn as the class asked for
            add(f"{arch}/quality/class_accuracy", report.accuracy, step)

    def samples(
        self, arch: str, step: int, images: np.ndarray, train_time: float | None = None, columns=None
    ) -> None:
        """The fixed-noise grid (uint8 greys), at most every IMAGE_EVERY_S of training; always
        when `train_time` is None (an epoch's grid)."""
        if train_time is not None:
            if train_time - self._last_image.get(arch, -math.inf) < IMAGE_EVERY_S:
                return
            self._last_image[arch] = train_time
        from tui_gan.render import grid_image

        self.writer.add_image(
            f"{arch}/samples", np.asarray(grid_image(images, columns)), step, dataformats="HW"
        )

    def system(self, step: int, poll: Callable[[], object]) -> None:
        """GPU (or CPU) figures from poll() (a tui_gan.system monitor's), at most every SYSTEM_EVERY_S."""
        now = time.monotonic()
        if now - self._last_system < SYSTEM_EVERY_S:
            return
        self._last_system = now
        from tui_gan.system import GPUStatus

        status = poll()
        if isinstance(status, GPUStatus):
            figures = {
                "gpu/util_percent": status.util_percent,
                "gpu/mem_used_bytes": status.mem_used_bytes,
                "gpu/run_mem_bytes": status.process_mem_bytes,
                "gpu/temperature_c": status.temperature_c,
                "gpu/power_w": status.power_w,
            }
        else:
            figures = {
                "cpu/percent": status.cpu_percent,
                "cpu/ram_used_bytes": status.ram_used_bytes,
                "cpu/run_rss_bytes": status.process_rss_bytes,
            }
        for tag, value in figures.items():
            if value is not None:  # n/a on this device
                self.writer.add_scalar(f"system/{tag}", value, step)

    def hparams(self, config: dict, arch: str) -> None:
        """The run's settings for TensorBoard's HParams tab, where a sweep's runs (each a run of
        the sweep folder's logdir) line up against their quality figures."""
        from torch.utils.tensorboard.summary import hparams

        values = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in config.items()}
        metrics = {f"{arch}/quality/{m}": 0.0 for m in ("frechet_distance", "classes_covered")}
        experiment, start, end = hparams(values, metrics)
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)

    def close(self) -> None:
        try:
            self.writer.close()
        except OSError:  # still no room: the event file ends with what reached it
            pass


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread re-raises its OSError to the default thread hook, which would
    print a traceback into a headless job's log; the error reaches TensorBoardLog.write anyway."""
    import threading

    from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread

    previous = threading.excepthook
    if getattr(previous, "tui_gan_quiet", False):
        return

    def hook(args) -> None:
        if not (isinstance(args.thread, _AsyncWriterThread) and issubclass(args.exc_type, OSError)):
            previous(args)

    hook.tui_gan_quiet = True
    threading.excepthook = hook
