"""Sample-quality metrics from the quality classifier: what the loss curves cannot say.

Cost of `evaluate` on n samples: one LeNet forward pass (~0.4 MFLOP-MACs per image, so a few ms
for 1000 on a CPU) plus two 84x84 symmetric eigendecompositions for the Frechet distance (well
under a millisecond). The reference statistics are precomputed on the Classifier.
"""

from __future__ import annotations

import math

import torch

from tui_gan.config import NUM_CLASSES
from tui_gan.quality.classifier import (
    Classifier,
    FeatureStats,
    _forward,
    feature_stats,
    stats_from_features,
)
from tui_gan.quality.report import COVERED_SHARE, QualityReport


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(m)
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)), in float64 without scipy.

    Tr sqrtm(S_a S_b) = Tr sqrtm(R S_b R) with R = sqrtm(S_a): the inner matrix is symmetric PSD,
    so both roots come from eigh (stable; tiny negative eigenvalues from rounding are clipped)."""
    root = _sqrt_psd(a.cov.double())
    inner = root @ b.cov.double() @ root
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2.0).clamp_min(0.0).sqrt().sum()
    diff = a.mean.double() - b.mean.double()
    fd = diff.dot(diff) + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt
    return max(float(fd), 0.0)


def evaluate(
    classifier: Classifier,
    images,
    labels: torch.Tensor | None = None,
    *,
    batch_size: int = 500,
    reference: FeatureStats | None = None,
) -> QualityReport:
    """Judge samples: float in [-1, 1] shaped (n, 1, 28, 28) (generator output) or uint8
    (n, 28, 28) (dataset images). `labels`: the classes a conditional generator was asked for,
    which adds per-class accuracy. `reference` defaults to the classifier's held-out real images."""
    feats, logits = _forward(classifier, images, batch_size)
    n = int(logits.shape[0])
    logp = torch.log_softmax(logits.double(), dim=1)
    p = logp.exp()
    predicted = logp.argmax(1)

    counts = torch.bincount(predicted, minlength=NUM_CLASSES).double()
    hist = (counts / n).tolist()
    nonzero = [h for h in hist if h > 0]
    kl_uniform = sum(h * math.log(h * NUM_CLASSES) for h in nonzero)

    # Marginal p(y) over the batch; E_x KL(p(y|x) || p(y)) as in the Inception score.
    log_marginal = torch.log(p.mean(0).clamp_min(1e-300))
    kl = (p * (logp - log_marginal)).sum(1).mean().item()

    ref = reference if reference is not None else classifier.reference_stats
    return QualityReport(
        n=n,
        histogram=tuple(float(h) for h in hist),
        classes_covered=sum(1 for h in hist if h >= COVERED_SHARE),
        kl_to_uniform=float(max(kl_uniform, 0.0)),
        mean_confidence=float(p.max(1).values.mean().item()),
        classifier_score=float(math.exp(max(kl, 0.0))),
        frechet_distance=frechet_distance(ref, stats_from_features(feats)),
        class_accuracy=() if labels is None else class_accuracy(predicted, labels),
    )


def class_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> tuple[float, ...]:
    """Per class c: the share of digits asked for as c that were read as c (nan if none was asked)."""
    labels = labels.to(predicted.device).long()
    asked = torch.bincount(labels, minlength=NUM_CLASSES).double()
    hits = torch.bincount(labels[predicted == labels], minlength=NUM_CLASSES).double()
    return tuple(float(h / a) if a else math.nan for h, a in zip(hits, asked))


def real_floor(classifier: Classifier, n: int = 1000, seed: int = 0) -> float:
    """The Frechet distance a perfect generator would get: n held-out real images against the
    other held-out images, mimicking an evaluation of n samples against the reference set.

    Finite samples keep this above 0 (it shrinks roughly like 1/n), so read evaluations against
    it. When fewer than 2n held-out images exist (e.g. 1000 from MNIST's test split), it uses two
    disjoint halves, which overstates the floor a little. Cached per (n, seed)."""
    key = (int(n), int(seed))
    cached = classifier._floors.get(key)
    if cached is not None:
        return cached
    images = classifier.reference_images
    total = images.shape[0]
    if total < 4:
        raise ValueError("too few held-out images for a real-vs-real floor")
    size = min(int(n), total // 2)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    sample, rest = images[order[:size]], images[order[size:]]
    floor = frechet_distance(feature_stats(classifier, rest), feature_stats(classifier, sample))
    classifier._floors[key] = floor
    return floor
