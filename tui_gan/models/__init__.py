"""Architecture registry: a user-facing name -> how to build G and D, how it trains by
default, and where it came from.

Adding an architecture is one `register(ArchSpec(...))` here (docs/ARCHITECTURE.md, "Add an
architecture"): a module with `Generator(z_dim, n_classes=0, **kwargs)` and
`Discriminator(n_classes=0, **kwargs)` classes, the keyword arguments of this architecture, and
its default recipe. The model modules (and torch) load only when a model is built: the
dashboard's own process lists and describes architectures but trains none."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_gan.errors import ConfigError
from tui_gan.models.knobs import Knobs
from tui_gan.training.recipes import SEED, Recipe

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    name: str
    description: str
    origin: str  # the reference GAN write-up it grew from (one of the five the project began with)
    module: str  # importable module with Generator and Discriminator classes
    generator: dict[str, Any] = field(default_factory=dict)  # Generator's keyword arguments
    discriminator: dict[str, Any] = field(default_factory=dict)
    recipe: Recipe = SEED  # how it trains under --recipe default (measured: README "Training recipes")
    convolutional: bool = False  # --depth counts extra blocks (0: none) rather than hidden layers
    grows: bool = False  # progressive growing: --grow-images applies

    def knobs_of(self, config: Any) -> Knobs:
        """The architecture knobs a TrainConfig (or a checkpoint's config dict) builds this
        architecture with: --grow-images only where it grows."""
        knobs = Knobs.of(config)
        return knobs if self.grows else dataclasses.replace(knobs, grow_images=None)

    def build(
        self, z_dim: int, n_classes: int = 0, knobs: Knobs | None = None
    ) -> tuple[nn.Module, nn.Module]:
        """G and D; with n_classes both take the class too: G(z, y), D(x, y). `knobs`: the
        architecture knobs (models/knobs.py), which the family applies to its arguments."""
        family = importlib.import_module(self.module)
        g, d = self.generator, self.discriminator
        if knobs is not None and not knobs.default:
            if not hasattr(family, "knobbed"):
                raise ConfigError(f"{self.name} does not take the architecture knobs ({knobs.describe()})")
            g, d = family.knobbed(g, d, knobs)
        return family.Generator(z_dim, n_classes=n_classes, **g), family.Discriminator(
            n_classes=n_classes, **d
        )


ARCHS: dict[str, ArchSpec] = {}
ARCH_NAMES: list[str] = []  # in registration order: the dashboard's keys 1-9


def register(spec: ArchSpec) -> ArchSpec:
    if spec.name not in ARCHS:
        ARCH_NAMES.append(spec.name)
    ARCHS[spec.name] = spec
    return spec


# The default recipes were measured with benchmarks/quality.py (180 s on a 2-core CPU, README
# "Training recipes"). A faster Adam plus a generator EMA helped every MLP; 1e-3 was best
# without BatchNorm but worse with it; the DCGAN collapsed at 5e-4 and did best with least
# squares. For the BatchNorm MLPs, EMA 0.995 beat 0.99 and 0.999. Adam's betas (0, 0.99), as
# SAGAN and StyleGAN train, gave lower Frechet distances for every architecture but relu-mlp
# (three times higher there), and with them the hinge loss did best for the MLPs. mlp's D (the
# widest without dropout) memorised the 10k MNIST test digits within ~4,000 steps, after which
# its digits got worse (FD 19-22 then 43-80); shifting every digit D sees by up to 2 pixels
# (--augment translation) kept D from memorising: best FD 8.7 and 12.4 (seeds 0, 1) against 18.8
# and 22.1; at step 10,000 13.7 and 15.5, where plain seed 1 was at 80. simple's D memorised
# less, but its FD stalled at 38 by step 8,000 (seeds 0, 1), 28 and 30 with the shift
# (benchmarks/overfit.py, README "Long runs").
_BETAS = dict(beta1=0.0, beta2=0.99)
_MLP = "tui_gan.models.mlp"
register(
    ArchSpec(
        "mlp",
        "MLP GAN: G 100-256-512-1024-784 (LeakyReLU+BatchNorm), D 784-1024-512-256-1 (LeakyReLU)",
        "Simplest_Gan.ipynb (seed 000)",
        _MLP,
        generator=dict(hidden=[256, 512, 1024], act="leaky", batchnorm=True),
        discriminator=dict(hidden=[1024, 512, 256], act="leaky"),
        recipe=Recipe(loss="hinge", lr_g=5e-4, lr_d=5e-4, ema=0.995, augment="translation", **_BETAS),
    )
)
register(
    ArchSpec(
        "dcgan",
        "Small DCGAN: Linear to z x7x7, ConvT 256-128-1 up to 28x28; D Conv 64-128-256",
        "Simple GAN Model (seed 001)",
        "tui_gan.models.dcgan",
        recipe=Recipe(loss="lsgan", ema=0.99, **_BETAS),
        convolutional=True,
    )
)
register(
    ArchSpec(
        "simple",
        "Minimal GAN: G 100-256-784, D 784-256-1, LeakyReLU, no normalisation",
        "GanS (seed 002)",
        _MLP,
        generator=dict(hidden=[256], act="leaky", batchnorm=False),
        discriminator=dict(hidden=[256], act="leaky"),
        recipe=Recipe(loss="hinge", lr_g=1e-3, lr_d=1e-3, ema=0.999, augment="translation", **_BETAS),
    )
)
register(
    ArchSpec(
        "relu-mlp",
        "ReLU MLP GAN: G 100-256-512-784, D 784-512-256-1, ReLU, no normalisation",
        "GAN for MNIST Image Generation (seed 003)",
        _MLP,
        generator=dict(hidden=[256, 512], act="relu", batchnorm=False),
        discriminator=dict(hidden=[512, 256], act="relu"),
        recipe=Recipe(lr_g=1e-3, lr_d=1e-3, ema=0.999),
    )
)
register(
    ArchSpec(
        "mlp-bn-dropout",
        "MLP GAN, base width 256: G 256-512-1024 (LeakyReLU+BatchNorm), "
        "D 1024-512-256 (LeakyReLU+Dropout 0.3)",
        "MNIST GAN Generator (seed 004)",
        _MLP,
        generator=dict(hidden=[256, 512, 1024], act="leaky", batchnorm=True),
        discriminator=dict(hidden=[1024, 512, 256], act="leaky", dropout=0.3),
        recipe=Recipe(loss="hinge", lr_g=5e-4, lr_d=5e-4, ema=0.995, **_BETAS),
    )
)
# The paper's Adam (1e-3, betas 0 and 0.99) and generator EMA (0.999), with least squares: the
# paper's WGAN-GP (one critic step, drift 1e-3) gave worse digits in the same seconds on a CPU,
# its gradient penalty costing a third of every step (README "Progressive growing").
register(
    ArchSpec(
        "progan",
        "Progressive GAN: G and D grown 7x7 -> 14x14 -> 28x28 with fade-ins; PixelNorm, "
        "minibatch stddev, equalised learning rate; channels 128-64-32",
        "MNIST GAN Generator (seed 004), its suggestion 'implement progressive growing'",
        "tui_gan.models.progan",
        recipe=Recipe(loss="lsgan", lr_g=1e-3, lr_d=1e-3, ema=0.999, **_BETAS),
        convolutional=True,
        grows=True,
    )
)


def get_arch(name: str) -> ArchSpec:
    try:
        return ARCHS[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCH_NAMES)}") from None


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def has_batchnorm(module: nn.Module) -> bool:
    from torch import nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def mixes_batch(D: nn.Module) -> bool:
    """Whether D's verdict on one digit depends on the others in its batch (BatchNorm, progan's
    minibatch feature): then real and fake digits need forwards of their own."""
    return has_batchnorm(D) or getattr(D, "batch_statistics", False)
