"""A small DCGAN for 28x28 images (the `dcgan` architecture); conditional with n_classes
(see models/conditional.py)."""

from __future__ import annotations

import torch
from torch import nn

from tui_gan.models.conditional import ConditionalHead, with_class


class DCGANGenerator(nn.Module):
    """z -> Linear -> z_dim x 7 x 7 -> 14x14x256 -> 28x28x128 -> 28x28x1 (Tanh)."""

    def __init__(self, z_dim: int = 100, n_classes: int = 0):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.project = nn.Linear(z_dim + n_classes, z_dim * 7 * 7)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 256, 4, 2, 1),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 1, 3, 1, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.project(with_class(z, y, self.n_classes)).view(-1, self.z_dim, 7, 7))


class DCGANDiscriminator(nn.Module):
    """1x28x28 -> 64x14x14 -> 128x7x7 -> 256x3x3 -> one logit."""

    def __init__(self, n_classes: int = 0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
            nn.Conv2d(128, 256, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(256 * 3 * 3, 1),
        )
        self.project = ConditionalHead(n_classes, 256 * 3 * 3) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x) if self.project is None else self.project(self.net, x, y)


# The names the architecture registry builds (tui_gan/models/__init__.py).
Generator, Discriminator = DCGANGenerator, DCGANDiscriminator
