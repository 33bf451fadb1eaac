"""Class conditioning shared by every architecture (--conditional).

G gets the class as a one-hot vector beside z (the conditional GAN of Mirza & Osindero 2014).
D gets a projection term (Miyato & Koyama 2018): its logit plus <embed(y), phi(x)>, phi(x)
being D's last hidden features, so it judges "a real 7" rather than "real". D's body and head
stay exactly the unconditional ones. D also gets an auxiliary classifier on phi(x) (AC-GAN,
Odena et al. 2017; training/step.py adds its loss): it gives G a direct push towards the asked
class, which projection alone gave too slowly for a CPU's few hundred DCGAN steps (12% of the
digits drawn as asked after 2 minutes, 67% with the classifier; benchmarks/quality.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def with_class(z: torch.Tensor, y: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """z with y's one-hot appended when the generator is conditional."""
    if not n_classes:
        return z
    if y is None:
        raise ValueError("a conditional generator needs the classes to draw (y)")
    return torch.cat([z, F.one_hot(y, n_classes).to(z.dtype)], dim=1)


class ConditionalHead(nn.Module):
    """Runs an unconditional D (a Sequential ending in its Linear head), adds <embed(y), features>
    to its logit and returns it with the auxiliary classifier's class logits: (b, 1 + n_classes)."""

    def __init__(self, n_classes: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(n_classes, width)
        nn.init.normal_(self.embed.weight, std=width**-0.5)  # starts as a small term beside the logit
        self.classify = nn.Linear(width, n_classes)

    def forward(self, net: nn.Sequential, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        *body, head = net
        for layer in body:
            x = layer(x)
        return self.judge(head, x, y)

    def judge(self, head: nn.Module, features: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's verdict from its last hidden features and its unconditional head."""
        if y is None:
            raise ValueError("a conditional discriminator needs the classes of its inputs (y)")
        logit = head(features) + (self.embed(y).to(features.dtype) * features).sum(1, keepdim=True)
        return torch.cat([logit, self.classify(features)], dim=1)
