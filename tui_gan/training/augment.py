"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): every digit D sees, real or fake,
in D's update and in G's, is first shifted by up to 2 pixels, has a square cut out, or both.

Why: on MNIST's 10k-digit test split D memorises the real digits within a few thousand steps.
Its score for held-out real digits falls towards its score for fakes, and the samples get worse
from then on (benchmarks/overfit.py measures both). Augmenting both sides alike makes memorising
harder without teaching G the augmentations: G's gradient flows through the same transforms.

Torch-only and vectorised: one gather for the shift and one mask for the cutout, whatever the
batch. Digits are in [-1, 1] with a background of -1, so shifted-in and cut-out pixels are
background rather than the grey 0 would be."""

from __future__ import annotations

import torch

from tui_gan.training.recipes import AUGMENTS

BACKGROUND = -1.0
# The largest shift, as a share of the side: 2 pixels of 28. DiffAugment's 1/8 (4 pixels) also
# stopped mlp's D memorising, but slowed its first 4,000 steps; 2 pixels did not
# (benchmarks/overfit.py, README "Long runs").
SHIFT = 1 / 16
CUT = 1 / 2  # the cut-out square's side, as a share of the image's (DiffAugment's)


def augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """`x` (B, C, H, W) with `policy`'s transforms ("translation", "cutout", both
    joined by "+", or "none"), each drawn afresh per digit from torch's global generator."""
    for name in policy.split("+"):
        if name == "translation":
            x = translate(x)
        elif name == "cutout":
            x = cutout(x)
        elif name != "none":
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTS)}")
    return x


def translate(x: torch.Tensor, ratio: float = SHIFT) -> torch.Tensor:
    """Each digit shifted by up to `ratio` of its side in x and y (whole pixels), filled with
    background. One gather on the flattened padded digits: its backward (a scatter-add) costs a
    third of indexing's on a CPU."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy + sy  # in the padded digit: always inside
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx + sx
    index = (rows * (w + 2 * sx) + cols).view(b, 1, h * w).expand(b, c, h * w)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy), value=BACKGROUND).flatten(2)
    return padded.gather(2, index).view(b, c, h, w)


def cutout(x: torch.Tensor, ratio: float = CUT) -> torch.Tensor:
    """Each digit with a square of `ratio` of its side set to background, centred anywhere in
    the image (so part of it may fall outside)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    dy, dx = rows - cy + ch // 2, cols - cx + cw // 2  # where each pixel falls in the square
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)  # (B, H, W)
    return x.masked_fill(inside.unsqueeze(1), BACKGROUND)
