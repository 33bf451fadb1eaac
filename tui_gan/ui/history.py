"""Loss history for the sparklines: bounded memory however long the run.

Each series keeps at most `capacity` values; when full it halves its resolution by averaging
neighbouring pairs, so a week-long run costs the same memory as a minute-long one and the
sparkline still spans the whole run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

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

    def add(self, value: float) -> None:
        if not math.isfinite(value):  # one inf would flatten the sparkline's scale for good
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
    version: int = 0  # bumped on every change, so the panel redraws only when needed

    def __post_init__(self) -> None:
        self.d_loss, self.g_loss, self.d_real, self.d_fake = (_tracked(self.capacity) for _ in range(4))

    def extend(self, points: Iterable[StepPoint]) -> None:
        changed = False
        for p in points:
            self.d_loss.add(p.d_loss)
            self.g_loss.add(p.g_loss)
            self.d_real.add(p.d_real)
            self.d_fake.add(p.d_fake)
            self.steps_seen += 1
            self.last_step = p.step
            changed = True
        if changed:
            self.version += 1
