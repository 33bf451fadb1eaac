"""What a quality evaluation found, in plain values: it crosses to the dashboard's process
(pickled) and into JSON/CSV, so this module imports no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Shared by the engine, the collapse detector and the panels.
COVERED_SHARE = 0.02  # a class counts as covered when at least this share of samples is predicted as it
MIN_CLASSES = 7  # fewer classes covered than this is a mode-collapse warning
ACCURATE_SHARE = (
    0.9  # a conditional generator's digit class counts as learnt when this share is drawn as asked
)
EVAL_SEED_OFFSET = (
    7919  # evaluation latents come from seed + this: the same digits every time, so numbers compare
)


@dataclass(frozen=True)
class QualityReport:
    """Plain values only: it crosses threads to the UI and is written to JSON/CSV."""

    n: int
    histogram: tuple[float, ...]  # share of samples predicted as each class 0..9; sums to 1
    classes_covered: int  # classes with share >= COVERED_SHARE
    kl_to_uniform: float  # KL(histogram || uniform): 0 = balanced, log(10) ~ 2.30 = one class
    mean_confidence: float  # mean max-softmax: low means the samples look like no digit
    classifier_score: float  # exp(E_x KL(p(y|x) || p(y))): 1 (one class / unsure) .. 10
    frechet_distance: float  # vs the held-out real reference features; compare with real_floor()
    # A conditional generator: per class c, the share of digits asked for as c that the
    # classifier reads as c. Empty for an unconditional one.
    class_accuracy: tuple[float, ...] = ()

    @property
    def accuracy(self) -> float | None:
        """The share of conditioned digits drawn as the class asked for (None: unconditional)."""
        asked = [a for a in self.class_accuracy if a == a]  # classes with fewer samples than 10 may be nan
        return sum(asked) / len(asked) if asked else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["histogram"] = list(self.histogram)
        d["class_accuracy"] = list(self.class_accuracy)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> QualityReport:
        return cls(
            **{
                **d,
                "histogram": tuple(d.get("histogram", ())),
                "class_accuracy": tuple(d.get("class_accuracy", ())),
            }
        )
