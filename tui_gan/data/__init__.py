"""Datasets -> one uint8 tensor of 28x28 images (plus labels), found on disk, downloaded once,
or drawn procedurally. The trainer moves it to its device and batches by random index."""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tui_gan.config import pretty_name
from tui_gan.data.idx import read_idx
from tui_gan.errors import DataError, DataUnavailable

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# torchvision's folder names under its root
_TV_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


@dataclass
class Dataset:
    name: str
    images: torch.Tensor  # (n, 28, 28) uint8, 0 = background
    labels: torch.Tensor | None  # (n,) int64 when known
    split: str  # "train", "test" or "generated"
    source: str  # where it came from, for the status line and run config
    note: str = ""  # something the user should be told (e.g. training on the test split)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def default_cache_dir() -> Path:
    if os.environ.get("TUI_GAN_DATA"):
        return Path(os.environ["TUI_GAN_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tui-gan" / "data"


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    synthetic_size: int = 60000,
    seed: int = 0,
) -> Dataset:
    """Load `mnist`, `fashion-mnist` or `synthetic`. Raises DataUnavailable with what to do."""
    if name == "synthetic":
        from tui_gan.data.synthetic import make_synthetic_digits

        images, labels = make_synthetic_digits(synthetic_size, seed=seed)
        return Dataset(name, images, labels, "generated", f"procedural, seed {seed}")
    if name not in _TV_FOLDER:
        raise DataError(f"unknown dataset {name!r}; choose one of: mnist, fashion-mnist, synthetic")

    candidates = _candidate_dirs(name, data_dir)
    for folder in candidates:
        found = _load_from_folder(name, folder)
        if found is not None:
            return found
    if data_dir is not None:
        raise DataUnavailable(
            f"no {pretty_name(name)} IDX files in {data_dir} (looked for train-images-idx3-ubyte[.gz] or "
            f"t10k-images-idx3-ubyte[.gz], also under {_TV_FOLDER[name]}/raw); check --data-dir, "
            "or train offline with --dataset synthetic"
        )
    if download:
        reason = _download(name, default_cache_dir())
        if reason is None:
            found = _load_from_folder(name, default_cache_dir() / _TV_FOLDER[name] / "raw")
            if found is not None:
                return found
            reason = "the download finished but the files are not where expected"
    else:
        reason = "downloading is turned off"
    raise DataUnavailable(
        f"{pretty_name(name)} is not on this machine and could not be downloaded ({reason}). "
        f"Fix: put the IDX files in a folder and pass --data-dir DIR, "
        + ("or `apt-get install dataset-fashion-mnist`, " if name == "fashion-mnist" else "")
        + "or train offline with --dataset synthetic."
    )


def _candidate_dirs(name: str, data_dir) -> list[Path]:
    tv = _TV_FOLDER[name]
    if data_dir is not None:
        root = Path(data_dir)
        return [root, root / tv / "raw", root / name / "raw", root / name]
    dirs = [default_cache_dir() / tv / "raw"]
    if name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_DIR)
    return dirs


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_from_folder(name: str, folder: Path) -> Dataset | None:
    """Prefer the training split; fall back to the test split and say so."""
    for split in ("train", "test"):
        prefix = _SPLIT_PREFIX[split]
        images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
        if images_path is None:
            continue
        images = read_idx(images_path)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DataError(
                f"{images_path} holds {images.dtype} images of shape {images.shape[1:]}, not 28x28 uint8"
            )
        labels = None
        labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
        if labels_path is not None:
            lab = read_idx(labels_path)
            if lab.shape != (images.shape[0],):
                raise DataError(f"{labels_path} has {lab.shape[0]} labels for {images.shape[0]} images")
            labels = torch.from_numpy(lab.astype(np.int64))
        note = ""
        if split == "test":
            note = (
                f"only the test split of {pretty_name(name)} was found in {folder}: "
                f"training on its {images.shape[0]} images"
            )
        return Dataset(name, torch.from_numpy(images.copy()), labels, split, str(folder), note)
    return None


def _download(name: str, root: Path) -> str | None:
    """torchvision's downloader into the cache; returns None on success or a one-line reason."""
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    chatter = io.StringIO()  # torchvision prints progress; it must not garble the dashboard
    try:
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            cls(str(root), train=True, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError depending on the failure
        causes = re.findall(r"<urlopen error (.*?)>", f"{chatter.getvalue()}\n{exc}")
        text = causes[-1] if causes else (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return text[:160]
    return None
