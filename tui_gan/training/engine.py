"""The training engine: one thread steps a GAN, drains commands between steps, emits events.

The dashboard, the headless runner, benchmarks and tests all drive this same class; it never
imports Textual. See ../shared/DESIGN.md for the threading pattern.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.data import Dataset, load_dataset
from tui_gan.errors import CheckpointError, ConfigError
from tui_gan.models import ARCH_NAMES, ArchSpec, count_params, get_arch, has_batchnorm
from tui_gan.training import commands as cmd
from tui_gan.training import distributed
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint, save_checkpoint
from tui_gan.training.health import DiscriminatorWins, ModeCollapse
from tui_gan.training.rundir import RunDir

HISTORY_COLUMNS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake")
INTERPOLATION_POINTS = 16  # digits along the straight latent path sent with every Samples event


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU here; use --device cpu or auto")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise ConfigError(f"device {name!r} asked for, but PyTorch sees {count} GPU{'s' if count != 1 else ''} "
                          f"(cuda:0{f'..cuda:{count - 1}' if count > 1 else ''})"
                          + (f" with CUDA_VISIBLE_DEVICES={visible}" if visible is not None else ""))
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but MPS is not available here; use --device cpu or auto")
    return torch.device(name)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _backward(loss: torch.Tensor, scaler) -> None:
    # fp16: scaled so small gradients survive (the step is skipped if any overflowed)
    (loss if scaler is None else scaler.scale(loss)).backward()


def _step(opt: torch.optim.Optimizer, scaler) -> None:
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)


def _no_sync(module: torch.nn.Module):
    """DDP's gradient accumulation without a sync; nothing for a plain module."""
    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()


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


def precision_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
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


