"""Where and how fast a run trains: the device from --device, its NVML identity, the precision
the step runs in, and the optimizer kernel for it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import torch

from tui_gan.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} asked for, but PyTorch sees no CUDA GPU here; use --device cpu or auto"
        )
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise ConfigError(
            f"device {name!r} asked for, but PyTorch sees {count} GPU{'s' if count != 1 else ''} "
            f"(cuda:0{f'..cuda:{count - 1}' if count > 1 else ''})"
            + (f" with CUDA_VISIBLE_DEVICES={visible}" if visible is not None else "")
        )
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but MPS is not available here; use --device cpu or auto")
    return torch.device(name)


def cuda_ids(device: torch.device) -> tuple[str | None, str | None]:
    """(PCI bus id as NVML writes it, UUID) of a CUDA device; (None, None) for others."""
    if device.type != "cuda":
        return None, None
    try:
        props = torch.cuda.get_device_properties(device)
        bus = f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
        uuid = str(props.uuid)
    except Exception:  # an older torch without these fields: the panel falls back to the index
        return None, None
    return bus, (uuid if uuid.upper().startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 in hardware: a GPU that supports it, or an x86 CPU with
    AMX or AVX512-BF16 (elsewhere oneDNN emulates it, several times slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> tuple[str, str | None]:
    """The precision a run trains in, and for `auto` the line that says what it chose and why
    (config.json keeps `auto`, so a resume on other hardware chooses again)."""
    if precision != "auto":
        return precision, None
    if native_bf16(device):
        return "bf16", f"precision auto: bf16 ({device.type} computes bf16 in hardware)"
    what = "this CPU has neither AMX nor AVX512-BF16" if device.type == "cpu" else f"{device} has no bf16"
    return "fp32", f"precision auto: fp32 ({what}; bf16 would be emulated)"


def precision_context(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager]:
    """What the step's forward passes run under: autocast for bf16/fp16 (weights, optimizer
    state and the losses stay fp32), nothing for fp32. TF32 matmuls are on for fp32 on Ampere+
    GPUs (PyTorch leaves them off)."""
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 needs a GPU (its loss scaling is for GPUs); use bf16 on a CPU")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)


def make_adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with the fused kernel where this PyTorch has one for the device (fewer passes over memory)."""
    kwargs = dict(lr=lr, betas=betas)
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, **kwargs)
