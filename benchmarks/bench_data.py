"""The data the benchmarks train on: the shared MNIST test split when it sits beside the repo,
else 10,000 synthetic digits. torch loads only with the data, so a benchmark's parent process
can ask which it will be without paying for it."""

from __future__ import annotations

from pathlib import Path

from tui_gan.errors import DataUnavailable

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_here(choice: str = "auto") -> bool:
    """Whether `choice` ("auto", "mnist" or "synthetic") gets the shared MNIST copy."""
    return choice != "synthetic" and (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists()


def load_images(choice: str = "auto"):
    from tui_gan.data import load_dataset

    if mnist_here(choice):
        return load_dataset("mnist", SHARED_MNIST, download=False)
    if choice == "mnist":
        raise DataUnavailable(f"no MNIST in {SHARED_MNIST}")
    return load_dataset("synthetic", synthetic_size=10000)
