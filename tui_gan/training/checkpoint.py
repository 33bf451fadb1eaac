"""Checkpoint files: everything needed to resume one architecture exactly, the payload built
from and restored into an ArchState.

Written atomically, read with `weights_only=True` so a checkpoint can never run code."""

from __future__ import annotations

import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from tui_gan.config import TrainConfig
from tui_gan.data import Dataset
from tui_gan.errors import CheckpointError
from tui_gan.fileio import atomic_write
from tui_gan.history import StepHistory
from tui_gan.training.recipes import Recipe, resolve
from tui_gan.training.state import ArchState, grid_labels, make_ema, set_learning_rates

FORMAT = "tui-gan-checkpoint"
VERSION = 1
REQUIRED = ("arch", "config", "step", "epoch", "generator", "discriminator", "opt_g", "opt_d", "fixed_noise")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Serialised in memory first: torch.save straight into a file turns a full disk into a
    RuntimeError ("unexpected pos ..."); written from memory, it is the OSError it is."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buf)
    return atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load_checkpoint(path: str | Path, expected_arch: str | None = None) -> dict[str, Any]:
    """Read and validate a checkpoint; any problem becomes a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as exc:  # torch.load fails in many ways on damaged input (KeyError, UnpicklingError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(
            f"{path} is not a readable tui-gan checkpoint (truncated, damaged or foreign file: {first})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a tui-gan checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {data.get('version')!r}; "
            f"this tui-gan reads version {VERSION}"
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise CheckpointError(f"{path} is incomplete (missing {', '.join(missing)})")
    if expected_arch is not None and data["arch"] != expected_arch:
        raise CheckpointError(
            f"{path} is a checkpoint for architecture {data['arch']!r}, not {expected_arch!r}"
        )
    return data


def build_payload(
    s: ArchState, config: TrainConfig, device: torch.device, dataset: Dataset
) -> dict[str, Any]:
    return {
        "arch": s.name,
        "config": config.replace(
            arch=s.name
        ).to_dict(),  # the options as given: other architectures resolve their own
        "recipe": asdict(s.recipe),  # as resolved: a resume trains the same way whatever the defaults become
        "step": s.step,
        "epoch": s.epoch,
        "pos": s.pos,
        "perm": s.perm.cpu() if s.perm is not None else None,
        "generator": s.G.state_dict(),
        "generator_ema": s.G_ema.state_dict()
        if s.G_ema is not None
        else None,  # what `sample` and `eval` use
        "discriminator": s.D.state_dict(),
        "opt_g": s.opt_g.state_dict(),
        "opt_d": s.opt_d.state_dict(),
        "fixed_noise": s.fixed_noise.cpu(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
            "noise": s.noise.get_state(),
        },
        **_history_payload(s.history),
        "train_time": s.train_time,
        "scaler": s.scaler.state_dict() or None,  # {} when disabled (not fp16)
        "device_type": device.type,
        "dataset": {"name": dataset.name, "size": len(dataset), "split": dataset.split},
        "best": {"fd": s.best_fd, "step": s.best_step, "evals_since": s.evals_since_best},
        "show_raw": s.show_raw,
    }


def restore_state(
    s: ArchState,
    data: dict[str, Any],
    source: Path,
    device: torch.device,
    dataset: Dataset,
    config: TrainConfig,
) -> str | None:
    """Load a checkpoint read from `source` into `s`: its recipe, with the options `config` sets
    on top, its weights and where it was. Returns a warning for the user, if any; raises
    CheckpointError when it does not fit."""
    info = data.get("dataset") or {}
    if info.get("size") not in (None, len(dataset)):
        raise CheckpointError(
            f"{source} was trained on {info.get('size')} images of {info.get('name')}, "
            f"but the dataset found now has {len(dataset)}; pass the same --data-dir"
        )
    try:
        _load_weights(s, data, config)
        warning = _load_noise(s, data, device, config)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:150]
        raise CheckpointError(f"{source} does not fit architecture {s.name!r}: {first}") from None
    s.step, s.epoch, s.pos = int(data["step"]), int(data["epoch"]), int(data.get("pos", 0))
    perm = data.get("perm")
    s.perm = perm.to(device) if perm is not None else None
    s.history = _restore_history(data)
    s.train_time = float(data.get("train_time", 0.0))
    best = data.get("best") or {}
    s.best_fd, s.best_step = float(best.get("fd", math.inf)), int(best.get("step", -1))
    s.evals_since_best = int(best.get("evals_since", 0))
    s.show_raw = bool(data.get("show_raw", False))
    if data.get("scaler"):
        s.scaler.load_state_dict(data["scaler"])  # a disabled scaler ignores it
    s.last_checkpoint = str(source)
    s.checkpoint_step, s.checkpoint_time = s.step, s.train_time
    return warning


def _history_payload(history: StepHistory) -> dict[str, Any]:
    """The bounded history: "history" holds its complete buckets' rows (STEP_FIELDS; what older
    versions read as one row per step), "history_buckets" how many steps each stands for and the
    partly filled bucket. A few hundred KB at most, however many steps."""
    state = history.state()
    return {
        "history": torch.from_numpy(state["rows"]),
        "history_buckets": {
            "stride": state["stride"],
            "partial": torch.from_numpy(state["partial"]),
            "partial_steps": state["count"],
        },
    }


def _restore_history(data: dict[str, Any]) -> StepHistory:
    """A checkpoint's history; one without "history_buckets" (older) has a row per step."""
    rows = data.get("history")
    if rows is None:
        return StepHistory()
    buckets = data.get("history_buckets") or {}
    partial = buckets.get("partial")
    return StepHistory.restored(
        rows.double().numpy(),
        int(buckets.get("stride", 1)),
        0.0 if partial is None else partial.double().numpy(),
        int(buckets.get("partial_steps", 0)),
    )


