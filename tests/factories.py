"""Small data and configs the tests make themselves (no network, no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tui_gan.config import TrainConfig
from tui_gan.data import Dataset

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def blob_digits(n: int = 256, seed: int = 0) -> Dataset:
    """Bright blobs at a few class-dependent places: learnable structure, made in milliseconds."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 28, 28), np.float32)
    for i, label in enumerate(labels):
        cy, cx = 8 + (label // 4) * 6 + rng.normal(0, 1), 8 + (label % 4) * 4 + rng.normal(0, 1)
        images[i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    u8 = (images * 255).clip(0, 255).astype(np.uint8)
    return Dataset("synthetic", torch.from_numpy(u8), torch.from_numpy(labels), "generated", "test blobs")


def tiny_config(tmp_path: Path, **changes) -> TrainConfig:
    base = dict(
        arch="simple",
        dataset="synthetic",
        batch_size=32,
        epochs=2,
        runs_dir=str(tmp_path / "runs"),
        sample_count=16,
        eval_every=0,
    )
    base.update(changes)
    return TrainConfig(**base).validate()
