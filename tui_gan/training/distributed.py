"""Training on several processes (one per GPU, or gloo on CPUs) with DistributedDataParallel,
started by torchrun (`tui-gan train --nproc N` starts torchrun for you).

The global batch stays the recipe's (128): each of N ranks trains on its 1/N slice of every
batch. Every rank draws the same epoch shuffle and the whole batch's latents from the same
seeded generator and takes its slice, so the ranks together see exactly the data and noise one
process would. DDP averages the gradients, so G and D stay identical on every rank; BatchNorm
becomes SyncBatchNorm on GPUs (on CPUs, where it is not available, each rank keeps statistics
of its own slice).

Rank 0 alone writes the run folder, judges quality and serves viewers. At the top of every
loop iteration it broadcasts its run state (training/runstate.py) and architecture over a
CPU (gloo) group and the others adopt it, so every rank acts at the same step (and none waits
for a GPU sync to learn it); an architecture switch happens on all ranks after that broadcast,
since building the new DDP models is itself collective.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from tui_gan.errors import ConfigError
from tui_gan.models import ARCH_NAMES
from tui_gan.training.device import cuda_ids
from tui_gan.training.runstate import RunState

RATES_EVERY = 50  # steps between gathers of each rank's img/s (a collective: at the same step on all ranks)


@dataclass
class Ranks:
    rank: int
    world: int
    local_rank: int
    control: Any  # a gloo process group for commands and figures

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def join(device: torch.device) -> tuple[Ranks, torch.device, tuple]:
    """This process's rank, its device, and every rank's GPU as (PCI bus id, UUID) (empty on CPUs)."""
    ranks = init(device)
    device = local_device(device, ranks)
    devices = gather_devices(ranks, cuda_ids(device)) if device.type == "cuda" else ()
    return ranks, device, devices


def init(device: torch.device) -> Ranks:
    """Join the process group torchrun describes in the environment."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    # A paused run keeps the others waiting in a broadcast: long timeouts, not a crash after 30 min.
    timeout = datetime.timedelta(hours=24)
    dist.init_process_group(backend, timeout=timeout)
    control = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else dist.group.WORLD
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), control)
    if not ranks.main:  # rank 0 decides when to stop (and tells the others at a step boundary)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    return ranks


def local_device(device: torch.device, ranks: Ranks) -> torch.device:
    if device.type != "cuda":
        return device
    if ranks.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"rank {ranks.rank} wants GPU {ranks.local_rank}, "
            f"but only {torch.cuda.device_count()} are visible"
        )
    torch.cuda.set_device(ranks.local_rank)
    return torch.device("cuda", ranks.local_rank)


def local_batch(batch_size: int, ranks: Ranks) -> int:
    if batch_size % ranks.world:
        raise ConfigError(f"batch size {batch_size} does not split evenly over {ranks.world} processes")
    return batch_size // ranks.world


def sync_batchnorm(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """On GPUs, BatchNorm over every rank's slice of the batch (SyncBatchNorm needs CUDA)."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module


def wrap(module: torch.nn.Module, device: torch.device, grows: bool = False) -> torch.nn.Module:
    """DDP around `module`. `grows`: a growing net (progan) leaves the blocks of stages to come
    without gradients until then, which DDP must be told to expect."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=grows
    )


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (compiled, if it was); anything else as it is."""
    from torch.nn.parallel import DistributedDataParallel

    return module.module if isinstance(module, DistributedDataParallel) else module


def no_sync(module: torch.nn.Module):
    """DDP's forward without preparing a gradient sync; nothing for a plain module."""
    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()


def follow(ranks: Ranks, state: RunState, final_checkpoint: bool, arch: str) -> tuple[RunState, bool, str]:
    """Rank 0's (run state, final checkpoint on stop, architecture) on every rank."""
    order = list(RunState)
    sent = torch.tensor(
        [order.index(state), int(final_checkpoint), ARCH_NAMES.index(arch)], dtype=torch.int64
    )
    dist.broadcast(sent, src=0, group=ranks.control)
    state_, final_, arch_ = (int(v) for v in sent)
    return order[state_], bool(final_), ARCH_NAMES[arch_]


def gather_rates(ranks: Ranks, rate: float) -> tuple[float, ...]:
    """Every rank's img/s, in rank order."""
    rates = [torch.zeros(1, dtype=torch.float64) for _ in range(ranks.world)]
    dist.all_gather(rates, torch.tensor([rate], dtype=torch.float64), group=ranks.control)
    return tuple(float(r) for r in rates)


def gather_devices(
    ranks: Ranks, ids: tuple[str | None, str | None]
) -> tuple[tuple[str | None, str | None], ...]:
    """Every rank's GPU as (PCI bus id, UUID), in rank order, so rank 0's dashboard shows them all."""
    out: list = [None] * ranks.world
    dist.all_gather_object(out, ids, group=ranks.control)  # our own ranks: pickle between them is fine
    return tuple(tuple(pair) for pair in out)


def close(ranks: Ranks) -> None:
    """Leave together: a rank that tears its connections down while another still writes files
    (rank 0's plots) can make gloo abort the other process."""
    if not dist.is_initialized():
        return
    try:
        dist.barrier(group=ranks.control)
    except RuntimeError:
        pass  # another rank is already gone: leave anyway
    dist.destroy_process_group()
