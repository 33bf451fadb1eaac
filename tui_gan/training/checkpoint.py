"""Checkpoint files: everything needed to resume one architecture exactly.

Written atomically, read with `weights_only=True` so a checkpoint can never run code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tui_gan.errors import CheckpointError
from tui_gan.fileio import atomic_write

FORMAT = "tui-gan-checkpoint"
VERSION = 1
REQUIRED = ("arch", "config", "step", "epoch", "generator", "discriminator", "opt_g", "opt_d", "fixed_noise")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    data = {"format": FORMAT, "version": VERSION, **payload}
    return atomic_write(path, lambda f: torch.save(data, f))


def load_checkpoint(path: str | Path, expected_arch: str | None = None) -> dict[str, Any]:
    """Read and validate a checkpoint; any problem becomes a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on damaged input (KeyError, UnpicklingError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(f"{path} is not a readable tui-gan checkpoint (truncated, damaged or foreign file: {first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a tui-gan checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {data.get('version')!r}; this tui-gan reads version {VERSION}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise CheckpointError(f"{path} is incomplete (missing {', '.join(missing)})")
    if expected_arch is not None and data["arch"] != expected_arch:
        raise CheckpointError(f"{path} is a checkpoint for architecture {data['arch']!r}, not {expected_arch!r}")
    return data