def _load_weights(s: ArchState, data: dict[str, Any], config: TrainConfig) -> None:
    """The recipe, the nets, the EMA and the optimizers."""
    if data.get("recipe"):  # (older checkpoints pinned it in their config, which the caller resumes with)
        s.recipe = resolve(config, s.name, base=Recipe(**data["recipe"]))
        s.G_ema = (s.G_ema if s.G_ema is not None else make_ema(s.G)) if s.recipe.ema else None
    s.G.load_state_dict(data["generator"])
    if s.G_ema is not None:  # an EMA this run adds starts from the weights
        s.G_ema.load_state_dict(data.get("generator_ema") or data["generator"])
    s.D.load_state_dict(data["discriminator"])
    s.opt_g.load_state_dict(data["opt_g"])
    s.opt_d.load_state_dict(data["opt_d"])
    fused = {id(o): o.defaults.get("fused") for o in (s.opt_g, s.opt_d)}
    for o in (s.opt_g, s.opt_d):  # the kernel chosen for *this* device, the betas as resolved now
        for group in o.param_groups:
            group["fused"] = fused[id(o)]
            group["betas"] = s.recipe.betas
    set_learning_rates(s)  # an --lr given now wins over the saved one (schedules rescale it every step)


def _load_noise(s: ArchState, data: dict[str, Any], device: torch.device, config: TrainConfig) -> str | None:
    """The sample grid's latents and every random stream; a warning when the noise cannot
    continue exactly (a checkpoint from another device type)."""
    s.fixed_noise = data["fixed_noise"].to(device)
    if s.fixed_labels is not None:
        s.fixed_labels = grid_labels(len(s.fixed_noise), device)
    rng = data.get("rng") or {}
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
    if data.get("device_type", "cpu") == device.type:
        s.noise.set_state(rng["noise"])
        return None
    s.noise.manual_seed(config.seed + int(data["step"]))  # a CUDA generator's state does not fit a CPU one
    return (
        "checkpoint from another device type: the noise stream restarts, "
        "so this run will not match an uninterrupted one exactly"
    )
