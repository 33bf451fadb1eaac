"""What a quality evaluation found, in plain values: it crosses to the dashboard's process
(pickled) and into JSON/CSV, so this module imports no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class QualityReport:
    """Plain values only: it crosses threads to the UI and is written to JSON/CSV."""

    n: int
    histogram: tuple[float, ...]  # share of samples predicted as each class 0..9; sums to 1
    classes_covered: int  # classes with share >= 2%
    kl_to_uniform: float  # KL(histogram || uniform): 0 = balanced, log(10) ~ 2.30 = one class
    mean_confidence: float  # mean max-softmax: low means the samples look like no digit
    classifier_score: float  # exp(E_x KL(p(y|x) || p(y))): 1 (one class / unsure) .. 10
    frechet_distance: float  # vs the held-out real reference features; compare with real_floor()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["histogram"] = list(self.histogram)
        return d
