"""Which digits and latents each step trains on: the epoch's shuffle of the dataset (kept on
the device) and, under torchrun, this rank's slice of every batch."""

from __future__ import annotations

import torch

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.data import Dataset
from tui_gan.errors import ConfigError
from tui_gan.training import distributed
from tui_gan.training.state import ArchState


class Batches:
    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        z_dim: int,
        ranks: distributed.Ranks | None = None,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.images = images  # uint8 (n, 28, 28) on the training device
        self.labels = labels  # int64 (n,) on the device for a conditional run, else None
        self.batch_size, self.z_dim = batch_size, z_dim
        # Every rank draws the same shuffle and latents and takes its slice, so N ranks together
        # train on exactly what one process would.
        self.local = distributed.local_batch(batch_size, ranks) if ranks is not None else batch_size
        self.offset = (ranks.rank if ranks is not None else 0) * self.local

    @property
    def per_epoch(self) -> int:
        return len(self.images) // self.batch_size

    def next(self, s: ArchState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(real digits in [-1, 1] as (b, 1, 28, 28), latents (b, z_dim), the digits' classes or
        None) for s's next step."""
        if s.perm is None:
            s.perm = torch.randperm(len(self.images), generator=s.noise, device=self.images.device)
        start = s.pos * self.batch_size + self.offset
        index = s.perm[start : start + self.local]
        real = (
            self.images[index].unsqueeze(1).float().mul_(2 / 255).sub_(1)
        )  # = ToTensor + Normalize(0.5, 0.5)
        if s.grows:  # progan: the real digits as its current stage shows them
            real = s.D.real_view(real)
        return real, self.latents(s), None if self.labels is None else self.labels[index]

    def latents(self, s: ArchState) -> torch.Tensor:
        """This rank's slice of a batch of latents from s's noise stream."""
        z = torch.randn(self.batch_size, self.z_dim, generator=s.noise, device=self.images.device)
        return z[self.offset : self.offset + self.local]


def batches_for(dataset: Dataset, config: TrainConfig, device: torch.device, ranks=None) -> Batches:
    """The dataset on the device, in batches of config.batch_size; raises ConfigError when the
    dataset cannot train this config (too small, or unlabelled for --conditional)."""
    if len(dataset) < config.batch_size:
        raise ConfigError(
            f"batch size {config.batch_size} is larger than the dataset ({len(dataset)} images)"
        )
    if config.conditional and dataset.labels is None:
        raise ConfigError(
            f"--conditional needs class labels, and {pretty_name(dataset.name)} "
            f"({dataset.source}) has none: add its labels file beside the images"
        )
    labels = dataset.labels.to(device) if config.conditional else None
    return Batches(dataset.images.to(device), config.batch_size, config.z_dim, ranks, labels)
