"""What the engine reports, and when: every step's numbers, batched into Stats events every
`stats_interval`; sample grids every `samples_interval`, but never more than ~5% of training
time (a dcgan grid on a CPU takes a quarter of a second); each also to the run's files.
Lives in the engine's thread, as the engine does."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from tui_gan.config import pretty_name
from tui_gan.models import count_params
from tui_gan.training import events as ev
from tui_gan.training.device import cuda_ids
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.recipes import describe
from tui_gan.training.runstate import RunState
from tui_gan.training.state import ArchState, sample_digits
from tui_gan.training.stats import StepStats

if TYPE_CHECKING:
    from tui_gan.training.engine import Engine


class Reporter:
    def __init__(
        self,
        emit: Callable[[ev.Event], None],
        outputs: RunOutputs,
        stats: StepStats,
        steps_per_epoch: int,
        *,
        judge_health: bool,
        stats_interval: float,
        samples_interval: float,
    ) -> None:
        self.emit = emit
        self.outputs = outputs
        self.stats = stats
        self.steps_per_epoch = steps_per_epoch
        self.judge_health = judge_health  # rank 0 (or the only process) decides divergence
        self.stats_interval = stats_interval
        self.samples_interval = samples_interval
        self.rank_rates: tuple[float, ...] = ()  # under torchrun: each rank's img/s
        self.last_stats = self.last_samples = 0.0

    def collect(self, s: ArchState) -> None:
        """Copy the steps' numbers off the device into `s.history`; check each for health."""
        points = self.stats.collect()
        s.history.extend(points)
        for point in points:
            warning = s.d_wins.update(point.d_fake)
            if warning:
                self.emit(ev.Notice(s.name, f"{s.name}: {warning}", "warning"))
            finite = math.isfinite(point.d_loss) and math.isfinite(point.g_loss)
            if self.judge_health and not s.failed and not finite:
                resume = (
                    f"Resume from the last good checkpoint: tui-gan train --resume {s.last_checkpoint}"
                    if s.last_checkpoint
                    else "No checkpoint was written yet: restart, perhaps with a lower --lr."
                )
                why = f"non-finite loss at step {point.step} (D {point.d_loss:.4g}, G {point.g_loss:.4g})"
                s.end(RunState.FAILED, f"{s.name}: {why}; training stopped. {resume}")

    def after_step(self, s: ArchState) -> None:
        """Stats and samples, when they are due."""
        now = time.perf_counter()
        if now - self.last_stats >= self.stats_interval:
            self.flush(s)
        if self.judge_health and now - self.last_samples >= max(self.samples_interval, 20 * s.sample_cost):
            self.samples(s)

    def flush(self, s: ArchState, force: bool = False) -> None:
        """Report the steps since the last Stats (and write them to the run files)."""
        now = time.perf_counter()
        self.collect(s)
        s.train_time += self.stats.close_window(now, force)
        self.last_stats = now
        if not self.stats.pending and not force:
            return
        points = self.stats.take()
        self.emit(
            ev.Stats(
                s.name,
                points=points,
                step=s.step,
                epoch=s.epoch,
                epoch_progress=s.pos / self.steps_per_epoch,
                images_per_s=self.stats.images_per_s,
                elapsed_s=s.train_time + self.stats.open_seconds(now),
                rank_images_per_s=self.rank_rates,
            )
        )
        # After the event: a full disk (WriteFailed) must not cost the viewers these points.
        self.outputs.steps(s.name, s.history, points, self.stats.images_per_s, s.train_time, force)

    def restart_window(self) -> None:
        """Training time starts counting again (after a pause, a switch, an evaluation)."""
        self.stats.reset_window()
        self.last_stats = time.perf_counter()

    def samples(self, s: ArchState) -> None:
        """The sample grid and the interpolation row, drawn in one forward: the row costs ~20%
        more samples, and having it always there lets the UI toggle it instantly."""
        start = time.perf_counter()
        y = None if s.fixed_labels is None else torch.cat([s.fixed_labels, s.interp_labels])
        out = sample_digits(s.sampler, torch.cat([s.fixed_noise, s.interp_noise]), y)
        n = len(s.fixed_noise)
        self.last_samples = time.perf_counter()
        s.sample_cost = self.last_samples - start
        self.outputs.samples(s.name, s.step, s.train_time, out[:n])
        self.emit(
            ev.Samples(
                s.name,
                step=s.step,
                images=out[:n],
                interpolation=out[n:],
                ema=s.sampler is s.G_ema,
                per_class=s.per_class,
                interp_class=-1 if s.interp_labels is None else int(s.interp_labels[0]),
                stage=s.stage,
            )
        )


def started(e: Engine, s: ArchState) -> ev.Started:
    """Everything a viewer needs to know about `s` training in `e`, at the start or a switch."""
    pci_bus_id, uuid = cuda_ids(e.device)
    return ev.Started(
        s.name,
        dataset=pretty_name(e.dataset.name),
        device=str(e.device),
        run_dir=str(e.run_dir.path) if e.run_dir else None,
        steps_per_epoch=e.steps_per_epoch,
        epochs=e.config.epochs,
        step=s.step,
        epoch=s.epoch,
        params_g=count_params(s.G),
        params_d=count_params(s.D),
        note=e.dataset.note,
        torch_threads=torch.get_num_threads(),
        pid=os.getpid(),
        device_pci_bus_id=pci_bus_id,
        device_uuid=uuid,
        devices=e.devices,
        loss=s.recipe.loss,
        recipe=describe(s.recipe) + (", class-conditional" if s.per_class else ""),
        built=s.spec.knobs_of(e.config).describe(),
    )