def make_adam(params, config: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel where this PyTorch has one for the device (fewer passes over memory)."""
    kwargs = dict(lr=config.lr, betas=(config.beta1, config.beta2))
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, **kwargs)


@dataclass
class ArchState:
    """Everything one architecture needs to continue where it was: switching away and back
    (or a checkpoint) resumes exactly."""

    spec: ArchSpec
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    noise: torch.Generator  # z for training steps and the epoch shuffles
    fixed_noise: torch.Tensor
    interp_noise: torch.Tensor  # INTERPOLATION_POINTS latents on a straight line between two fixed ones
    perm: torch.Tensor | None = None  # this epoch's shuffle
    step: int = 0
    epoch: int = 0  # completed epochs
    pos: int = 0  # batches done in the current epoch
    train_time: float = 0.0
    history: list[tuple] = field(default_factory=list)  # HISTORY_COLUMNS rows, one per step
    last_checkpoint: str | None = None
    checkpoint_step: int = -1
    diverged: str | None = None  # why stepping stopped (non-finite loss)
    d_concat: bool = True  # D has no BatchNorm: real and fake can share one forward pass
    last_eval_time: float = 0.0  # train_time at the last quality evaluation
    eval_cost: float = 0.0  # seconds the last evaluation took (0: none yet)
    sample_cost: float = 0.0  # seconds the last sample grid took
    G_run: torch.nn.Module | None = None  # what the step calls: G, or torch.compile(G)
    D_run: torch.nn.Module | None = None
    D_g: torch.nn.Module | None = None  # D in the G step: compiled maybe, never DDP-wrapped
    scaler: torch.amp.GradScaler | None = None  # fp16 only
    d_wins: DiscriminatorWins = field(default_factory=DiscriminatorWins)
    collapse: ModeCollapse = field(default_factory=ModeCollapse)

    @property
    def name(self) -> str:
        return self.spec.name


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
        self.images: torch.Tensor | None = None
        self.paused = False
        self.stopping = False
        self.stop_checkpoint = True
        self.steps_this_run = 0
        self._pending: list[tuple] = []  # StepPoints not yet emitted
        self._pending_stats: list[torch.Tensor] = []  # per-step stats still on the device
        self._window_start = time.perf_counter()
        self._window_steps = 0
        self._images_per_s = 0.0
        self._last_stats = 0.0
        self._last_samples = 0.0
        self._ready = False
        # quality classifier: trained/loaded in a background thread, handed over between steps
        self.classifier = None
        self.real_floor = 0.0
        self._classifier_result: dict = {}
        self._classifier_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._eval_requested = False
        self._quality_told = False  # "quality metrics are off" said once
        self._quality_error = ""  # why the background classifier failed, if it did
        self.ranks: distributed.Ranks | None = None  # under torchrun with more than one process
        self.local_batch: int | None = None  # this rank's slice of each batch
        self._pending_switch: str | None = None
        self._devices: tuple = ()  # every rank's GPU (PCI bus id, UUID)
        self.rank_rates: tuple[float, ...] = ()  # each rank's img/s, gathered every RATES_EVERY steps
        self.tensorboard = None  # TensorBoardLog, when the run has a folder and --no-tensorboard is not given
        self._system = None  # SystemMonitor for the GPU/CPU figures TensorBoard gets
        self._setup_notes: list[str] = []  # warnings from setup, said once training is announced

    # --- public driving API ----------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        self.commands.put(command)

    def setup(self) -> None:
        """Load data, make the run folder and the first architecture. Raises TuiGanError."""
        config = self.config.validate()
        # The caller merges the checkpoint's settings with what the user changed (see
        # cli.config_from_args); the engine only insists on the architecture.
        resume = load_checkpoint(self.resume_path, expected_arch=config.arch) if self.resume_path else None
        self.device = resolve_device(config.device)
        self._autocast = precision_context(config.precision, self.device)
        if distributed.world_size() > 1:
            self.ranks = distributed.init(self.device)
            self.device = distributed.local_device(self.device, self.ranks)
            self.local_batch = distributed.local_batch(config.batch_size, self.ranks)
            if self.device.type == "cuda":
                self._devices = distributed.gather_devices(self.ranks, cuda_ids(self.device))
            if not self.ranks.main:  # rank 0 alone writes files and judges quality
                self._run_dir_arg = False
                config = config.replace(eval_every=0.0, tensorboard=False)
        torch.manual_seed(config.seed)  # dropout draws from the global generator
        if self.dataset is None:
            self.dataset = load_dataset(
                config.dataset, config.data_dir, download=self.download, synthetic_size=config.synthetic_size, seed=config.seed
            )
        if len(self.dataset) < config.batch_size:
            raise ConfigError(f"batch size {config.batch_size} is larger than the dataset ({len(self.dataset)} images)")
        self.images = self.dataset.images.to(self.device)
        if self._run_dir_arg is True:
            self.run_dir = RunDir.create(config.runs_dir, config.arch)
        elif self._run_dir_arg:
            self.run_dir = RunDir.open(self._run_dir_arg)
        self.config = config
        self._start_classifier()
        state = self._new_state(get_arch(config.arch))
        if resume is not None:
            self._restore(state, resume)
        self.archs[state.name] = state
        self.current = state
        if self.run_dir is not None:
            self.run_dir.write_config(
                {
                    **config.to_dict(),
                    "dataset_source": self.dataset.source,
                    "dataset_split": self.dataset.split,
                    "dataset_size": len(self.dataset),
                    "device_resolved": str(self.device),
                    "resumed_from": str(self.resume_path) if self.resume_path else None,
                    "torch": torch.__version__,
                }
            )
        self._open_tensorboard(resume["step"] if resume else None)
        self._ready = True

    def _open_tensorboard(self, resumed_step: int | None) -> None:
        """Event files beside metrics.csv, plus a probe for the GPU figures they log."""
        if self.run_dir is None or not self.config.tensorboard:
            return
        try:
            from tui_gan.training.tensorboard import TensorBoardLog

            self.tensorboard = TensorBoardLog(self.run_dir.path, None if resumed_step is None else resumed_step + 1)
        except Exception as exc:  # e.g. the tensorboard package missing: the run goes on without it
            self._setup_notes.append(f"TensorBoard logging is off: {type(exc).__name__}: {exc}")
            return
        from tui_gan.system import DeviceIds, SystemMonitor

        self._system = SystemMonitor(str(self.device), torch.get_num_threads(), device_ids=DeviceIds(*cuda_ids(self.device)))

    @property
    def _judges(self) -> bool:
        """Rank 0 (or the only process): the one that decides divergence and draws samples."""
        return self.ranks is None or self.ranks.main

    @property
    def steps_per_epoch(self) -> int:
        return len(self.dataset) // self.config.batch_size

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
            self._closing.set()  # a classifier still training in the background gives up
            self._finish_files()
            if self.run_dir is not None:
                self.run_dir.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
                self._system.close()
            if self.ranks is not None:
                distributed.close(self.ranks)
        state = self.current
        self.emit(ev.Finished(state.name, reason, state.step, str(self.run_dir.path) if self.run_dir else None))
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
                    return "error" if state.diverged else ("max_steps" if self._hit_max_steps() else "completed")
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
        paused, stop, arch, diverged = distributed.follow(
            self.ranks, self.paused, stop, self._pending_switch or s.name, bool(s.diverged))
        self._pending_switch = None
        if arch != s.name:
            self._switch(arch)
        self.paused = paused
        if stop:
            self.stopping, self.stop_checkpoint = True, stop == 1
        if diverged and not self.current.diverged:
            self.current.diverged = "rank 0 saw a non-finite loss"

    def _done(self, state: ArchState) -> bool:
        return state.epoch >= self.config.epochs or self._hit_max_steps()

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
                self._reset_window()
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
        elif isinstance(command, cmd.RefreshSamples):
            self._emit_samples()
        elif isinstance(command, cmd.EvaluateNow):
            self._request_evaluation()
        elif isinstance(command, cmd.Stop):
            self.stopping = True
            self.stop_checkpoint = command.checkpoint

    def _state_word(self, state: ArchState) -> str:
        if state.diverged:
            return "error"
        if self._done(state):
            return "finished"
        return "paused" if self.paused else "running"

    # --- one step --------------------------------------------------------------------------
    def train_step(self, state: ArchState | None = None) -> None:
        """One D step on real + fake, then one non-saturating G step."""
        s = state or self.current
        B = self.config.batch_size
        if s.perm is None:
            s.perm = torch.randperm(len(self.images), generator=s.noise, device=self.device)
        # This rank's slice of the batch (all of it in one process): every rank draws the same
        # shuffle and latents, so N ranks together train on exactly what one process would.
        b = self.local_batch or B
        lo = (self.ranks.rank if self.ranks else 0) * b
        idx = s.perm[s.pos * B + lo : s.pos * B + lo + b]
        real = self.images[idx].unsqueeze(1).float().mul_(2 / 255).sub_(1)  # = ToTensor + Normalize(0.5, 0.5)
        z = torch.randn(B, self.config.z_dim, generator=s.noise, device=self.device)[lo : lo + b]
        G, D = s.G_run, s.D_run  # compiled (--compile) and/or DDP-wrapped; else the modules themselves
        with self._autocast():
            fake = G(z)
        s.opt_d.zero_grad(set_to_none=True)
        if s.d_concat:  # one forward for both halves: same maths when D has no batch statistics
            with self._autocast():
                logits = D(torch.cat([real, fake.detach()]))
                real_logits, fake_logits = logits[:b], logits[b:]
                d_loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
            _backward(d_loss, s.scaler)
        else:  # two backward passes: DDP accepts one forward per backward (gradients sync on the second)
            with _no_sync(D):
                with self._autocast():
                    real_logits = D(real)
                    loss_real = _bce(real_logits, 1.0)
                _backward(loss_real, s.scaler)
            with self._autocast():
                fake_logits = D(fake.detach())
                loss_fake = _bce(fake_logits, 0.0)
            _backward(loss_fake, s.scaler)
            d_loss = loss_real.detach() + loss_fake.detach()
        _step(s.opt_d, s.scaler)

        # D's weights get no gradient in the G step: skipping them saves a third of its backward.
        # (The plain D, not its DDP wrapper: there is nothing of D's to synchronise.)
        s.D.requires_grad_(False)
        with self._autocast():
            g_logits = s.D_g(fake)
            g_loss = _bce(g_logits, 1.0)
        s.opt_g.zero_grad(set_to_none=True)
        _backward(g_loss, s.scaler)
        _step(s.opt_g, s.scaler)
        s.D.requires_grad_(True)
        if s.scaler is not None:
            s.scaler.update()

        with torch.no_grad():
            stats = torch.stack([d_loss.detach().float(), g_loss.detach().float(),
                                 torch.sigmoid(real_logits.float()).mean(), torch.sigmoid(fake_logits.float()).mean()])
        s.step += 1
        s.pos += 1
        self.steps_this_run += 1
        self._window_steps += 1
        self._pending_stats.append(torch.cat([stats, stats.new_tensor([s.step, s.epoch])]))
        if self.device.type == "cpu" or len(self._pending_stats) >= 32:
            self._collect_stats(s)  # free on CPU; batched on GPUs to avoid a sync per step

    def _collect_stats(self, s: ArchState) -> None:
        if not self._pending_stats:
            return
        rows = torch.stack(self._pending_stats).cpu().tolist()
        self._pending_stats.clear()
        for d_loss, g_loss, d_real, d_fake, step, epoch in rows:
            point = ev.StepPoint(int(step), int(epoch), d_loss, g_loss, d_real, d_fake)
            s.history.append((point.step, point.epoch, d_loss, g_loss, d_real, d_fake))
            self._pending.append(point)
            warning = s.d_wins.update(d_fake)
            if warning:
                self.emit(ev.Notice(s.name, f"{s.name}: {warning}", "warning"))
            if self._judges and not s.diverged and not (math.isfinite(d_loss) and math.isfinite(g_loss)):
                s.diverged = (
                    f"{s.name}: non-finite loss at step {point.step} (D {d_loss:.4g}, G {g_loss:.4g}); training stopped. "
                    + (f"Resume from the last good checkpoint: tui-gan train --resume {s.last_checkpoint}"
                       if s.last_checkpoint else "No checkpoint was written yet: restart, perhaps with a lower --lr.")
                )

    def _after_step(self) -> None:
        s = self.current
        if s.pos >= self.steps_per_epoch:
            self._end_epoch(s)
        now = time.perf_counter()
        if now - self._last_stats >= self.stats_interval:
            self._flush_stats()
        if self.ranks is not None and s.step % distributed.RATES_EVERY == 0:
            self.rank_rates = distributed.gather_rates(self.ranks, self._images_per_s / self.ranks.world)
        # Samples are due every samples_interval, but never cost more than ~5% of training time
        # (a dcgan grid on a CPU takes a quarter of a second).
        if self._judges and now - self._last_samples >= max(self.samples_interval, 20 * s.sample_cost):
            self._emit_samples()
        self._maybe_evaluate(s)
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
            grid = self.sample_images(s)
            self.run_dir.save_samples(s.name, s.epoch, grid)
            if self.tensorboard is not None:
                self.tensorboard.samples(s.name, s.step, grid, force=True)
            if self.config.checkpoint_every and s.epoch % self.config.checkpoint_every == 0:
                self._checkpoint(s, "latest")

    # --- events ----------------------------------------------------------------------------
    def _reset_window(self) -> None:
        self._window_start = time.perf_counter()
        self._window_steps = 0

    def _flush_stats(self, force: bool = False) -> None:
        s = self.current
        now = time.perf_counter()
        self._collect_stats(s)
        elapsed = now - self._window_start
        if self._window_steps and (elapsed >= 0.25 or force):
            self._images_per_s = self._window_steps * self.config.batch_size / elapsed
            s.train_time += elapsed
            self._reset_window()
        self._last_stats = now
        if not self._pending and not force:
            return
        points, self._pending = tuple(self._pending), []
        if self.run_dir is not None and points:
            self.run_dir.append_metrics(s.name, points, self._images_per_s, s.train_time)
            if self.tensorboard is not None:
                self.tensorboard.steps(s.name, points, self._images_per_s)
                self.tensorboard.system(s.step, self._system.poll)
        self.emit(
            ev.Stats(
                s.name, points, s.step, s.epoch, s.pos / self.steps_per_epoch, self._images_per_s,
                s.train_time + (now - self._window_start if self._window_steps else 0.0), self.rank_rates,
            )
        )

    def sample_images(self, s: ArchState | None = None, z: torch.Tensor | None = None) -> np.ndarray:
        """The generator on z (default: the fixed noise), as (n, 28, 28) uint8; eval mode so
        BatchNorm uses its running statistics and sampling never disturbs training."""
        s = s or self.current
        was_training = s.G.training
        s.G.eval()
        with torch.no_grad():
            out = s.G(s.fixed_noise if z is None else z)
        s.G.train(was_training)
        return out.squeeze(1).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()

    def _emit_samples(self) -> None:
        s = self.current
        start = time.perf_counter()
        # One forward for the grid and the interpolation row: the row costs ~20% more samples,
        # and having it always there lets the UI toggle it instantly.
        out = self.sample_images(s, torch.cat([s.fixed_noise, s.interp_noise]))
        n = len(s.fixed_noise)
        self._last_samples = time.perf_counter()
        s.sample_cost = self._last_samples - start
        if self.tensorboard is not None:
            self.tensorboard.samples(s.name, s.step, out[:n])
        self.emit(ev.Samples(s.name, s.step, out[:n], out[n:]))

    def _announce(self) -> None:
        s = self.current
        self.emit(
            ev.Started(
                s.name, pretty_name(self.dataset.name), str(self.device),
                str(self.run_dir.path) if self.run_dir else None, self.steps_per_epoch, self.config.epochs,
                s.step, s.epoch, count_params(s.G), count_params(s.D), self.dataset.note, torch.get_num_threads(),
                os.getpid(), *cuda_ids(self.device), self._devices,
            )
        )
        if self.dataset.note:
            self.emit(ev.Notice(s.name, self.dataset.note, "warning"))
        for note in self._setup_notes:
            self.emit(ev.Notice(s.name, note, "warning"))
        self._setup_notes.clear()
        if self._classifier_thread is None and not self._quality_told:
            self._quality_told = True
            self.emit(ev.Notice(s.name, self._quality_off_reason(), topic="quality"))
        self.emit(ev.StateChanged(s.name, self._state_word(s), s.step))
        self._emit_samples()
        self._reset_window()
        self._last_stats = time.perf_counter()

    # --- architectures ---------------------------------------------------------------------
    def _new_state(self, spec: ArchSpec) -> ArchState:
        config, device = self.config, self.device
        with torch.random.fork_rng(devices=[]):  # same initial weights for a seed, whatever ran before
            torch.manual_seed(config.seed)
            G, D = spec.build(config.z_dim)
            fixed_noise = torch.randn(config.sample_count, config.z_dim)
            ends = torch.randn(2, config.z_dim)
        t = torch.linspace(0, 1, INTERPOLATION_POINTS).unsqueeze(1)
        interp_noise = (1 - t) * ends[0] + t * ends[1]
        # Convolutions run faster in channels-last layout (oneDNN on CPUs, cuDNN on GPUs);
        # MLPs are unaffected, so this is a no-op for them.
        G.to(device, memory_format=torch.channels_last).train()
        D.to(device, memory_format=torch.channels_last).train()
        noise = torch.Generator(device=device)
        noise.manual_seed(config.seed + 1)
        G_run, D_run = G, D
        if self.ranks is not None:  # the wrapped modules (SyncBatchNorm on GPUs) are G and D from now on
            G_run, D_run = distributed.wrap(G, device), distributed.wrap(D, device)
            G, D = G_run.module, D_run.module
        D_g = D_run if self.ranks is None else D
        if config.compile != "off":  # the weights stay G's and D's: checkpoints and sampling use those
            mode = None if config.compile == "default" else config.compile
            G_run, D_run = torch.compile(G_run, mode=mode), torch.compile(D_run, mode=mode)
            D_g = D_run if self.ranks is None else torch.compile(D, mode=mode)
        return ArchState(
            spec, G, D, make_adam(G.parameters(), config, device), make_adam(D.parameters(), config, device),
            noise, fixed_noise.to(device), interp_noise.to(device), d_concat=not has_batchnorm(D),
            G_run=G_run, D_run=D_run, D_g=D_g,
            scaler=torch.amp.GradScaler(device.type) if config.precision == "fp16" else None,
        )

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
            self.archs[spec.name] = self._new_state(spec)
        self.current = new = self.archs[spec.name]
        self._images_per_s = 0.0
        self._reset_window()
        self.emit(ev.ArchSwitched(new.name, old.name, new.step))
        self._announce()

    # --- quality ---------------------------------------------------------------------------
    def _start_classifier(self) -> None:
        if not self.config.eval_every or self.dataset.labels is None:
            return  # off, or nothing to learn classes from

        def work() -> None:
            from tui_gan.quality import ClassifierCancelled, load_or_train, real_floor

            try:
                clf = load_or_train(self.dataset, should_stop=self._closing.is_set)
                self._classifier_result["value"] = (clf, real_floor(clf, n=self.config.eval_samples))
            except ClassifierCancelled:
                pass
            except Exception as exc:  # quality is an extra: training goes on without it
                self._classifier_result["error"] = f"{type(exc).__name__}: {exc}"

        self._classifier_thread = threading.Thread(target=work, name="tui-gan-classifier", daemon=True)
        self._classifier_thread.start()

    def _take_classifier(self) -> None:
        """Hand a finished background classifier to the engine thread (which alone emits)."""
        if self.classifier is not None or not self._classifier_result:
            return
        if "error" in self._classifier_result:
            self._quality_error = f"quality metrics are off: {self._classifier_result.pop('error')}"
            self._classifier_thread = None  # so `e` says why instead of waiting for it forever
            self._quality_told = True
            self.emit(ev.Notice(self.current.name, self._quality_error, "warning", topic="quality"))
            return
        self.classifier, self.real_floor = self._classifier_result.pop("value")
        self.emit(ev.Notice(
            self.current.name,
            f"quality classifier ready ({self.classifier.val_accuracy:.1%} on held-out digits); "
            f"real-vs-real Frechet distance {self.real_floor:.2f}",
            topic="quality",
        ))
        if self._eval_requested:
            self._eval_requested = False
            self.evaluate_quality()

    def _request_evaluation(self) -> None:
        if self.classifier is not None:
            self.evaluate_quality()
        elif self._classifier_thread is None:
            self.emit(ev.Notice(self.current.name, self._quality_off_reason(), "warning", topic="quality"))
        else:
            self._eval_requested = True
            self.emit(ev.Notice(self.current.name, "the quality classifier is still training: evaluating when it is ready"))

    def _quality_off_reason(self) -> str:
        if self._quality_error:
            return self._quality_error
        if not self.config.eval_every:
            return "quality metrics are off (--eval-every 0)"
        return f"quality metrics are off: {pretty_name(self.dataset.name)} has no labels to train the classifier on"

    def _maybe_evaluate(self, s: ArchState) -> None:
        # Never more than ~5% of training time: a dcgan evaluation on a CPU takes seconds.
        if self.classifier is None or s.diverged:
            return
        cost = s.eval_cost
        if not cost:  # before the first one: about a sample grid's cost per generated digit
            cost = s.sample_cost * self.config.eval_samples / (len(s.fixed_noise) + len(s.interp_noise))
        interval = max(self.config.eval_every, 20 * cost)
        if s.train_time + (time.perf_counter() - self._window_start) - s.last_eval_time >= interval:
            self.evaluate_quality(s)

    def evaluate_quality(self, s: ArchState | None = None):
        """Judge eval_samples digits from fixed noise (the same every time, so numbers compare)."""
        from tui_gan.quality import evaluate

        s = s or self.current
        self._flush_stats(force=True)  # evaluation time must not count as training time
        start = time.perf_counter()
        gen = torch.Generator().manual_seed(self.config.seed + 7919)
        z = torch.randn(self.config.eval_samples, self.config.z_dim, generator=gen).to(self.device)
        was_training = s.G.training
        s.G.eval()
        with torch.no_grad():
            images = torch.cat([s.G(chunk).cpu() for chunk in z.split(500)])
        s.G.train(was_training)
        report = evaluate(self.classifier, images)
        s.eval_cost = time.perf_counter() - start
        s.last_eval_time = s.train_time
        self._reset_window()
        if self.run_dir is not None:
            self.run_dir.append_quality(s.name, s.step, s.epoch, report, self.real_floor)
        if self.tensorboard is not None:
            self.tensorboard.quality(s.name, s.step, report, self.real_floor)
        self.emit(ev.Quality(s.name, s.step, s.epoch, report, self.real_floor, self.classifier.val_accuracy, s.eval_cost))
        warning = s.collapse.update(report.classes_covered, report.kl_to_uniform)
        if warning:
            self.emit(ev.Notice(s.name, f"{s.name}: {warning}", "warning"))
        return report

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint_payload(self, s: ArchState) -> dict:
        config = self.config.replace(arch=s.name)
        return {
            "arch": s.name,
            "config": config.to_dict(),
            "step": s.step,
            "epoch": s.epoch,
            "pos": s.pos,
            "perm": s.perm.cpu() if s.perm is not None else None,
            "generator": s.G.state_dict(),
            "discriminator": s.D.state_dict(),
            "opt_g": s.opt_g.state_dict(),
            "opt_d": s.opt_d.state_dict(),
            "fixed_noise": s.fixed_noise.cpu(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "noise": s.noise.get_state(),
            },
            "history": torch.tensor(s.history, dtype=torch.float64).reshape(-1, len(HISTORY_COLUMNS)),
            "train_time": s.train_time,
            "scaler": s.scaler.state_dict() if s.scaler is not None else None,
            "device_type": self.device.type,
            "dataset": {"name": self.dataset.name, "size": len(self.dataset), "split": self.dataset.split},
        }

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

    def _restore(self, s: ArchState, data: dict) -> None:
        info = data.get("dataset") or {}
        if info.get("size") not in (None, len(self.dataset)):
            raise CheckpointError(
                f"{self.resume_path} was trained on {info.get('size')} images of {info.get('name')}, "
                f"but the dataset found now has {len(self.dataset)}; pass the same --data-dir"
            )
        try:
            s.G.load_state_dict(data["generator"])
            s.D.load_state_dict(data["discriminator"])
            s.opt_g.load_state_dict(data["opt_g"])
            s.opt_d.load_state_dict(data["opt_d"])
            fused = {id(o): o.defaults.get("fused") for o in (s.opt_g, s.opt_d)}
            for o in (s.opt_g, s.opt_d):  # keep the kernel choice made for *this* device
                for group in o.param_groups:
                    group["fused"] = fused[id(o)]
            s.fixed_noise = data["fixed_noise"].to(self.device)
            rng = data.get("rng") or {}
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if rng.get("cuda") and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(rng["cuda"])
            if data.get("device_type", "cpu") == self.device.type:
                s.noise.set_state(rng["noise"])
            else:  # a CUDA generator's state does not fit a CPU one: continue on a fresh stream
                s.noise.manual_seed(self.config.seed + int(data["step"]))
                self.emit(ev.Notice(s.name, "checkpoint from another device type: the noise stream restarts, "
                                            "so this run will not match an uninterrupted one exactly", "warning"))
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:150]
            raise CheckpointError(f"{self.resume_path} does not fit architecture {s.name!r}: {first}") from None
        s.step, s.epoch, s.pos = int(data["step"]), int(data["epoch"]), int(data.get("pos", 0))
        perm = data.get("perm")
        s.perm = perm.to(self.device) if perm is not None else None
        s.history = [tuple(row) for row in data["history"].tolist()] if data.get("history") is not None else []
        s.train_time = float(data.get("train_time", 0.0))
        if s.scaler is not None and data.get("scaler"):
            s.scaler.load_state_dict(data["scaler"])
        s.last_checkpoint = str(self.resume_path)
        s.checkpoint_step = s.step

    # --- the end ---------------------------------------------------------------------------
    def _report_crash(self, exc: BaseException) -> None:
        text = traceback.format_exc()
        path = None
        if self.run_dir is not None:
            try:
                path = str(self.run_dir.write_error(text))
            except OSError:
                pass
        name = self.current.name if self.current else self.config.arch
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.emit(ev.Failed(name, message, path))
        self.emit(ev.StateChanged(name, "error", self.current.step if self.current else 0))

    def _finish_files(self) -> None:
        if self.run_dir is None:
            return
        for s in self.archs.values():
            if not s.history:
                continue
            try:
                self.run_dir.write_loss_plot(s.name, s.history)
                self.run_dir.write_progress_gif(s.name, None if s.diverged else self.sample_images(s))
            except Exception as exc:  # a plot must never cost the user the run
                self.emit(ev.Notice(s.name, f"could not write the loss plot/GIF: {exc}", "warning"))
