"""Per-step stats: batched off the device, in order, with no tensor work per step."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tui_gan.training.events import StepPoint
from tui_gan.training.stats import SYNC_EVERY, StepStats


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_recording_a_step_does_no_tensor_work():
    """On a GPU any tensor made from the step number would be a host-to-device copy, and such a
    copy waits for the GPU's queue: a sync every step, which the batching exists to avoid."""
    stats = StepStats(torch.device("cpu"), batch_size=64)
    stats.sync_every = SYNC_EVERY  # as on a GPU
    values = [torch.tensor([1.0 + i, 2.0, 0.5, 0.25]) for i in range(SYNC_EVERY)]
    with CountOps() as counter:
        due = [stats.record(i + 1, 0, v) for i, v in enumerate(values)]
    assert counter.ops == []
    assert due == [False] * (SYNC_EVERY - 1) + [True]


def test_collect_keeps_each_steps_numbers_in_order():
    stats = StepStats(torch.device("cpu"), batch_size=64)
    stats.sync_every = 3
    for step in (7, 8, 9):
        stats.record(step, step // 8, torch.tensor([float(step), -step, 0.5, 0.25]))
    points = stats.collect()
    assert points == [
        StepPoint(7, 0, 7.0, -7.0, 0.5, 0.25),
        StepPoint(8, 1, 8.0, -8.0, 0.5, 0.25),
        StepPoint(9, 1, 9.0, -9.0, 0.5, 0.25),
    ]
    assert stats.collect() == [] and stats.take() == tuple(points)
