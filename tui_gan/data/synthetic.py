"""Offline stand-in for MNIST: digits drawn procedurally, no network and no files.

Each digit is rendered once from Pillow's bundled font (the only font every Pillow install has,
so a seed gives the same images whatever fonts the machine has) at a few stroke widths and blurs.
Everything per sample - affine jitter, a smooth wobble that makes strokes look hand-drawn,
contrast, noise - happens batched in torch: 60k images take about a second on a 2-core CPU.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tui_gan.errors import DataError

_RENDER_SIZE = 160  # font size of the one-off render; digits come out ~115 px tall
# Outline added at _RENDER_SIZE (negative: eroded): strokes ~11% .. ~22% of glyph height, MNIST's range.
_STROKES = (-1, 1, 3, 5)
_BLURS = (0.0, 0.75, 1.5)  # Gaussian sigmas in template pixels: sharp to soft
_TILE = 56  # templates at 2x MNIST, so sampling them down to 28 antialiases
# MNIST fits each digit into 20x20 before centring it in 28x28; a little less here leaves room
# for the random scale-up and shift without clipping at the frame.
_BOX = 36  # in template pixels (18 at 28x28)
_VARIANTS = len(_STROKES) * len(_BLURS)  # tiles per digit
_FLOOR = 16.0  # grey level (of 255) below which ink fades to background
_CHUNK = 1024  # samples per pass: a ~10 MB working set that stays in cache, whatever n is


def _glyphs() -> np.ndarray:
    """(10, len(_STROKES), 56, 56) sharp templates in [0, 1], each placed like an MNIST digit."""
    try:
        font = ImageFont.load_default(size=_RENDER_SIZE)
    except (OSError, ImportError) as exc:  # Pillow built without FreeType
        raise DataError(f"synthetic digits need Pillow with FreeType support ({exc})") from None
    canvas = 3 * _RENDER_SIZE // 2 + 2 * max(_STROKES)
    tiles = np.zeros((10, len(_STROKES), _TILE, _TILE), np.float32)
    for digit in range(10):
        for s, stroke in enumerate(_STROKES):
            img = Image.new("L", (canvas, canvas))
            # Most handwritten 1s are a bare stroke, not the font's flagged 1 (which, tilted, reads
            # as a 7): every other stroke width uses the font's plain sans-serif capital I.
            text = "I" if digit == 1 and s % 2 else str(digit)
            ImageDraw.Draw(img).text(
                (canvas // 2, canvas // 2),
                text,
                fill=255,
                font=font,
                anchor="mm",
                stroke_width=max(stroke, 0),
                stroke_fill=255,
            )
            if stroke < 0:
                img = img.filter(ImageFilter.MinFilter(1 - 2 * stroke))
            img = img.crop(img.getbbox())
            # As MNIST: the longest side fits the box (aspect kept, so "1" stays narrow), then the
            # centre of mass goes to the frame centre.
            k = _BOX / max(img.size)
            w, h = max(1, round(img.width * k)), max(1, round(img.height * k))
            glyph = np.asarray(img.resize((w, h), Image.Resampling.LANCZOS), np.float32) / 255.0
            ys, xs = np.indices(glyph.shape)
            mass = glyph.sum()
            top = min(max(round(_TILE / 2 - (ys * glyph).sum() / mass - 0.5), 2), _TILE - 2 - h)
            left = min(max(round(_TILE / 2 - (xs * glyph).sum() / mass - 0.5), 2), _TILE - 2 - w)
            tiles[digit, s, top : top + h, left : left + w] = glyph
    return tiles


@functools.lru_cache(maxsize=1)
def _atlas() -> torch.Tensor:
    """Every (digit, stroke, blur) template stacked vertically: (1, 1, 10 * _VARIANTS * 56, 56).

    One atlas image lets a single grid_sample call read every sample's glyph (no per-sample
    template copy), and pre-blurred tiles make per-sample blur free."""
    sharp = torch.from_numpy(_glyphs()).view(-1, 1, _TILE, _TILE)
    levels = []
    for sigma in _BLURS:
        if sigma == 0:
            levels.append(sharp)
            continue
        r = math.ceil(3 * sigma)
        k = torch.exp(-(torch.arange(-r, r + 1.0) ** 2) / (2 * sigma**2))
        k = k / k.sum()
        blurred = F.conv2d(
            F.conv2d(sharp, k.view(1, 1, -1, 1), padding=(r, 0)), k.view(1, 1, 1, -1), padding=(0, r)
        )
        levels.append(blurred)
    tiles = torch.stack(levels, 2).view(10 * _VARIANTS, _TILE, _TILE).clone()
    # A blank 1-px rim: samples that fall off a tile are clamped onto it (see _grids).
    tiles[:, [0, -1], :] = 0.0
    tiles[:, :, [0, -1]] = 0.0
    return tiles.view(1, 1, -1, _TILE)


@functools.lru_cache(maxsize=1)
def _pixel_features() -> torch.Tensor:
    """(19, 784): for each output pixel, 16 smooth bicubic Bernstein weights, then x, y, 1.

    A sample's whole sampling grid is then one small matrix product with its coefficients,
    several times faster on CPU than affine_grid plus interpolate plus elementwise arithmetic."""
    t = torch.linspace(0.0, 1.0, 28).unsqueeze(1)
    k = torch.arange(4.0)
    basis = torch.tensor([1.0, 3.0, 3.0, 1.0]) * t**k * (1 - t) ** (3 - k)  # (28, 4)
    smooth = (basis.view(28, 1, 4, 1) * basis.view(1, 28, 1, 4)).reshape(784, 16)  # rows y, cols x
    centres = (torch.arange(28) * 2.0 + 1.0) / 28 - 1.0  # pixel centres, align_corners=False
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return torch.cat([smooth, x.reshape(784, 1), y.reshape(784, 1), torch.ones(784, 1)], 1).T.contiguous()


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def _grids(g: torch.Generator, tile: torch.Tensor) -> torch.Tensor:
    """Atlas sampling grid (1, n * 28, 28, 2) for samples drawn from tiles `tile` (n,).

    Random affine (rotation, scale, aspect, slant, shift) plus a smooth low-frequency wobble."""
    n = tile.shape[0]
    angle = _uniform(g, n, -15.0, 15.0) * (math.pi / 180.0)
    scale = _uniform(g, n, 0.85, 1.15)
    sx = scale * _uniform(g, n, 0.85, 1.1)  # narrower/wider handwriting
    shear = _uniform(g, n, -0.3, 0.3)  # slant
    # +-1.5 px of 28, in [-1, 1] units. MNIST centres digits by mass, so its shifts are small;
    # +-2 px already makes classes much harder to tell apart than in MNIST.
    shift = _uniform(g, 2 * n, -1.5, 1.5).view(2, n) / 14.0
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Forward map glyph -> image is R @ Shear @ diag(sx, scale); the grid needs its inverse.
    a, b = cos * sx, (cos * shear - sin) * scale
    c, d = sin * sx, (sin * shear + cos) * scale
    det = a * d - b * c
    inv = torch.stack([torch.stack([d, -b]), torch.stack([-c, a])]) / det  # (2, 2, n)
    offset = -(inv * shift).sum(1, keepdim=True)  # (2, 1, n)
    # The wobble (16 control offsets per coordinate) bends strokes unevenly, the way a hand does,
    # which an affine map alone cannot.
    wobble = (torch.rand(2, 16, n, generator=g) - 0.5) * 0.16
    coeffs = torch.cat([wobble, inv, offset], 1).transpose(1, 2)  # (2, n, 19)
    # Planar (x plane, y plane) layout straight from the matmul; grid_sample takes the strided view.
    grid = coeffs @ _pixel_features()  # (2, n, 784)
    edge = 1.0 - 1.0 / _TILE  # outermost pixel centre: blank, so clamping there reads 0
    grid.clamp_(-edge, edge)
    # Tile-local y -> atlas y (align_corners=False: pixel = ((y + 1) * H - 1) / 2).
    tiles = 10 * _VARIANTS
    grid[1].add_(((1.0 + 2.0 * tile.float()) - tiles).view(n, 1)).div_(tiles)
    return grid.view(2, n * 28, 28).permute(1, 2, 0).unsqueeze(0)


def _render(g: torch.Generator, labels: torch.Tensor, out: torch.Tensor) -> None:
    n = labels.shape[0]
    tile = labels * _VARIANTS + torch.randint(_VARIANTS, (n,), generator=g)
    img = F.grid_sample(_atlas(), _grids(g, tile), mode="bilinear", padding_mode="zeros", align_corners=False)
    img = img.view(n, 28, 28)
    # Peak to 1, then a gain > 1 saturates stroke cores at 255 with soft edges, as in MNIST scans
    # (thin strokes would otherwise come out grey); varying it also varies the apparent thickness
    # between the template stroke widths.
    peak = img.amax(dim=(1, 2), keepdim=True).clamp_(min=1e-3)
    img.mul_(_uniform(g, n, 1.2, 1.6).view(n, 1, 1).mul_(255.0).div_(peak))
    # Multiplicative noise: texture on the ink, while the background stays exactly 0 as in MNIST.
    img.addcmul_(img, torch.randn(img.shape, generator=g), value=0.08)
    # A floor cuts the faint halo the blur leaves (MNIST is exactly 0 right up to the stroke);
    # its +0.5 makes the truncating float->uint8 copy round to nearest.
    out.copy_(img.sub_(_FLOOR - 0.5).clamp_(0.0, 255.0))


def make_synthetic_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 tensor of shape (n, 28, 28), labels int64 tensor of shape (n,))."""
    try:
        n = operator.index(n)
    except TypeError:
        raise DataError(f"the synthetic dataset size must be a whole number, not {n!r}") from None
    if n < 1:
        raise DataError(f"the synthetic dataset needs at least 1 image, not {n}")
    g = torch.Generator().manual_seed(int(seed))
    # Exactly balanced classes, in a seeded random order.
    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]
    images = torch.empty((n, 28, 28), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        _render(g, labels[start : start + _CHUNK], images[start : start + _CHUNK])
    return images, labels
