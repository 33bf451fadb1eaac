"""Per-step numbers on their way out, and the throughput they come with.

On a GPU each step's stats stay on the device and are copied in batches of SYNC_EVERY (a copy
per step would stall the GPU once a step); on a CPU every step is copied at once, for free.
Training time is measured in windows that pauses, sample grids and evaluations close, so none
of those count as training."""

from __future__ import annotations

import time

import torch

from tui_gan.training.events import StepPoint

SYNC_EVERY = 32


class StepStats:
    def __init__(self, device: torch.device, batch_size: int) -> None:
        self.sync_every = 1 if device.type == "cpu" else SYNC_EVERY
        self.batch_size = batch_size
        # Steps not yet copied, as (step, epoch, values on the device). The step number stays on
        # the host: a tensor made from it would be a copy to the GPU, and such a copy waits for
        # the GPU to finish its queued work, every step.
        self._on_device: list[tuple[int, int, torch.Tensor]] = []
        self.pending: list[StepPoint] = []  # copied, not yet reported
        self.images_per_s = 0.0
        self.window_start = time.perf_counter()
        self.window_steps = 0

    def record(self, step: int, epoch: int, values: torch.Tensor) -> bool:
        """values: the step's [d_loss, g_loss, D(x), D(G(z))]. True when a copy is due."""
        self._on_device.append((step, epoch, values))
        self.window_steps += 1
        return len(self._on_device) >= self.sync_every

    def collect(self) -> list[StepPoint]:
        """Copy what is on the device (one sync); the points also go to `pending`."""
        if not self._on_device:
            return []
        rows = torch.stack([values for _, _, values in self._on_device]).cpu().tolist()
        points = [StepPoint(step, epoch, *row) for (step, epoch, _), row in zip(self._on_device, rows)]
        self._on_device.clear()
        self.pending.extend(points)
        return points

    def take(self) -> tuple[StepPoint, ...]:
        points, self.pending = tuple(self.pending), []
        return points

    def reset_window(self) -> None:
        self.window_start = time.perf_counter()
        self.window_steps = 0

    def close_window(self, now: float, force: bool = False) -> float:
        """End the timing window if it has steps and is long enough (or `force`): updates
        images_per_s and returns the training seconds it covered (else 0)."""
        elapsed = now - self.window_start
        if not self.window_steps or not (elapsed >= 0.25 or force):
            return 0.0
        self.images_per_s = self.window_steps * self.batch_size / elapsed
        self.reset_window()
        return elapsed

    def open_seconds(self, now: float) -> float:
        """Training seconds in the window still open."""
        return now - self.window_start if self.window_steps else 0.0
