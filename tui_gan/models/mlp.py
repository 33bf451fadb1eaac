"""Fully connected GANs: `mlp`, `simple`, `relu-mlp`, `mlp-bn-dropout`.

Discriminators return logits; the trainer uses BCE-with-logits, which equals
Sigmoid + BCE but cannot overflow. With n_classes (--conditional) G takes the class one-hot
beside z and D adds a projection term (models/conditional.py).
"""

from __future__ import annotations

import torch
from torch import nn

from tui_gan.models.conditional import ConditionalHead, with_class
from tui_gan.models.knobs import Knobs, depth_widths, scaled

IMG_PIXELS = 28 * 28


def activation(kind: str) -> nn.Module:
    """The families' activations by name (--activation's, and "leaky" as the registry says it)."""
    if kind in ("leaky", "leaky_relu"):
        return nn.LeakyReLU(0.2)
    return {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}[kind]()


def knobbed(generator: dict, discriminator: dict, knobs: Knobs) -> tuple[dict, dict]:
    """The registry's keyword arguments with the architecture knobs (models/knobs.py) applied."""
    g, d = dict(generator), dict(discriminator)
    g["hidden"] = [scaled(h, knobs) for h in depth_widths(g["hidden"], knobs.depth)]
    d["hidden"] = [scaled(h, knobs) for h in depth_widths(d["hidden"], knobs.depth)]
    if knobs.activation:
        g["act"] = d["act"] = knobs.activation
    if knobs.d_norm != "own":
        d["norm"] = knobs.d_norm
    return g, d


class MLPGenerator(nn.Module):
    """z -> hidden layers (activation, optional BatchNorm) -> 784 -> Tanh -> 1x28x28."""

    def __init__(
        self, z_dim: int, hidden: list[int], act: str = "leaky", batchnorm: bool = True, n_classes: int = 0
    ):
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width = z_dim + n_classes
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(activation(act))
            width = h
        layers += [nn.Linear(width, IMG_PIXELS), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_class(z, y, self.n_classes)).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """1x28x28 -> hidden layers (activation, optional Dropout) -> one logit."""

    def __init__(
        self,
        hidden: list[int],
        act: str = "leaky",
        dropout: float = 0.0,
        n_classes: int = 0,
        norm: str = "none",
    ):
        """norm: "none" (the family's), "spectral" (every Linear, as SNGAN) or "layer"."""
        super().__init__()
        linear = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        width = IMG_PIXELS
        for h in hidden:
            layers.append(linear(nn.Linear(width, h)))
            if norm == "layer":
                layers.append(nn.LayerNorm(h))
            layers.append(activation(act))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(linear(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)
        self.project = ConditionalHead(n_classes, width) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        return self.net(x) if self.project is None else self.project(self.net, x, y)


# The names the architecture registry builds (tui_gan/models/__init__.py).
Generator, Discriminator = MLPGenerator, MLPDiscriminator
