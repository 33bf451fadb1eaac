"""Is the GAN working? Episode detectors that warn once when training goes wrong, not every step.

An episode starts when a condition holds and ends only when it clearly stops holding
(hysteresis), so a value hovering at a threshold does not flood the event log.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tui_gan.quality.report import MIN_CLASSES


@dataclass
class Episode:
    """on(): the condition just started; the caller warns. off(): it is over, warn again next time."""

    active: bool = False

    def update(self, starts: bool, ends: bool) -> bool:
        if not self.active and starts:
            self.active = True
            return True
        if self.active and ends:
            self.active = False
        return False


class DiscriminatorWins:
    """D(G(z)) near 0 for a sustained stretch: D rejects every fake and G gets no useful gradient."""

    def __init__(self, window: int = 200, enter: float = 0.05, leave: float = 0.15):
        self.values: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.enter, self.leave = enter, leave
        self.episode = Episode()

    def update(self, d_fake: float) -> str | None:
        if len(self.values) == self.values.maxlen:
            self.total -= self.values[0]
        self.values.append(d_fake)
        self.total += d_fake
        if len(self.values) < self.values.maxlen:
            return None
        mean = self.total / len(self.values)
        if self.episode.update(mean < self.enter, mean > self.leave):
            return (
                f"discriminator wins: mean D(G(z)) is {mean:.3f} over the last {len(self.values)} steps, "
                "so the generator gets almost no gradient (try a lower D learning rate or a smaller D)"
            )
        return None


class ModeCollapse:
    """The generator covers few classes, or its class histogram drifts far from uniform."""

    def __init__(
        self,
        min_classes: int = MIN_CLASSES,
        max_kl: float = 0.5,
        recover_classes: int = 8,
        recover_kl: float = 0.3,
    ):
        self.min_classes, self.max_kl = min_classes, max_kl
        self.recover_classes, self.recover_kl = recover_classes, recover_kl
        self.episode = Episode()

    def update(self, classes_covered: int, kl_to_uniform: float) -> str | None:
        bad = classes_covered < self.min_classes or kl_to_uniform > self.max_kl
        good = classes_covered >= self.recover_classes and kl_to_uniform < self.recover_kl
        if self.episode.update(bad, good):
            return (
                f"mode collapse: the samples cover {classes_covered} of 10 classes "
                f"(KL to uniform {kl_to_uniform:.2f}); the generator is repeating a few digits"
            )
        return None
