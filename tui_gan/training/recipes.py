"""How each architecture trains: loss, learning rates and schedule, generator EMA, critic steps.

Two recipes: `seed`, what the five reference GANs did (BCE, Adam 2e-4 for both nets, nothing
else), and `default`, chosen per architecture by benchmarks/quality.py (the best quality after
180 s on a 2-core CPU) without touching the architectures themselves. Options the user gives
(--loss, --lr-g, --ema, ...) override either. Torch-free: the dashboard's process validates
settings too."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from tui_gan.training.losses import LOSSES  # the registered losses: config and cli check --loss against it

SCHEDULES = ("none", "linear", "cosine")
# training/augment.py; "+" joins two, since a comma in a sweep's value sweeps it
AUGMENTS = ("none", "translation", "cutout", "translation+cutout")
RECIPES = ("default", "seed")


@dataclass(frozen=True)
class Recipe:
    loss: str = "bce"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    lr_schedule: str = "none"  # decay to 0 over the run's epochs (epochs x steps per epoch)
    warmup: int = 0  # steps of linear warm-up from 0
    ema: float = 0.0  # generator EMA decay (0: off)
    n_critic: int = 1  # D updates per G update
    gp_weight: float = 10.0  # wgan-gp's gradient-penalty weight
    drift: float = 0.0  # a penalty on D's squared score for real digits (progan's 1e-3)
    augment: str = "none"  # what D's digits go through first, real and fake (training/augment.py)
    beta1: float = 0.5  # Adam's, for both nets
    beta2: float = 0.999

    @property
    def betas(self) -> tuple[float, float]:
        return self.beta1, self.beta2


RECIPE_FIELDS = tuple(f.name for f in fields(Recipe))
SEED = Recipe()


def resolve(config, arch: str, base: Recipe | None = None) -> Recipe:
    """The recipe `arch` trains with under `config` (a TrainConfig): the named recipe (or `base`,
    a checkpoint's), then whatever the user set. --lr sets both nets' rates unless --lr-g/--lr-d
    say otherwise."""
    if base is None:
        from tui_gan.models import ARCHS  # the registry imports Recipe from here

        base = SEED if config.recipe == "seed" or arch not in ARCHS else ARCHS[arch].recipe
    changes = {name: getattr(config, name) for name in RECIPE_FIELDS if getattr(config, name) is not None}
    for name in ("lr_g", "lr_d"):
        if name not in changes and config.lr is not None:
            changes[name] = config.lr
    loss = changes.get("loss")
    if loss in LOSSES and loss != base.loss and config.n_critic is None and LOSSES[loss].n_critic > 1:
        changes["n_critic"] = LOSSES[loss].n_critic  # the critic steps the loss is meant for (wgan-gp: 5)
    return replace(base, **changes)


def lr_factor(recipe: Recipe, step: int, horizon: int) -> float:
    """The learning rate at `step` (0-based) as a share of the recipe's: a linear warm-up, then
    constant, or a linear or cosine decay that reaches 0 at `horizon` steps."""
    if recipe.warmup and step < recipe.warmup:
        return (step + 1) / recipe.warmup
    if recipe.lr_schedule == "none":
        return 1.0
    done = min(max(step - recipe.warmup, 0) / max(horizon - recipe.warmup, 1), 1.0)
    if recipe.lr_schedule == "linear":
        return 1.0 - done
    return 0.5 * (1.0 + math.cos(math.pi * done))


def describe(recipe: Recipe) -> str:
    """A few words for the event log: "hinge, Adam G 1e-4 / D 4e-4 (betas 0, 0.99), EMA 0.999"."""
    lr = (
        f"Adam {_lr(recipe.lr_g)}"
        if recipe.lr_g == recipe.lr_d
        else f"Adam G {_lr(recipe.lr_g)} / D {_lr(recipe.lr_d)}"
    )
    if recipe.betas != SEED.betas:
        lr += f" (betas {recipe.beta1:g}, {recipe.beta2:g})"
    parts = [recipe.loss, lr]
    if recipe.lr_schedule != "none":
        parts.append(f"{recipe.lr_schedule} decay")
    if recipe.warmup:
        parts.append(f"{recipe.warmup} warm-up steps")
    if recipe.n_critic > 1:
        parts.append(f"{recipe.n_critic} D steps per G step")
    if recipe.augment != "none":
        parts.append(f"augment {recipe.augment}")
    if recipe.drift:
        parts.append(f"drift {recipe.drift:g}")
    if recipe.ema:
        parts.append(f"EMA {recipe.ema:g}")
    return ", ".join(parts)


def brief(recipe: Recipe, conditional: bool = False) -> str:
    """A runs list's column: "hinge 1e-4/4e-4 EMA aug cond" (loss, G/D learning rates, EMA on,
    augmented, class-conditional); describe() has the rest."""
    lr = _lr(recipe.lr_g) if recipe.lr_g == recipe.lr_d else f"{_lr(recipe.lr_g)}/{_lr(recipe.lr_d)}"
    flags = [("EMA", bool(recipe.ema)), ("aug", recipe.augment != "none"), ("cond", conditional)]
    return " ".join([recipe.loss, lr, *(name for name, on in flags if on)])


def _lr(value: float) -> str:
    """2e-4 rather than 0.0002."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"
