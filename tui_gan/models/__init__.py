"""Architecture registry: a user-facing name -> how to build G and D, and where it came from.

The model modules (and torch) load only when a model is built: the dashboard's own process
lists and describes architectures but trains none (its engine runs in a child process)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_gan.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ArchSpec:
    name: str
    description: str
    origin: str  # the reference GAN write-up it grew from (one of the five the project began with)
    make_generator: Callable[[int, int], nn.Module]  # (z_dim, n_classes: 0 unconditional)
    make_discriminator: Callable[[int], nn.Module]  # (n_classes)

    def build(self, z_dim: int, n_classes: int = 0) -> tuple[nn.Module, nn.Module]:
        """G and D; with n_classes both take the class too: G(z, y), D(x, y)."""
        return self.make_generator(z_dim, n_classes), self.make_discriminator(n_classes)


def _mlp():
    from tui_gan.models import mlp

    return mlp


def _dcgan():
    from tui_gan.models import dcgan

    return dcgan


ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [
        ArchSpec(
            "mlp",
            "MLP GAN: G 100-256-512-1024-784 (LeakyReLU+BatchNorm), D 784-1024-512-256-1 (LeakyReLU)",
            "Simplest_Gan.ipynb (seed 000)",
            lambda z, c: _mlp().MLPGenerator(z, [256, 512, 1024], "leaky", batchnorm=True, n_classes=c),
            lambda c: _mlp().MLPDiscriminator([1024, 512, 256], "leaky", n_classes=c),
        ),
        ArchSpec(
            "dcgan",
            "Small DCGAN: Linear to z x7x7, ConvT 256-128-1 up to 28x28; D Conv 64-128-256",
            "Simple GAN Model (seed 001)",
            lambda z, c: _dcgan().DCGANGenerator(z, n_classes=c),
            lambda c: _dcgan().DCGANDiscriminator(n_classes=c),
        ),
        ArchSpec(
            "simple",
            "Minimal GAN: G 100-256-784, D 784-256-1, LeakyReLU, no normalisation",
            "GanS (seed 002)",
            lambda z, c: _mlp().MLPGenerator(z, [256], "leaky", batchnorm=False, n_classes=c),
            lambda c: _mlp().MLPDiscriminator([256], "leaky", n_classes=c),
        ),
        ArchSpec(
            "relu-mlp",
            "ReLU MLP GAN: G 100-256-512-784, D 784-512-256-1, ReLU, no normalisation",
            "GAN for MNIST Image Generation (seed 003)",
            lambda z, c: _mlp().MLPGenerator(z, [256, 512], "relu", batchnorm=False, n_classes=c),
            lambda c: _mlp().MLPDiscriminator([512, 256], "relu", n_classes=c),
        ),
        ArchSpec(
            "mlp-bn-dropout",
            "MLP GAN, base width 256: G 256-512-1024 (LeakyReLU+BatchNorm), "
            "D 1024-512-256 (LeakyReLU+Dropout 0.3)",
            "MNIST GAN Generator (seed 004)",
            lambda z, c: _mlp().MLPGenerator(z, [256, 512, 1024], "leaky", batchnorm=True, n_classes=c),
            lambda c: _mlp().MLPDiscriminator([1024, 512, 256], "leaky", dropout=0.3, n_classes=c),
        ),
    ]
}

ARCH_NAMES: list[str] = list(ARCHS)


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
