"""The training engine: one thread steps a GAN, drains commands between steps, emits events.

The dashboard's job, the headless runner, benchmarks and tests all drive this same class; it
never imports Textual (docs/ARCHITECTURE.md has the threading pattern). The Engine keeps the
loop and command dispatch; the step is training/step.py, an architecture's state
training/state.py, checkpoints training/checkpoint.py, quality scheduling
training/quality_judge.py and the stats batching training/stats.py."""

from __future__ import annotations

import math
import os
import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.data import Dataset, load_dataset
from tui_gan.errors import ConfigError, TuiGanError
from tui_gan.models import ARCH_NAMES, count_params, get_arch
from tui_gan.training import commands as cmd
from tui_gan.training import distributed
from tui_gan.training import events as ev
from tui_gan.training.batches import Batches
from tui_gan.training.checkpoint import build_payload, load_checkpoint, restore_state, save_checkpoint
from tui_gan.training.device import cuda_ids, precision_context, resolve_device
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.quality_judge import QualityJudge
from tui_gan.training.recipes import describe
from tui_gan.training.rundir import RunDir
from tui_gan.training.state import ArchState, build_state, sample_digits, set_learning_rates
from tui_gan.training.stats import StepStats
from tui_gan.training.step import gan_step


class Engine:
    """Trains one architecture at a time, keeps every architecture's state, obeys commands."""

    def __init__(
        self,
        config: TrainConfig,
        emit: Callable[[ev.Event], None] | None = None,
        *,
        dataset: Dataset | None = None,
        resume: str | Path | None = None,
        run_dir: bool | str | Path = True,
        exit_when_done: bool = True,
        download: bool = True,
        stats_interval: float = 0.1,
        samples_interval: float = 1.0,
    ):
        self.config = config
        self.emit = emit or (lambda event: None)
        self.commands: queue.Queue[cmd.Command] = queue.Queue()
        self.dataset = dataset
        self.resume_path = Path(resume) if resume else None
        self._run_dir_arg = run_dir
        self.run_dir: RunDir | None = None
        self.exit_when_done = exit_when_done
        self.download = download
        self.stats_interval = stats_interval
        self.samples_interval = samples_interval
        self.archs: dict[str, ArchState] = {}
        self.current: ArchState | None = None
        self.device: torch.device | None = None
        self.batches: Batches | None = None
        self.paused = False
        self.stopping = False
        self.stop_checkpoint = True
        self.steps_this_run = 0
        self.stats: StepStats | None = None
        self.quality: QualityJudge | None = None
        self._last_stats = 0.0
        self._last_samples = 0.0
        self._ready = False
        self._mark_step = False
        self.ranks: distributed.Ranks | None = None  # under torchrun with more than one process
        self._pending_switch: str | None = None
        self._devices: tuple = ()  # every rank's GPU (PCI bus id, UUID)
        self.rank_rates: tuple[float, ...] = ()  # each rank's img/s, gathered every RATES_EVERY steps
        self.outputs = RunOutputs(None)
        self._setup_notes: list[str] = []  # warnings from setup, said once training is announced

    # --- public driving API ----------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        self.commands.put(command)

    def setup(self) -> None:
        """Load data, make the run folder and the first architecture. Raises TuiGanError."""
        config = self.config.validate()
        # The caller merges the checkpoint's settings with what the user changed (see
        # cli/train.py config_from_args); the engine only insists on the architecture.
        resume = load_checkpoint(self.resume_path, expected_arch=config.arch) if self.resume_path else None
        self.device = resolve_device(config.device)
        self._autocast = precision_context(config.precision, self.device)
        # Compiled with CUDA graphs: a step is one iteration of their replay, whatever tensors
        # of the last one the engine still holds (PyTorch's cudagraph trees cannot tell alone).
        self._mark_step = self.device.type == "cuda" and config.compile in ("reduce-overhead", "max-autotune")
        if distributed.world_size() > 1:
            self.ranks = distributed.init(self.device)
            self.device = distributed.local_device(self.device, self.ranks)
            if self.device.type == "cuda":
                self._devices = distributed.gather_devices(self.ranks, cuda_ids(self.device))
            if not self.ranks.main:  # rank 0 alone writes files and judges quality
                self._run_dir_arg = False
                config = config.replace(eval_every=0.0, tensorboard=False)
        torch.manual_seed(config.seed)  # dropout draws from the global generator
        if self.dataset is None:
            self.dataset = load_dataset(
                config.dataset,
                config.data_dir,
                download=self.download,
                synthetic_size=config.synthetic_size,
                seed=config.seed,
            )
        if len(self.dataset) < config.batch_size:
            raise ConfigError(
                f"batch size {config.batch_size} is larger than the dataset ({len(self.dataset)} images)"
            )
        if config.conditional and self.dataset.labels is None:
            raise ConfigError(
                f"--conditional needs class labels, and {pretty_name(self.dataset.name)} "
                f"({self.dataset.source}) has none: add its labels file beside the images"
            )
        labels = self.dataset.labels.to(self.device) if config.conditional else None
        self.batches = Batches(
            self.dataset.images.to(self.device), config.batch_size, config.z_dim, self.ranks, labels
        )
        if self._run_dir_arg is True:
            self.run_dir = RunDir.create(config.runs_dir, config.arch)
        elif self._run_dir_arg:
            self.run_dir = RunDir.open(self._run_dir_arg)
        self.config = config
        self.stats = StepStats(self.device, config.batch_size)
        self.outputs = RunOutputs(self.run_dir)
        self.quality = QualityJudge(
            config,
            self.dataset,
            self.emit,
            self.outputs,
            self._checkpoint if self.run_dir is not None else None,
        )
        self.quality.start()
        state = build_state(get_arch(config.arch), config, self.device, self.ranks)
        if resume is not None:
            warning = restore_state(state, resume, self.resume_path, self.device, self.dataset, config)
            if warning:
                self._setup_notes.append(warning)
        self.archs[state.name] = state
        self.current = state
        self.outputs.grid_columns = state.per_class or None
        self.outputs.write_config(config, self.dataset, self.device, self.resume_path)
        note = self.outputs.open_tensorboard(config, self.device, resume["step"] if resume else None)
        if note:
            self._setup_notes.append(note)
        self._ready = True

    @property
    def _is_main(self) -> bool:
        """Rank 0 (or the only process): the one that decides divergence and draws samples."""
        return self.ranks is None or self.ranks.main

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.per_epoch

    def run(self) -> str:
        """Train until done, stopped or failed; returns the Finished reason.

        Setup problems (bad config, missing data, unwritable folder) raise TuiGanError before any
        training, so a caller can offer a fix; failures while training become events."""
        if not self._ready:
            self.setup()
        reason = "error"
        try:
            self._announce()
            reason = self._loop()
        except Exception as exc:  # the UI must see it, never a dead thread
            self._report_crash(exc)
        finally:
            self.quality.close()
            self._finish_files()
            self.outputs.close()
            if self.ranks is not None:
                distributed.close(self.ranks)
        state = self.current
        self.emit(
            ev.Finished(state.name, reason, state.step, str(self.run_dir.path) if self.run_dir else None)
        )
        return reason

    # --- the loop --------------------------------------------------------------------------
    def _loop(self) -> str:
        while True:
            self._drain_commands()
            self._take_classifier()
            if self.ranks is not None:
                self._follow_main()
            if self.stopping:
                self._flush_stats(force=True)
                if self.stop_checkpoint:
                    self._checkpoint_all_dirty()
                self.emit(ev.StateChanged(self.current.name, "stopped", self.current.step))
                return "stopped"
            state = self.current
            if state.diverged or self._done(state):
                if self.exit_when_done:
                    return (
                        "error" if state.diverged else ("max_steps" if self._hit_max_steps() else "completed")
                    )
                self._wait_for_command()
                continue
            if self.paused:
                self._wait_for_command()
                continue
            self.train_step()
            self._after_step()

    def _follow_main(self) -> None:
        """Every rank adopts rank 0's pause, stop, architecture and divergence (see distributed.py)."""
        s = self.current
        stop = 0 if not self.stopping else (1 if self.stop_checkpoint else 2)
        if s.stopped_early and not stop:  # rank 0 alone judges quality: its early stop ends the run
            stop = 1
        paused, stop, arch, diverged = distributed.follow(
            self.ranks, self.paused, stop, self._pending_switch or s.name, bool(s.diverged)
        )
        self._pending_switch = None
        if arch != s.name:
            self._switch(arch)
        self.paused = paused
        if stop:
            self.stopping, self.stop_checkpoint = True, stop == 1
        if diverged and not self.current.diverged:
            self.current.diverged = "rank 0 saw a non-finite loss"

    def _done(self, state: ArchState) -> bool:
        return state.epoch >= self.config.epochs or self._hit_max_steps() or bool(state.stopped_early)

    def _hit_max_steps(self) -> bool:
        return self.config.max_steps is not None and self.steps_this_run >= self.config.max_steps

    def _wait_for_command(self) -> None:
        # Blocking on the queue (with a timeout) wakes at once for any command, quit included.
        try:
            command = self.commands.get(timeout=0.2)
        except queue.Empty:
            return
        self._handle(command)

    def _drain_commands(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self._handle(command)

    def _handle(self, command: cmd.Command) -> None:
        state = self.current
        if isinstance(command, cmd.TogglePause):
            command = cmd.Resume() if self.paused else cmd.Pause()
        if isinstance(command, cmd.Pause):
            if not self.paused:
                self.paused = True
                self._flush_stats(force=True)
                self.emit(ev.StateChanged(state.name, "paused", state.step))
                self._emit_samples()
        elif isinstance(command, cmd.Resume):
            if self.paused:
                self.paused = False
                self.stats.reset_window()
                self.emit(ev.StateChanged(state.name, self._state_word(state), state.step))
        elif isinstance(command, cmd.SaveCheckpoint):
            self._flush_stats(force=True)
            self._checkpoint(state, f"step_{state.step:07d}")
        elif isinstance(command, cmd.SwitchArch):
            if self.ranks is None:
                self._switch(command.name)
            elif command.name in ARCH_NAMES:  # after this iteration's broadcast, on every rank at once
                self._pending_switch = command.name
            else:
                self.emit(ev.Notice(state.name, f"unknown architecture {command.name!r}", "error"))
        elif isinstance(command, cmd.RollbackToBest):
            if self.ranks is None:
                self._rollback(state)
            else:  # every rank would have to load it at the same step
                self.emit(
                    ev.Notice(
                        state.name,
                        "rolling back is for single-process runs: resume from best.pt "
                        "with tui-gan train --resume instead",
                        "warning",
                    )
                )
        elif isinstance(command, cmd.ToggleRawSamples):
            self._toggle_raw(state)
        elif isinstance(command, cmd.EvaluateNow):
            if self.quality.request(state.name):
                self.evaluate_quality()
        elif isinstance(command, cmd.Stop):
            self.stopping = True
            self.stop_checkpoint = command.checkpoint

    def _toggle_raw(self, s: ArchState) -> None:
        if s.G_ema is None:
            self.emit(ev.Notice(s.name, f"{s.name} trains without an EMA generator (--ema): samples are G's"))
            return
        s.show_raw = not s.show_raw
        self.emit(ev.Notice(s.name, f"samples now from {'the raw G' if s.show_raw else 'the EMA of G'}"))
        self._emit_samples()

    def _state_word(self, state: ArchState) -> str:
        if state.diverged:
            return "error"
        if self._done(state):
            return "finished"
        return "paused" if self.paused else "running"

    # --- one step --------------------------------------------------------------------------
    def train_step(self, state: ArchState | None = None) -> None:
        """The next batch of the epoch's shuffle through gan_step, and its bookkeeping."""
        s = state or self.current
        if s.recipe.lr_schedule != "none" or s.recipe.warmup:  # the decay spans the configured epochs
            set_learning_rates(s, self.config.epochs * self.steps_per_epoch)
        real, z, y = self.batches.next(s)
        if self._mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        values = gan_step(s, real, z, self._autocast, lambda: self.batches.latents(s), y)
        s.step += 1
        s.pos += 1
        self.steps_this_run += 1
        if self.stats.record(s.step, s.epoch, values):
            self._collect_stats(s)

    def _collect_stats(self, s: ArchState) -> None:
        for point in self.stats.collect():
            s.history.append(point.row())
            warning = s.d_wins.update(point.d_fake)
            if warning:
                self.emit(ev.Notice(s.name, f"{s.name}: {warning}", "warning"))
            if (
                self._is_main
                and not s.diverged
                and not (math.isfinite(point.d_loss) and math.isfinite(point.g_loss))
            ):
                s.diverged = (
                    f"{s.name}: non-finite loss at step {point.step} (D {point.d_loss:.4g}, G {point.g_loss:.4g}); "
                    "training stopped. "
                    + (
                        f"Resume from the last good checkpoint: tui-gan train --resume {s.last_checkpoint}"
                        if s.last_checkpoint
                        else "No checkpoint was written yet: restart, perhaps with a lower --lr."
                    )
                )

    def _after_step(self) -> None:
        s = self.current
        if s.pos >= self.steps_per_epoch:
            self._end_epoch(s)
        now = time.perf_counter()
        if now - self._last_stats >= self.stats_interval:
            self._flush_stats()
        if self.ranks is not None and s.step % distributed.RATES_EVERY == 0:
            self.rank_rates = distributed.gather_rates(self.ranks, self.stats.images_per_s / self.ranks.world)
        # Samples are due every samples_interval, but never cost more than ~5% of training time
        # (a dcgan grid on a CPU takes a quarter of a second).
        if self._is_main and now - self._last_samples >= max(self.samples_interval, 20 * s.sample_cost):
            self._emit_samples()
        if self.quality.due(s, s.train_time + self.stats.open_seconds(time.perf_counter())):
            self.evaluate_quality(s)
        if s.diverged:
            self._flush_stats(force=True)
            self.emit(ev.Failed(s.name, s.diverged))
            self.emit(ev.StateChanged(s.name, "error", s.step))
            self.paused = True
        elif self._done(s):
            self._flush_stats(force=True)
            self._emit_samples()
            if self.run_dir is not None and s.step != s.checkpoint_step:
                self._checkpoint(s, "latest")
            self.emit(ev.StateChanged(s.name, "finished", s.step))

    def _end_epoch(self, s: ArchState) -> None:
        s.epoch += 1
        s.pos = 0
        s.perm = None
        self._collect_stats(s)
        if s.diverged:
            return
        if self.run_dir is not None:
            self.outputs.epoch_samples(s.name, s.epoch, s.step, self.sample_images(s))
            if self.config.checkpoint_every and s.epoch % self.config.checkpoint_every == 0:
                self._checkpoint(s, "latest")

    # --- events ----------------------------------------------------------------------------
    def _flush_stats(self, force: bool = False) -> None:
        s = self.current
        now = time.perf_counter()
        self._collect_stats(s)
        s.train_time += self.stats.close_window(now, force)
        self._last_stats = now
        if not self.stats.pending and not force:
            return
        points = self.stats.take()
        self.outputs.steps(s.name, s.step, points, self.stats.images_per_s, s.train_time)
        self.emit(
            ev.Stats(
                s.name,
                points,
                s.step,
                s.epoch,
                s.pos / self.steps_per_epoch,
                self.stats.images_per_s,
                s.train_time + self.stats.open_seconds(now),
                self.rank_rates,
            )
        )

    def sample_images(
        self, s: ArchState | None = None, z: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> np.ndarray:
        """The generator's digits for z and classes y (default: the sample grid's), as (n, 28, 28) uint8."""
        s = s or self.current
        if z is None:
            z, y = s.fixed_noise, s.fixed_labels
        return sample_digits(s.sampler, z, y)

    def _emit_samples(self) -> None:
        s = self.current
        start = time.perf_counter()
        # One forward for the grid and the interpolation row: the row costs ~20% more samples,
        # and having it always there lets the UI toggle it instantly.
        y = None if s.fixed_labels is None else torch.cat([s.fixed_labels, s.interp_labels])
        out = self.sample_images(s, torch.cat([s.fixed_noise, s.interp_noise]), y)
        n = len(s.fixed_noise)
        self._last_samples = time.perf_counter()
        s.sample_cost = self._last_samples - start
        self.outputs.samples(s.name, s.step, out[:n])
        interp_class = -1 if s.interp_labels is None else int(s.interp_labels[0])
        self.emit(
            ev.Samples(s.name, s.step, out[:n], out[n:], s.sampler is s.G_ema, s.per_class, interp_class)
        )

    def _announce(self) -> None:
        s = self.current
        self.emit(
            ev.Started(
                s.name,
                pretty_name(self.dataset.name),
                str(self.device),
                str(self.run_dir.path) if self.run_dir else None,
                self.steps_per_epoch,
                self.config.epochs,
                s.step,
                s.epoch,
                count_params(s.G),
                count_params(s.D),
                self.dataset.note,
                torch.get_num_threads(),
                os.getpid(),
                *cuda_ids(self.device),
                self._devices,
                s.recipe.loss,
                describe(s.recipe) + (", class-conditional" if s.per_class else ""),
            )
        )
        if self.dataset.note:
            self.emit(ev.Notice(s.name, self.dataset.note, "warning"))
        for note in self._setup_notes:
            self.emit(ev.Notice(s.name, note, "warning"))
        self._setup_notes.clear()
        self.quality.announce(s.name)
        self.emit(ev.StateChanged(s.name, self._state_word(s), s.step))
        self._emit_samples()
        self.stats.reset_window()
        self._last_stats = time.perf_counter()

    # --- architectures ---------------------------------------------------------------------
    def _switch(self, name: str) -> None:
        old = self.current
        try:
            spec = get_arch(name)
        except ConfigError as exc:
            self.emit(ev.Notice(old.name, str(exc), "error"))
            return
        if spec.name == old.name:
            return
        self._flush_stats(force=True)
        if spec.name not in self.archs:
            self.archs[spec.name] = build_state(spec, self.config, self.device, self.ranks)
        self.current = new = self.archs[spec.name]
        self.stats.images_per_s = 0.0
        self.stats.reset_window()
        self.emit(ev.ArchSwitched(new.name, old.name, new.step))
        self._announce()

    # --- quality ---------------------------------------------------------------------------
    def _take_classifier(self) -> None:
        """A classifier finished in the background is handed to this thread (which alone emits)."""
        if self.quality.take(self.current.name):
            self.evaluate_quality()

    def evaluate_quality(self, s: ArchState | None = None):
        s = s or self.current
        self._flush_stats(force=True)  # evaluation time must not count as training time
        report = self.quality.judge(s, self.device)
        self.stats.reset_window()
        return report

    def _rollback(self, s: ArchState) -> None:
        """`b`: continue from best.pt (after a collapse, say); the run folder keeps everything."""
        path = self.run_dir.checkpoint_path(s.name, "best") if self.run_dir else None
        if path is None or not path.is_file():
            self.emit(
                ev.Notice(
                    s.name,
                    f"{s.name} has no best.pt yet (written at the first quality evaluation)",
                    "warning",
                )
            )
            return
        self._flush_stats(force=True)
        try:
            restore_state(
                s, load_checkpoint(path, expected_arch=s.name), path, self.device, self.dataset, self.config
            )
        except TuiGanError as exc:
            self.emit(ev.Notice(s.name, str(exc), "error"))
            return
        s.diverged = s.stopped_early = None
        s.evals_since_best = 0
        self.emit(
            ev.Notice(
                s.name, f"{s.name}: rolled back to best.pt (step {s.step:,}, FD {s.best_fd:.1f})", "success"
            )
        )
        self.emit(ev.StateChanged(s.name, self._state_word(s), s.step))
        self._emit_samples()

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint_payload(self, s: ArchState) -> dict:
        return build_payload(s, self.config, self.device, self.dataset)

    def _checkpoint(self, s: ArchState, name: str) -> str | None:
        if self.run_dir is None:
            self.emit(ev.Notice(s.name, "no run folder: checkpoints are off for this run", "warning"))
            return None
        if s.diverged:
            self.emit(ev.Notice(s.name, "not writing a checkpoint of non-finite weights", "warning"))
            return None
        self._collect_stats(s)
        path = self.run_dir.checkpoint_path(s.name, name)
        try:
            save_checkpoint(path, self.checkpoint_payload(s))
        except OSError as exc:
            self.emit(ev.Notice(s.name, f"checkpoint not written ({path}): {exc.strerror or exc}", "error"))
            return None
        s.last_checkpoint = str(path)
        s.checkpoint_step = s.step
        self.emit(ev.CheckpointSaved(s.name, str(path), s.step))
        return str(path)

    def _checkpoint_all_dirty(self) -> None:
        for s in self.archs.values():
            if s.step and s.step != s.checkpoint_step:
                self._checkpoint(s, "latest")

    # --- the end ---------------------------------------------------------------------------
    def _report_crash(self, exc: BaseException) -> None:
        path = self.outputs.crash(traceback.format_exc())
        name = self.current.name if self.current else self.config.arch
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.emit(ev.Failed(name, message, path))
        self.emit(ev.StateChanged(name, "error", self.current.step if self.current else 0))

    def _finish_files(self) -> None:
        for s in self.archs.values():
            try:
                self.outputs.finish(s.name, s.history, lambda: None if s.diverged else self.sample_images(s))
            except Exception as exc:  # a plot must never cost the user the run
                self.emit(ev.Notice(s.name, f"could not write the loss plot/GIF: {exc}", "warning"))
