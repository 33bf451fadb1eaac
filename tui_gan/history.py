"""What the dashboard, a training job (for viewers that attach later) and each architecture's
checkpoints remember of a run: loss series, every step's numbers, quality evaluations and sample
grids, all in bounded memory however long the run.

Each loss series keeps at most `capacity` values; when full it halves its resolution by
averaging neighbouring pairs, so a week-long run costs the same memory as a minute-long one and
the sparkline still spans the whole run. StepHistory keeps whole StepPoint rows the same way.
Sample grids are thinned instead (see SampleHistory)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from tui_gan.training.events import STEP_FIELDS, StepPoint

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
        if self._count >= self.stride:
            self._close_bucket()

    def extend(self, values: np.ndarray) -> None:
        """Many values at once, kept as add() one by one would keep them (to rounding): a 1-D
        array of floats, or a 2-D array of vectors, one a row. Numpy sums each bucket's share, so
        a batch of steps costs about one add, whatever its length."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) < 4:  # numpy's cost per call outweighs its saving per value here
            for value in values:
                self.add(value)
            return
        finite = np.isfinite(values)
        values = values[finite if values.ndim == 1 else finite.all(axis=1)]
        i = 0
        while i < len(values):
            take = min(self.stride - self._count, len(values) - i)
            self._sum = self._sum + values[i : i + take].sum(axis=0)  # a new array: never shared
            self._count += take
            i += take
            if self._count >= self.stride:
                self._close_bucket()

    def _close_bucket(self) -> None:
        self._values.append(self._sum / self._count)
        self._sum, self._count = 0.0, 0
        if len(self._values) >= self.capacity:
            self._coarsen()

    def _coarsen(self) -> None:
        """Halve the resolution: neighbouring pairs averaged. An odd last value goes back into
        the partly filled bucket, which it then fills less than the doubled stride."""
        v = self._values
        if len(v) % 2:
            self._sum = v[-1] * self.stride + self._sum
            self._count += self.stride
        self._values = [(v[i] + v[i + 1]) / 2 for i in range(0, len(v) - 1, 2)]
        self.stride *= 2

    def fitted(self, capacity: int) -> DownsampledSeries:
        """A copy with room for `capacity` values, coarsened as far as that needs: values added
        to it from now on weigh as they would have had it seen every value itself."""
        return DownsampledSeries.restored(capacity, self._values, self.stride, self._sum, self._count)

    @classmethod
    def restored(cls, capacity: int, values, stride: int, partial=0.0, count: int = 0) -> DownsampledSeries:
        """A series from its parts (see `state`): complete buckets of `stride` values each, then
        the sum and count of the partly filled one."""
        out = cls(capacity)
        out._values, out.stride = list(values), stride  # stored values are replaced, never changed in place
        out._sum, out._count = (partial.copy() if isinstance(partial, np.ndarray) else partial), count
        while len(out._values) >= capacity:
            out._coarsen()
        return out

    def state(self) -> tuple[list, int, object, int]:
        """The complete buckets' values, the stride, the partly filled bucket's sum and count."""
        return list(self._values), self.stride, self._sum, self._count

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


HISTORY_BUCKETS = 4096  # rows an architecture's history keeps: ~200 KB in memory or a checkpoint


class StepHistory:
    """Every step of one architecture's run in memory (and checkpoints) that does not grow with
    the step count: at most `capacity` rows, each the mean StepPoint row (STEP_FIELDS) of a bucket
    of consecutive steps, buckets merging pairwise when full (a DownsampledSeries of rows), so the
    rows span the whole run at any length. A run shorter than `capacity` steps keeps every step.

    No dense tail of recent steps: on a loss plot of a long run it would be under a pixel wide,
    and a viewer's series (jobs/runfiles.py) is coarser still."""

    def __init__(self, capacity: int = HISTORY_BUCKETS) -> None:
        self.series = DownsampledSeries(capacity)

    def extend(self, points: Iterable[StepPoint]) -> None:
        rows = [p.row() for p in points]
        if rows:
            self.series.extend(np.array(rows, dtype=np.float64))

    @property
    def stride(self) -> int:
        """Steps in each complete row's bucket."""
        return self.series.stride

    def rows(self) -> np.ndarray:
        """(n, len(STEP_FIELDS)) float64, oldest first; the last row may stand for fewer steps."""
        return np.array(self.series.values(), dtype=np.float64).reshape(-1, len(STEP_FIELDS))

    def spans(self) -> np.ndarray:
        """(n, 2): the first and last step of each row's bucket (steps are consecutive, so a bucket
        of k steps lies (k - 1) / 2 either side of its mean step)."""
        _, stride, _, count = self.series.state()
        sizes = np.full(len(self), stride, dtype=np.float64)
        if count:
            sizes[-1] = count
        centres = self.rows()[:, 0]
        return np.round(np.stack([centres - (sizes - 1) / 2, centres + (sizes - 1) / 2], axis=1))

    @property
    def last_step(self) -> int:
        return int(self.spans()[-1, 1]) if len(self) else 0

    def state(self) -> dict:
        """What a checkpoint keeps: the complete buckets' rows, their stride and the partly filled
        bucket (the sum of its rows and their count), so a resumed run's history goes on as is."""
        values, stride, partial, count = self.series.state()
        rows = np.array(values, dtype=np.float64).reshape(-1, len(STEP_FIELDS))
        partial = np.zeros(len(STEP_FIELDS)) + partial  # 0.0 while that bucket is empty
        return {"rows": rows, "stride": stride, "partial": partial, "count": count}

    @classmethod
    def restored(
        cls, rows: np.ndarray, stride: int = 1, partial=0.0, count: int = 0, capacity: int = HISTORY_BUCKETS
    ) -> StepHistory:
        """From `state`'s parts; rows alone are one per step (an older checkpoint's), downsampled here."""
        out = cls(capacity)
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(STEP_FIELDS))
        if stride == 1 and not count:
            out.series.extend(rows)  # bucket by bucket: millions of rows never become a list
        else:
            out.series = DownsampledSeries.restored(capacity, list(rows), stride, np.asarray(partial), count)
        return out

    def __len__(self) -> int:
        return len(self.series)

    def __iter__(self):
        """The rows as tuples, as a list of StepPoint rows would give them."""
        return map(tuple, self.rows().tolist())


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
    stage: str = ""  # a growing architecture's stage when drawn

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
