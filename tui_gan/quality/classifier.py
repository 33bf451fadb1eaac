"""A LeNet-5 sized digit classifier that judges generated samples, trained once per dataset.

Training runs in a background thread while the GAN trains, so it never touches torch's global
RNG (that would change a seeded GAN run): the model is built on the meta device and initialised
from a private generator, and batches are drawn by random index from one tensor.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tui_gan.config import NUM_CLASSES
from tui_gan.data import Dataset, default_cache_dir
from tui_gan.errors import DataError
from tui_gan.fileio import atomic_write

# Bump when the architecture or training recipe changes, so old cache files are not reused.
RECIPE_VERSION = 1
# Sample-passes a default run makes: 12 epochs of MNIST's 9k-image test split (98.2-98.7%
# held-out over seeds, ~15 s on 2 idle cores), 2 epochs of its 54k training split.
# No augmentation: random shifts did not help at this budget.
_DEFAULT_SAMPLES_SEEN = 108_000
_MAX_DEFAULT_EPOCHS = 20
_MIN_IMAGES = 50
_PEAK_LR = 5e-3


class ClassifierCancelled(Exception):
    """should_stop() asked training to stop; nothing was cached."""


class LeNet(nn.Module):
    """LeNet-5 with ReLU and max pooling; takes [-1, 1] images shaped (n, 1, 28, 28)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (n, 84): the space the Frechet distance is measured in."""
        # Pool before ReLU: identical result (both monotone), ReLU on a quarter of the values.
        x = F.max_pool2d(self.conv1(x), 2).relu_()
        x = F.max_pool2d(self.conv2(x), 2).relu_()
        x = F.relu(self.fc1(x.flatten(1)))
        return F.relu(self.fc2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.features(x))


def _new_lenet(generator: torch.Generator | None = None) -> LeNet:
    """A LeNet that consumes no global RNG: built on meta, then filled from `generator` (or left
    uninitialised when weights are about to be loaded)."""
    with torch.device("meta"):
        model = LeNet()
    model = model.to_empty(device="cpu")
    if generator is not None:
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                # PyTorch's default init, drawn from our own generator.
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (n,28,28) or float [-1,1] (n,1,28,28) / (n,28,28) -> float32 (n,1,28,28) on CPU."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected images shaped (n, 28, 28) or (n, 1, 28, 28), got {tuple(images.shape)}")
    images = images.detach().to("cpu")
    if images.dtype == torch.uint8:
        return images.float().mul_(2.0 / 255.0).sub_(1.0)
    # A diverged generator can emit NaN; keep the report finite (it is written to JSON/CSV).
    return torch.nan_to_num(images.float(), nan=0.0).clamp_(-1.0, 1.0)


def dataset_fingerprint(images_u8: torch.Tensor, labels: torch.Tensor | None) -> str:
    """Short sha256 of the images, labels and shape: the cache key for a trained classifier."""
    h = hashlib.sha256()
    images = images_u8.detach().to("cpu").contiguous()
    h.update(f"{tuple(images.shape)}:{images.dtype}".encode())
    h.update(images.numpy().tobytes())
    if labels is not None:
        h.update(labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _check_labels(images_u8: torch.Tensor, labels: torch.Tensor | None, what: str) -> torch.Tensor:
    if labels is None:
        raise DataError(
            f"{what} has no labels, so no quality classifier can be trained for it; "
            "quality metrics need a labelled dataset (MNIST, Fashion-MNIST or synthetic)"
        )
    labels = labels.detach().to("cpu", torch.int64)
    if labels.shape != (images_u8.shape[0],):
        raise DataError(f"{what} has {labels.shape[0]} labels for {images_u8.shape[0]} images")
    if images_u8.shape[0] < _MIN_IMAGES:
        raise DataError(
            f"{what} has {images_u8.shape[0]} images; a quality classifier needs at least {_MIN_IMAGES}"
        )
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{what} has labels outside 0..{NUM_CLASSES - 1}")
    return labels


@torch.no_grad()
def _accuracy(model: nn.Module, images_u8: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    for i in range(0, images_u8.shape[0], batch_size):
        logits = model(to_model_input(images_u8[i : i + batch_size]))
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    return correct / max(1, images_u8.shape[0])


def train_classifier(
    images_u8: torch.Tensor,
    labels: torch.Tensor,
    *,
    val_fraction: float = 0.1,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
) -> tuple[LeNet, float, torch.Tensor]:
    """Train a LeNet on all but a random `val_fraction` slice; returns (model in eval mode,
    held-out accuracy, held-out indices). `epochs=None` picks enough for ~108k sample-passes.
    Raises ClassifierCancelled as soon as should_stop() is true (polled between batches)."""
    labels = _check_labels(images_u8, labels, "the dataset")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    gen = torch.Generator().manual_seed(seed)
    n = images_u8.shape[0]
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    order = torch.randperm(n, generator=gen)
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:]
    # Kept as uint8 and converted per batch: a quarter of the memory for MNIST's 60k images.
    images_u8 = images_u8.detach().to("cpu")
    n_train = train_idx.numel()
    if epochs is None:
        epochs = min(_MAX_DEFAULT_EPOCHS, max(1, math.ceil(_DEFAULT_SAMPLES_SEEN / n_train)))

    model = _new_lenet(gen)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=_PEAK_LR)
    total = epochs * math.ceil(n_train / batch_size)
    # Short warm-up, then linear decay to zero: fewer epochs to a given accuracy than a
    # constant rate.
    warm = max(1, total // 20)
    step = 0
    for _ in range(epochs):
        perm = train_idx[torch.randperm(n_train, generator=gen)]
        for i in range(0, n_train, batch_size):
            if should_stop():
                raise ClassifierCancelled("classifier training was stopped")
            lr = _PEAK_LR * min((step + 1) / warm, (total - step) / max(1, total - warm))
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(to_model_input(images_u8[idx])), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if progress is not None:
                progress(step / total)
    model.eval()
    return model, _accuracy(model, images_u8[val_idx], labels[val_idx]), val_idx


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance (float64) of classifier features over n images. Torch rather than
    numpy: numpy's OpenBLAS threads fight torch's spinning OpenMP threads for the cores and
    turn a 1 ms eigh into tens of ms."""

    mean: torch.Tensor  # (84,)
    cov: torch.Tensor  # (84, 84)
    n: int


