"""Everything a run writes as it trains, in one place: its folder (tui_gan/training/rundir.py)
and the TensorBoard event files beside it. A run without a folder writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from tui_gan.config import TrainConfig
from tui_gan.errors import WriteFailed
from tui_gan.fileio import reason
from tui_gan.history import DownsampledSeries, StepHistory
from tui_gan.training.device import cuda_ids
from tui_gan.training.events import StepPoint
from tui_gan.training.metrics_log import LOG_INTERVAL, LogCadence
from tui_gan.training.rundir import RunDir
from tui_gan.training.summary import (
    SUMMARY_BUCKETS,
    SUMMARY_EVERY_S,
    SUMMARY_FILE,
    ArchSummary,
    read_summary,
    write_summary,
)

EPOCH_GRID_EVERY_S = 30.0
# What TensorBoard's HParams tab compares runs by, besides the recipe the run trains with.
HPARAM_KEYS = ("arch", "dataset", "batch_size", "seed", "precision", "conditional", "recipe")


def hparam_values(config: TrainConfig) -> dict:
    """The settings that tell a run from another: its recipe as resolved for its architecture
    (an option left to the recipe has the recipe's value), and what it trains."""
    import dataclasses

    from tui_gan.training.recipes import resolve

    values = config.to_dict()
    found = {key: values[key] for key in HPARAM_KEYS}
    found.update(dataclasses.asdict(resolve(config, config.arch)))
    return found


class RunOutputs:
    def __init__(self, run_dir: RunDir | None, every_step: bool = False) -> None:
        """every_step: a metrics row per step (--log-every-step), else one per LOG_INTERVAL."""
        self.run_dir = run_dir
        self._interval = None if every_step else LOG_INTERVAL
        self._cadences: dict[str, LogCadence] = {}
        self._summaries: dict[str, ArchSummary] | None = None  # loaded at the first digest
        self._timings: dict[str, DownsampledSeries] = {}  # each arch's (step, time_s, img/s) rows
        self._summarized = 0.0  # training seconds at the last digest
        # Rows a failed write (a full disk) left to write: written, in order, at the next chance.
        self._unwritten: list[tuple[str, list]] = []
        self._unwritten_quality: list[tuple] = []
        self._epoch_grid_at: dict[str, float] = {}  # training seconds at each arch's last epoch grid
        self.grid_columns: int | None = None  # a conditional run's grids: a row per class (None: square)
        self.tensorboard = None  # TensorBoardLog
        self._system = None  # SystemMonitor for the GPU/CPU figures TensorBoard gets
        self.last_system = None  # its latest reading (a job's status reports it: no probe of its own)

    def open_tensorboard(
        self, config: TrainConfig, device: torch.device, resumed_step: int | None
    ) -> str | None:
        """Event files beside metrics.csv, plus a probe for the GPU figures they log. Returns why
        they are off when they cannot be written."""
        if self.run_dir is None or not config.tensorboard:
            return None
        try:
            from tui_gan.training.tensorboard import TensorBoardLog

            self.tensorboard = TensorBoardLog(
                self.run_dir.path, None if resumed_step is None else resumed_step + 1
            )
        except Exception as exc:  # e.g. the tensorboard package missing: the run goes on without it
            return f"TensorBoard logging is off: {type(exc).__name__}: {exc}"
        self._tb("hparams", hparam_values(config), config.arch)
        from tui_gan.system import DeviceIds, SystemMonitor

        self._system = SystemMonitor(
            str(device), torch.get_num_threads(), device_ids=DeviceIds(*cuda_ids(device))
        )
        return None

    def write_config(
        self, config: TrainConfig, dataset, device: torch.device, precision: str, resumed_from
    ) -> None:
        """config.json: the settings, and what they resolved to here."""
        if self.run_dir is None:
            return
        self.run_dir.write_config(
            {
                **config.to_dict(),
                "dataset_source": dataset.source,
                "dataset_split": dataset.split,
                "dataset_size": len(dataset),
                "device_resolved": str(device),
                "precision_resolved": precision,
                "resumed_from": str(resumed_from) if resumed_from else None,
                "torch": torch.__version__,
            }
        )

    def begin(self, arch: str, train_time: float) -> None:
        """`arch` trains from here: its first row's interval starts at `train_time`."""
        if arch not in self._cadences:
            self._cadences[arch] = LogCadence(self._interval, train_time)

    def steps(
        self,
        arch: str,
        history: StepHistory,
        points: Sequence[StepPoint],
        images_per_s: float,
        train_time: float,
        force: bool = False,
    ) -> None:
        """New steps (already in `history`) to metrics.csv and TensorBoard at the log cadence;
        `force` writes what waits for its interval to end. The digest is rewritten every
        SUMMARY_EVERY_S of training."""
        if self.run_dir is None:
            return
        self.begin(arch, train_time)
        digest = abs(train_time - self._summarized) >= SUMMARY_EVERY_S
        rows = self._cadences[arch].rows(points, images_per_s, train_time, force or digest)
        if rows:
            self._timing(arch).extend(np.array([(r.point.step, r.time_s, r.images_per_s) for r in rows]))
            self._unwritten.append((arch, rows))
            self._tb("steps", arch, rows)
            self._tb("system", rows[-1].point.step, self._poll_system)
        if points:
            summary = ArchSummary(history.series, points[-1], images_per_s, train_time, self._timing(arch))
            self._saved()[arch] = summary
        self.retry()
        if digest:
            self._write_summary(train_time)

    def retry(self) -> None:
        """Write the metrics and quality rows a failed write left waiting (WriteFailed: they wait
        on). Rows are appended whole, in order, each once."""
        if self.run_dir is None:
            return
        if self.tensorboard is not None:
            self._guard(self.run_dir.path / "tensorboard", self.tensorboard.reopen)
        while self._unwritten:
            self._guard(self.run_dir.path / "metrics.csv", self.run_dir.append_metrics, *self._unwritten[0])
            self._unwritten.pop(0)
        while self._unwritten_quality:
            quality = self._unwritten_quality[0]
            self._guard(self.run_dir.path / "quality.csv", self.run_dir.append_quality, *quality)
            self._unwritten_quality.pop(0)

    def _tb(self, write: str, *args) -> None:
        if self.tensorboard is not None:
            self._guard(self.run_dir.path / "tensorboard", self.tensorboard.write, write, *args)

    @staticmethod
    def _guard(path, write: Callable, *args) -> None:
        try:
            write(*args)
        except OSError as exc:
            raise WriteFailed(path, reason(exc)) from None

    def _saved(self) -> dict[str, ArchSummary]:
        """The digest's architectures: at first as an earlier job of this run left them."""
        if self._summaries is None:
            found = read_summary(self.run_dir.path)
            self._summaries = found[0] if found else {}
        return self._summaries

    def _timing(self, arch: str) -> DownsampledSeries:
        """`arch`'s training clock, continued from the digest (a resumed run's, rebuilt by then)."""
        if arch not in self._timings:
            kept = self._saved().get(arch)
            timing = kept.timing if kept is not None else None
            self._timings[arch] = (
                timing.fitted(SUMMARY_BUCKETS) if timing is not None else DownsampledSeries(SUMMARY_BUCKETS)
            )
        return self._timings[arch]

    def _poll_system(self):
        self.last_system = self._system.poll()
        return self.last_system

    def _write_summary(self, train_time: float | None = None) -> None:
        if train_time is not None:
            self._summarized = train_time
        if self._summaries and not self._unwritten:  # its offset must be where the rows it holds end
            args = (self.run_dir.path, self._summaries, self.run_dir.metrics_offset())
            self._guard(self.run_dir.path / SUMMARY_FILE, write_summary, *args)

    def quality(self, arch: str, step: int, epoch: int, report, real_floor: float) -> None:
        self._tb("quality", arch, step, report, real_floor)
        if self.run_dir is not None:
            self._unwritten_quality.append((arch, step, epoch, report, real_floor))
            self.retry()

    def samples(self, arch: str, step: int, train_time: float, grid: np.ndarray) -> None:
        """A live sample refresh: TensorBoard keeps one every so often."""
        self._tb("samples", arch, step, grid, train_time, self.grid_columns)

    def epoch_samples(
        self, arch: str, epoch: int, step: int, train_time: float, grid: Callable[[], np.ndarray]
    ) -> None:
        """The grid at an epoch's end (samples/<arch>/epoch_N.png, and TensorBoard), at most one
        per EPOCH_GRID_EVERY_S of training: on a GPU an MNIST epoch takes two seconds."""
        if self.run_dir is None:
            return
        last = self._epoch_grid_at.get(arch)
        if last is not None and train_time - last < EPOCH_GRID_EVERY_S:
            return
        self._epoch_grid_at[arch] = train_time
        images = grid()
        path = self.run_dir.path / "samples" / arch
        write = (self.run_dir.save_samples, arch, epoch, images, self.grid_columns)
        try:
            self._guard(path, *write)
        except WriteFailed as failed:  # the grid is kept: written with the rest once there is room
            failed.again = lambda: self._guard(path, *write)
            raise
        self._tb("samples", arch, step, images, None, self.grid_columns)

    def crash(self, text: str) -> str | None:
        """The traceback in error.log; its path, if written."""
        if self.run_dir is None:
            return None
        try:
            return str(self.run_dir.write_error(text))
        except OSError:
            return None

    def finish(self, arch: str, history: StepHistory, final_grid: Callable[[], np.ndarray | None]) -> None:
        """The loss plot and progress GIF of one architecture."""
        if self.run_dir is None or not history:
            return
        self.run_dir.write_loss_plot(arch, history)
        self.run_dir.write_progress_gif(arch, final_grid(), self.grid_columns)

    def close(self) -> None:
        if self.run_dir is not None:
            if self._summaries:  # the digest as the job ends (the final flush wrote every row)
                try:
                    self._write_summary()
                except WriteFailed:
                    pass  # a missing digest only means a longer read of metrics.csv
        if self.tensorboard is not None:
            self.tensorboard.close()
            self._system.close()
