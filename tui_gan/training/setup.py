"""An Engine's setup: the device, the data, the run folder and its writers, the first
architecture (restored from a checkpoint when resuming). Raises TuiGanError on anything the
user can fix, before any training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from tui_gan.cadence import Cadence
from tui_gan.data import load_dataset
from tui_gan.models import get_arch
from tui_gan.training import distributed
from tui_gan.training.batches import batches_for
from tui_gan.training.checkpoint import load_checkpoint, restore_state
from tui_gan.training.device import precision_context, resolve_device, resolve_precision
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.quality_judge import QualityJudge
from tui_gan.training.reporter import Reporter
from tui_gan.training.rundir import RunDir
from tui_gan.training.state import build_state
from tui_gan.training.stats import StepStats

if TYPE_CHECKING:
    from tui_gan.training.engine import Engine


def set_up(e: Engine) -> None:
    config = e.config.validate()
    # The caller merges the checkpoint's settings with what the user changed (see
    # cli/train.py config_from_args); the engine only insists on the architecture.
    resume = load_checkpoint(e.resume_path, expected_arch=config.arch) if e.resume_path else None
    e.device = resolve_device(config.device)
    precision, chosen = resolve_precision(config.precision, e.device)
    e._autocast = precision_context(precision, e.device)
    e._note(chosen, "info")
    # Compiled with CUDA graphs: a step is one iteration of their replay, whatever tensors
    # of the last one the engine still holds (PyTorch's cudagraph trees cannot tell alone).
    e._mark_step = e.device.type == "cuda" and config.compile in ("reduce-overhead", "max-autotune")
    if distributed.world_size() > 1:
        e.ranks, e.device, e.devices = distributed.join(e.device)
        if not e.ranks.main:  # rank 0 alone writes files and judges quality
            e._run_dir_arg = False
            config = config.replace(eval_every=0.0, tensorboard=False)
    torch.manual_seed(config.seed)  # dropout draws from the global generator
    if e.dataset is None:
        e.dataset = load_dataset(
            config.dataset,
            config.data_dir,
            download=e.download,
            synthetic_size=config.synthetic_size,
            seed=config.seed,
        )
    e.batches = batches_for(e.dataset, config, e.device, e.ranks)
    if e._run_dir_arg is True:
        e.run_dir = RunDir.create(config.runs_dir, config.arch)
    elif e._run_dir_arg:
        e.run_dir = RunDir.open(e._run_dir_arg)
    e.config = config
    e.cadence = Cadence.parse(config.checkpoint_every)
    e.stats = StepStats(e.device, config.batch_size)
    e.outputs = RunOutputs(e.run_dir, every_step=config.log_every_step)
    e.report = Reporter(
        e.emit,
        e.outputs,
        e.stats,
        e.steps_per_epoch,
        judge_health=e.is_main,
        stats_interval=e.stats_interval,
        samples_interval=e.samples_interval,
    )
    checkpoint = e.checkpoint if e.run_dir is not None else None
    e.quality = QualityJudge(config, e.dataset, e.emit, e.outputs, checkpoint)
    e.quality.start()
    state = build_state(get_arch(config.arch), config, e.device, e.ranks)
    if resume is not None:
        e._note(restore_state(state, resume, e.resume_path, e.device, e.dataset, config))
    e.archs[state.name] = e.current = state
    e.outputs.grid_columns = state.per_class or None
    e.outputs.write_config(config, e.dataset, e.device, precision, e.resume_path)
    e._note(e.outputs.open_tensorboard(config, e.device, resume["step"] if resume else None))
