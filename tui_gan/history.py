"""What the dashboard (and a training job, for viewers that attach later) remembers of a run:
loss series, quality evaluations and sample grids, all in bounded memory however long the run.

Each loss series keeps at most `capacity` values; when full it halves its resolution by
averaging neighbouring pairs, so a week-long run costs the same memory as a minute-long one and
the sparkline still spans the whole run. Sample grids are thinned instead (see SampleHistory)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from tui_gan.training.events import StepPoint

EMA_ALPHA = 0.02  # ~50-step smoothing: steadies the noisy per-batch losses


class DownsampledSeries:
    def __init__(self, capacity: int = 512) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.stride = 1  # raw points averaged into each stored value
        self._values: list[float] = []
        self._sum = 0.0
        self._count = 0

    def add(self, value) -> None:
        """value: a float, or a numpy vector (the job keeps whole loss points this way)."""
        if not _finite(value):  # one inf would flatten the sparkline's scale for good
            return
        self._sum += value
        self._count += 1
        if self._count < self.stride:
            return
        self._values.append(self._sum / self._count)
        self._sum, self._count = 0.0, 0
        if len(self._values) >= self.capacity:
            v = self._values
            self._values = [(v[i] + v[i + 1]) / 2 for i in range(0, len(v) - 1, 2)]
            self.stride *= 2

    def values(self) -> list[float]:
        """Stored values plus the mean of the partly filled bucket, oldest first."""
        if self._count:
            return [*self._values, self._sum / self._count]
        return list(self._values)

    def __len__(self) -> int:
        return len(self._values) + (1 if self._count else 0)


def _finite(value) -> bool:
    if isinstance(value, np.ndarray):
        return bool(np.isfinite(value).all())
    return math.isfinite(value)


@dataclass
class Tracked:
    """One quantity: its bounded series, the latest value and an EMA of it."""

    series: DownsampledSeries
    last: float = math.nan
    ema: float = math.nan

    def add(self, value: float) -> None:
        self.last = value
        self.series.add(value)
        if math.isfinite(value):
            self.ema = value if not math.isfinite(self.ema) else self.ema + EMA_ALPHA * (value - self.ema)


def _tracked(capacity: int) -> Tracked:
    return Tracked(DownsampledSeries(capacity))


@dataclass
class LossHistory:
    """Everything the loss panel shows for one architecture."""

    capacity: int = 512
    d_loss: Tracked = field(init=False)
    g_loss: Tracked = field(init=False)
    d_real: Tracked = field(init=False)
    d_fake: Tracked = field(init=False)
    steps_seen: int = 0
    last_step: int = 0

    def __post_init__(self) -> None:
        self.d_loss, self.g_loss, self.d_real, self.d_fake = (_tracked(self.capacity) for _ in range(4))

    def extend(self, points: Iterable[StepPoint]) -> None:
        for p in points:
            self.d_loss.add(p.d_loss)
            self.g_loss.add(p.g_loss)
            self.d_real.add(p.d_real)
            self.d_fake.add(p.d_fake)
            self.steps_seen += 1
            self.last_step = p.step


@dataclass(frozen=True, eq=False)  # the same refresh is the same object (arrays do not compare)
class Snapshot:
    """One sample refresh: the fixed-noise digits and the interpolation row at a step."""

    step: int
    images: np.ndarray
    interpolation: np.ndarray | None = None
    ema: bool = False  # from the generator's moving average
    per_class: int = 0  # a conditional generator's grid: this many of each class, in class order
    interp_class: int = -1  # the class a conditional interpolation row draws

    @classmethod
    def of(cls, samples) -> Snapshot:
        """From a Samples event (which has these fields, after its arch)."""
        return cls(**{f.name: getattr(samples, f.name) for f in fields(cls)})


class SampleHistory:
    """The sample grids of one architecture, oldest first, for scrubbing and the GIF export.

    At most `capacity` snapshots (~60 KB each): when full, every other snapshot of the older half
    goes, so recent training stays dense, the start of the run is never lost, and memory stays flat."""

    def __init__(self, capacity: int = 120) -> None:
        if capacity < 4:
            raise ValueError("capacity must be >= 4")
        self.capacity = capacity
        self.snapshots: list[Snapshot] = []

    def add(self, snapshot: Snapshot) -> None:
        snaps = self.snapshots
        if snaps and snapshot.step <= snaps[-1].step:
            # The same step again (pause, resize refresh) replaces; an older step means the
            # engine was restarted from earlier weights: what came after is another timeline.
            del snaps[bisect.bisect_left([s.step for s in snaps], snapshot.step) :]
        snaps.append(snapshot)
        if len(snaps) > self.capacity:
            half = len(snaps) // 2
            self.snapshots = snaps[:half:2] + snaps[half:]

    def index_near(self, step: int) -> int:
        """Index of the snapshot at `step`, or the nearest earlier one (0 if none)."""
        i = bisect.bisect_right([s.step for s in self.snapshots], step) - 1
        return max(i, 0)

    def __len__(self) -> int:
        return len(self.snapshots)

    def __getitem__(self, i: int) -> Snapshot:
        return self.snapshots[i]


@dataclass
class QualityHistory:
    """The quality evaluations of one architecture: the latest report and the Frechet distance
    over time (bounded like the loss series)."""

    latest: object | None = None  # ev.Quality
    frechet: DownsampledSeries = field(default_factory=lambda: DownsampledSeries(128))
    count: int = 0

    def add(self, quality) -> None:
        self.latest = quality
        self.frechet.add(quality.report.frechet_distance)
        self.count += 1
