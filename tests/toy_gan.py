"""A toy model family for tests/test_registries.py: what a new architecture's module holds."""

from __future__ import annotations

import torch
from torch import nn

from tui_gan.models.conditional import with_class


class Generator(nn.Module):
    def __init__(self, z_dim: int, n_classes: int = 0, width: int = 32):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(
            nn.Linear(z_dim + n_classes, width), nn.ReLU(), nn.Linear(width, 784), nn.Tanh()
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_class(z, y, self.n_classes)).view(-1, 1, 28, 28)


class Discriminator(nn.Module):
    def __init__(self, n_classes: int = 0, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)
