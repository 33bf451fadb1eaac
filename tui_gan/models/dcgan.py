"""A small DCGAN for 28x28 images (the `dcgan` architecture); conditional with n_classes
(see models/conditional.py). The architecture knobs (models/knobs.py) scale its channels, add
stride-1 blocks at 14x14 (`extra`), swap its activations and D's normalisation; at their
defaults the layers (and their names in a checkpoint) are the original ones."""

from __future__ import annotations

import torch
from torch import nn

from tui_gan.models.conditional import ConditionalHead, with_class
from tui_gan.models.knobs import Knobs, scaled
from tui_gan.models.mlp import activation


def knobbed(generator: dict, discriminator: dict, knobs: Knobs) -> tuple[dict, dict]:
    g = {**generator, "width": knobs.width, "extra": knobs.depth or 0}
    d = {**discriminator, "width": knobs.width, "extra": knobs.depth or 0}
    if knobs.activation:
        g["act"] = d["act"] = knobs.activation
    if knobs.d_norm != "own":
        d["norm"] = knobs.d_norm
    return g, d


class DCGANGenerator(nn.Module):
    """z -> Linear -> z_dim x 7 x 7 -> 14x14x256 -> 28x28x128 -> 28x28x1 (Tanh)."""

    def __init__(self, z_dim: int = 100, n_classes: int = 0, width: float = 1.0, extra: int = 0, act="relu"):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        wide = Knobs(width=width)
        c1, c2 = scaled(256, wide), scaled(128, wide)
        self.project = nn.Linear(z_dim + n_classes, z_dim * 7 * 7)
        blocks: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, c1, 4, 2, 1),
            nn.BatchNorm2d(c1),
            activation(act),
        ]
        for _ in range(extra):
            blocks += [nn.Conv2d(c1, c1, 3, 1, 1), nn.BatchNorm2d(c1), activation(act)]
        blocks += [nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), activation(act)]
        blocks += [nn.ConvTranspose2d(c2, 1, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.project(with_class(z, y, self.n_classes)).view(-1, self.z_dim, 7, 7))


class DCGANDiscriminator(nn.Module):
    """1x28x28 -> 64x14x14 -> 128x7x7 -> 256x3x3 -> one logit. norm: "batch" (its own, on the
    middle block), "none", "spectral" (every layer, as SNGAN) or "layer" (each block after the
    first, normalised over channels and pixels)."""

    def __init__(
        self, n_classes: int = 0, width: float = 1.0, extra: int = 0, act: str = "leaky", norm: str = "batch"
    ):
        super().__init__()
        wide = Knobs(width=width)
        c1, c2, c3 = scaled(64, wide), scaled(128, wide), scaled(256, wide)
        sn = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)

        def normed(channels: int, own: bool) -> list[nn.Module]:
            if norm == "layer":
                return [nn.GroupNorm(1, channels)]
            return [nn.BatchNorm2d(channels)] if norm == "batch" and own else []

        blocks: list[nn.Module] = [sn(nn.Conv2d(1, c1, 4, 2, 1)), activation(act)]
        for _ in range(extra):
            blocks += [sn(nn.Conv2d(c1, c1, 3, 1, 1)), *normed(c1, False), activation(act)]
        blocks += [sn(nn.Conv2d(c1, c2, 4, 2, 1)), *normed(c2, True), activation(act)]
        blocks += [sn(nn.Conv2d(c2, c3, 4, 2, 1)), *normed(c3, False), activation(act)]
        blocks += [nn.Flatten(), sn(nn.Linear(c3 * 3 * 3, 1))]
        self.net = nn.Sequential(*blocks)
        self.project = ConditionalHead(n_classes, c3 * 3 * 3) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x) if self.project is None else self.project(self.net, x, y)


# The names the architecture registry builds (tui_gan/models/__init__.py).
Generator, Discriminator = DCGANGenerator, DCGANDiscriminator
