"""One architecture's training state, and how it is built: weights, optimizers, noise streams
and the wrapped modules the step calls (torch.compile, DDP)."""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from tui_gan.config import NUM_CLASSES, TrainConfig
from tui_gan.history import StepHistory
from tui_gan.models import ArchSpec, mixes_batch
from tui_gan.render import to_uint8
from tui_gan.training import distributed
from tui_gan.training.device import make_adam
from tui_gan.training.health import DiscriminatorWins, ModeCollapse
from tui_gan.training.recipes import Recipe, lr_factor, resolve
from tui_gan.training.runstate import RunState

INTERPOLATION_POINTS = 16  # digits along the straight latent path sent with every Samples event


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
    # A conditional run's classes for those: the grid is class-major (row c: the same latents as
    # every other row, drawn as digit c), the interpolation row one class. None: unconditional.
    fixed_labels: torch.Tensor | None = None
    interp_labels: torch.Tensor | None = None
    perm: torch.Tensor | None = None  # this epoch's shuffle
    step: int = 0
    epoch: int = 0  # completed epochs
    pos: int = 0  # batches done in the current epoch
    train_time: float = 0.0
    history: StepHistory = field(default_factory=StepHistory)  # StepPoint rows: bucket means, bounded
    last_checkpoint: str | None = None
    checkpoint_step: int = -1  # latest.pt's step (where a resume continues)
    checkpoint_time: float = 0.0  # train_time at latest.pt: --checkpoint-every's clock counts from it
    # How training of this architecture ended before its epochs did: FAILED (a non-finite
    # loss) or FINISHED (--early-stop), and why, in a line for the user. None: it goes on.
    ended: RunState | None = None
    why: str = ""
    outcome: str | None = None  # how the job says it ended, when not by its limits ("collapsed")
    d_concat: bool = True  # D judges each digit alone (models.mixes_batch): real and fake share a forward
    grows: bool = False  # progressive growing (models/progan.py): grow() after every step
    last_eval_time: float = 0.0  # train_time at the last quality evaluation
    eval_cost: float = 0.0  # seconds the last evaluation took (0: none yet)
    sample_cost: float = 0.0  # seconds the last sample grid took
    # What the step calls: G and D compiled (--compile) and DDP-wrapped (torchrun), or G and D
    # themselves. G and D hold the weights: checkpoints, sampling and the EMA use those.
    G_train: torch.nn.Module | None = None
    D_train: torch.nn.Module | None = None
    scaler: torch.amp.GradScaler | None = None  # enabled under fp16 only; else a no-op
    recipe: Recipe = field(default_factory=Recipe)
    G_ema: torch.nn.Module | None = None  # the generator's moving average (--ema), what samples come from
    show_raw: bool = False  # samples from G even though there is an EMA (the dashboard's toggle)
    best_fd: float = math.inf  # the lowest Frechet distance so far: checkpoints/<arch>/best.pt
    best_step: int = -1
    evals_since_best: int = 0
    d_wins: DiscriminatorWins = field(default_factory=DiscriminatorWins)
    collapse: ModeCollapse = field(default_factory=ModeCollapse)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def per_class(self) -> int:
        """Digits per class in the sample grid (0: unconditional)."""
        return 0 if self.fixed_labels is None else len(self.fixed_labels) // NUM_CLASSES

    @property
    def failed(self) -> bool:
        return self.ended is RunState.FAILED

    @property
    def stage(self) -> str:
        """How far a growing architecture has grown ("14x14 fade-in α 0.42"); "" otherwise."""
        return self.G.stage if self.grows else ""

    def grow(self, images: int) -> str | None:
        """`images` more real digits shown: G, its EMA and D grow together; what they do now,
        when that changed."""
        change = self.G.advance(images)
        self.D.advance(images)
        if self.G_ema is not None:
            self.G_ema.advance(images)
        return change

    def end(self, state: RunState, why: str, outcome: str | None = None) -> None:
        """Training of this architecture ends early (see `ended`); a rollback clears it."""
        self.ended, self.why, self.outcome = state, why, outcome

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator samples, evaluations and exports use: the EMA one when there is one."""
        return self.G if self.G_ema is None or self.show_raw else self.G_ema

    def digits(self, z: torch.Tensor | None = None, y: torch.Tensor | None = None) -> np.ndarray:
        """The sampler's digits for z and classes y (default: the sample grid's), (n, 28, 28) uint8."""
        if z is None:
            z, y = self.fixed_noise, self.fixed_labels
        return sample_digits(self.sampler, z, y)


def build_state(
    spec: ArchSpec, config: TrainConfig, device: torch.device, ranks: distributed.Ranks | None = None
) -> ArchState:
    """A fresh architecture: the same initial weights and noise for a seed, whatever ran before."""
    recipe = resolve(config, spec.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        G, D = spec.build(config.z_dim, NUM_CLASSES if config.conditional else 0, spec.knobs_of(config))
        fixed_noise = torch.randn(config.sample_count, config.z_dim)
        ends = torch.randn(2, config.z_dim)
    t = torch.linspace(0, 1, INTERPOLATION_POINTS).unsqueeze(1)
    interp_noise = (1 - t) * ends[0] + t * ends[1]
    fixed_labels = interp_labels = None
    if config.conditional:
        per_class = -(-config.sample_count // NUM_CLASSES)
        fixed_noise = fixed_noise[:per_class].repeat(NUM_CLASSES, 1)
        fixed_labels = grid_labels(len(fixed_noise), device)
        interp_labels = torch.full((INTERPOLATION_POINTS,), config.seed % NUM_CLASSES, device=device)
    # Convolutions run faster in channels-last layout (oneDNN on CPUs, cuDNN on GPUs);
    # MLPs are unaffected, so this is a no-op for them.
    G.to(device, memory_format=torch.channels_last).train()
    D.to(device, memory_format=torch.channels_last).train()
    noise = torch.Generator(device=device)
    noise.manual_seed(config.seed + 1)
    if ranks is not None:  # BatchNorm becomes SyncBatchNorm on GPUs: these are G and D from now on
        G, D = distributed.sync_batchnorm(G, device), distributed.sync_batchnorm(D, device)
    # Compiled, then DDP-wrapped (as nanoGPT does): the G step unwraps D_train to its compiled D.
    G_train, D_train = G, D
    if config.compile != "off":
        mode = None if config.compile == "default" else config.compile
        G_train, D_train = torch.compile(G, mode=mode), torch.compile(D, mode=mode)
    if ranks is not None:
        G_train, D_train = (distributed.wrap(m, device, spec.grows) for m in (G_train, D_train))
    return ArchState(
        spec,
        G,
        D,
        make_adam(G.parameters(), recipe.lr_g, recipe.betas),
        make_adam(D.parameters(), recipe.lr_d, recipe.betas),
        noise,
        fixed_noise.to(device),
        interp_noise.to(device),
        fixed_labels,
        interp_labels,
        d_concat=not mixes_batch(D),
        grows=spec.grows,
        G_train=G_train,
        D_train=D_train,
        scaler=torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"),
        recipe=recipe,
        G_ema=make_ema(G) if recipe.ema else None,
    )


@contextlib.contextmanager
def evaluating(G: torch.nn.Module):
    """Sampling mode: BatchNorm uses its running statistics and nothing disturbs training."""
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            yield G
    finally:
        G.train(was_training)


def grid_labels(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The classes of a conditional sample grid of n digits: n / 10 zeros, then ones, ..."""
    return torch.arange(NUM_CLASSES, device=device).repeat_interleave(n // NUM_CLASSES)


def generate(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """G(z), or G(z, y) for a conditional G: any module mapping z to digits can be a generator."""
    return G(z) if y is None else G(z, y)


def sample_digits(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    """G on z (and the classes y, for a conditional G) as (n, 28, 28) uint8."""
    with evaluating(G):
        return to_uint8(generate(G, z, y).float().cpu().numpy())


def make_ema(G: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of G that update_ema moves toward G after every G step."""
    ema = copy.deepcopy(G).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(s: ArchState) -> None:
    """EMA of G's weights (BatchNorm statistics copied). The decay ramps up from 0.1 over the first
    steps, (1 + t) / (10 + t), so early samples are not stuck near the random initial weights."""
    decay = min(s.recipe.ema, (1 + s.step) / (10 + s.step))
    ema_params, params = list(s.G_ema.parameters()), list(s.G.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for ema_buffer, buffer in zip(s.G_ema.buffers(), s.G.buffers()):
        ema_buffer.copy_(buffer)


def set_learning_rates(s: ArchState, horizon: int | None = None) -> None:
    """This step's learning rates under the recipe's schedule over `horizon` steps: from the step
    alone, so a resumed run continues exactly. No horizon: the recipe's rates as they are."""
    factor = 1.0 if horizon is None else lr_factor(s.recipe, s.step, horizon)
    for opt, lr in ((s.opt_g, s.recipe.lr_g), (s.opt_d, s.recipe.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr * factor
