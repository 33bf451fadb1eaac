"""The cadence of metrics.csv and TensorBoard: rows by time, not by step.

At hundreds of steps a second a row per step would be gigabytes a day that nobody reads at that
resolution (the dashboard's live losses come through Stats events, not these files). So each
row stands for the steps of about LOG_INTERVAL seconds of training: their mean, min, max and
last values at the last of them. `--log-every-step` keeps a row per step.

Steps arrive in batches (a Stats flush, every 0.1-0.5 s); a batch that spans several intervals
is split into that many rows of consecutive steps, as if the steps had come evenly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tui_gan.training.events import STEP_VALUES, StepPoint

LOG_INTERVAL = 0.1  # seconds per row: ~10 rows a second, ~150 MB of metrics.csv a day at most
EXTREMES = ("min", "max", "last")
# metrics.csv's columns after the means: how many steps a row stands for, then each value's extremes
EXTRA_COLUMNS = ("steps", *(f"{name}_{kind}" for name in STEP_VALUES for kind in EXTREMES))


@dataclass(frozen=True)
class LogRow:
    """The steps of one interval: `point` holds the last step's number and epoch and the means."""

    point: StepPoint
    steps: int
    low: tuple[float, ...]  # per STEP_VALUES
    high: tuple[float, ...]
    last: tuple[float, ...]
    images_per_s: float
    time_s: float  # training seconds at the last step


class LogCadence:
    """Turns batches of StepPoints into LogRows, one per `interval` seconds of training (None:
    one per step). Training time, not the clock: a pause or an evaluation is no interval."""

    def __init__(self, interval: float | None = LOG_INTERVAL, start_s: float = 0.0):
        self.interval = interval
        self._pending: list[StepPoint] = []
        self._time_s = start_s  # training seconds when the last row was cut

    def rows(
        self, points: Sequence[StepPoint], images_per_s: float, time_s: float, force: bool = False
    ) -> list[LogRow]:
        """The rows due now; steps of an interval not yet over wait for the next call (or for
        `force`: a checkpoint, a pause, the end)."""
        if self.interval is None:
            return [_row([p], images_per_s, time_s) for p in points]
        self._pending.extend(points)
        span = time_s - self._time_s
        groups = max(0, int(span / self.interval)) if self.interval > 0 else len(self._pending)
        if force and self._pending:
            groups = max(groups, 1)
        groups = min(groups, len(self._pending))
        if not groups:
            return []
        chunks = np.array_split(np.arange(len(self._pending)), groups)
        out = [  # each at the training time its end would have had, had the steps come evenly
            _row([self._pending[i] for i in chunk], images_per_s, self._time_s + span * (n + 1) / groups)
            for n, chunk in enumerate(chunks)
        ]
        self._pending, self._time_s = [], time_s
        return out


def _row(points: list[StepPoint], images_per_s: float, time_s: float) -> LogRow:
    if len(points) == 1:  # every step logged, or a slow run: no aggregation to do
        p = points[0]
        values = p.row()[2:]
        return LogRow(p, 1, values, values, values, images_per_s, time_s)
    values = np.array([p.row()[2:] for p in points], dtype=np.float64)
    last = points[-1]
    with np.errstate(invalid="ignore"):  # a non-finite loss stays visible as nan/inf
        mean, low, high = values.mean(axis=0), values.min(axis=0), values.max(axis=0)
    return LogRow(
        StepPoint(last.step, last.epoch, *mean.tolist()),
        len(points),
        tuple(low.tolist()),
        tuple(high.tolist()),
        tuple(values[-1].tolist()),
        images_per_s,
        time_s,
    )
