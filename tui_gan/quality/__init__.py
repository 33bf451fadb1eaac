"""Sample-quality metrics for GAN training: a small classifier trained once per dataset judges
generated digits (class coverage, confidence, classifier score, Frechet distance)."""

from tui_gan.quality.classifier import (
    Classifier,
    ClassifierCancelled,
    FeatureStats,
    LeNet,
    dataset_fingerprint,
    load_or_train,
    train_classifier,
)
from tui_gan.quality.metrics import QualityReport, evaluate, frechet_distance, real_floor

__all__ = [
    "Classifier",
    "ClassifierCancelled",
    "FeatureStats",
    "LeNet",
    "QualityReport",
    "dataset_fingerprint",
    "evaluate",
    "frechet_distance",
    "load_or_train",
    "real_floor",
    "train_classifier",
]