@dataclass(eq=False)
class Classifier:
    """A trained LeNet (eval mode) plus the held-out real images it is judged against.

    The reference statistics are computed once here so each evaluation costs one forward pass
    over the samples plus two 84x84 eigendecompositions."""

    model: LeNet
    val_accuracy: float
    fingerprint: str
    reference_images: torch.Tensor  # (m, 28, 28) uint8, never seen in training
    reference_stats: FeatureStats = field(init=False)
    _floors: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model.eval()
        self.reference_stats = feature_stats(self, self.reference_images)


@torch.inference_mode()
def _forward(classifier: Classifier, images, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (n,84), logits (n,10)) for the images, in batches."""
    x = to_model_input(images)
    model = classifier.model
    feats, logits = [], []
    for i in range(0, x.shape[0], batch_size):
        f = model.features(x[i : i + batch_size])
        feats.append(f)
        logits.append(model.fc3(f))
    if not feats:
        raise ValueError("no images to evaluate")
    return torch.cat(feats), torch.cat(logits)


def feature_stats(classifier: Classifier, images, *, batch_size: int = 500) -> FeatureStats:
    feats, _ = _forward(classifier, images, batch_size)
    return stats_from_features(feats)


def stats_from_features(feats: torch.Tensor) -> FeatureStats:
    if feats.shape[0] < 2:
        raise ValueError("a Frechet distance needs at least 2 images")
    f = feats.double()
    return FeatureStats(f.mean(0), torch.cov(f.T), int(f.shape[0]))


def cache_path(cache_dir: str | os.PathLike, fingerprint: str, val_fraction: float = 0.1) -> Path:
    # The held-out split depends on val_fraction, so a non-default one gets its own file.
    suffix = "" if val_fraction == 0.1 else f"-val{val_fraction:g}"
    return Path(cache_dir) / f"lenet-v{RECIPE_VERSION}-{fingerprint}{suffix}.pt"


def _load_cached(path: Path, fingerprint: str, n_images: int) -> tuple[LeNet, float, torch.Tensor] | None:
    """The cached (model, accuracy, held-out indices), or None when missing or unusable."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("fingerprint") != fingerprint or blob.get("recipe") != RECIPE_VERSION:
            return None
        model = _new_lenet()
        model.load_state_dict(blob["state_dict"], strict=True)
        val_idx = blob["val_indices"].to(torch.int64)
        accuracy = float(blob["val_accuracy"])
        if val_idx.dim() != 1 or val_idx.numel() < 2 or val_idx.min() < 0 or val_idx.max() >= n_images:
            return None
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            return None
    except Exception:  # truncated, foreign or corrupt file: retrain rather than crash
        return None
    model.eval()
    return model, accuracy, val_idx


def load_or_train(
    dataset: Dataset,
    cache_dir: str | os.PathLike | None = None,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    val_fraction: float = 0.1,
    epochs: int | None = None,
) -> Classifier:
    """The classifier for `dataset`, from `cache_dir` (default: <data cache>/classifiers, keyed
    by the dataset's content) or trained now and cached. A damaged cache file is retrained and
    overwritten. Raises DataError for unlabelled data, ClassifierCancelled when stopped."""
    images = dataset.images
    _check_labels(images, dataset.labels, f"dataset {dataset.name!r}")
    fingerprint = dataset_fingerprint(images, dataset.labels)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "classifiers"
    path = cache_path(folder, fingerprint, val_fraction)
    cached = _load_cached(path, fingerprint, images.shape[0])
    if cached is not None:
        model, accuracy, val_idx = cached
        if progress is not None:
            progress(1.0)
    else:
        model, accuracy, val_idx = train_classifier(
            images,
            dataset.labels,
            val_fraction=val_fraction,
            epochs=epochs,
            should_stop=should_stop,
            progress=progress,
        )
        blob = {
            "recipe": RECIPE_VERSION,
            "fingerprint": fingerprint,
            "state_dict": model.state_dict(),
            "val_accuracy": accuracy,
            "val_indices": val_idx,
        }
        try:
            atomic_write(path, lambda f: torch.save(blob, f))
        except OSError:
            pass  # a read-only cache only costs retraining next time
    return Classifier(model, accuracy, fingerprint, images.detach().to("cpu")[val_idx].clone())
