"""Sample-quality metrics for GAN training: a small classifier trained once per dataset judges
generated digits (class coverage, confidence, classifier score, Frechet distance).

The names below load their module on first use, so importing tui_gan.quality.report (as the
dashboard's process does to read a QualityReport) does not import torch."""

from __future__ import annotations

import importlib

_HOME = {
    "Classifier": "classifier",
    "ClassifierCancelled": "classifier",
    "FeatureStats": "classifier",
    "LeNet": "classifier",
    "dataset_fingerprint": "classifier",
    "load_or_train": "classifier",
    "train_classifier": "classifier",
    "QualityReport": "report",
    "evaluate": "metrics",
    "frechet_distance": "metrics",
    "real_floor": "metrics",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
