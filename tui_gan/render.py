"""Greyscale digits -> terminal half-block text and PNG grids.

Deliberately free of torch and textual: callers hand over numpy arrays (see `to_uint8`)
and get back per-line rich Segments or PIL images, so this is testable
without a terminal and cheap to import.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from functools import cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

from tui_gan.fileio import atomic_write

T = TypeVar("T")

DIGIT_CELLS = 28  # terminal cells across one 28-pixel-wide digit
DIGIT_LINES = 14  # terminal lines for one 28-pixel-tall digit (two pixel rows per line)

HALF_BLOCK = "\u2580"  # '▀': foreground paints the top half of the cell, background the bottom
ASCII_RAMP = " .:-=+*#%@"

_GREYS = [Color.from_rgb(v, v, v) for v in range(256)]
# Style per cell key (top * 256 + bottom), created on first use: all 65536 up front would
# slow the import. A flat list lets a whole frame's styles be gathered by one C call.
_PAIR_STYLES: list[Style | None] = [None] * 65536
_HAVE_STYLE = np.zeros(65536, dtype=bool)

_GAP = -1  # cell-key sentinels: blank cell between digits, and end of line
_EOL = -2
_RAMP_CODES = np.array([ord(c) for c in ASCII_RAMP], dtype=np.uint32)


def grid_to_segments(
    images: np.ndarray, columns: int, gap: int = 1, color: bool = True, levels: int = 256
) -> list[list[Segment]]:
    """(n, H, W) uint8 digits laid out `columns` per row (the last row may be short), as one
    list of rich Segments per line: each cell a half block whose foreground is the top pixel
    and background the bottom one.

    `gap` blank cells separate digits and one blank line separates rows of digits. The layout
    is computed with numpy, one Segment per run of identical cells: per-cell work is too slow
    for ~60 digits redrawn every second. `levels` < 256 quantises the greys so near-black
    generator noise merges into long runs. color=False uses `ASCII_RAMP` (mean of the two
    pixels of a cell) so digits stay readable where NO_COLOR collapses the greys.

    For a Textual Line-API widget (`render_line` -> `Strip(segments)`): a Static holding a
    Text with tens of thousands of spans (noisy digits) costs seconds per repaint in Textual's
    Content conversion, while ready-made strips paint in a fraction of that.
    """
    flat = _layout(images, columns, gap, color, levels)
    if flat is None:
        return []
    if not color:
        return [[Segment(line)] if line else [] for line in _plain(flat, color).split("\n")]
    starts, ends, keys = _runs(flat)
    body = keys != _EOL
    starts, ends, keys = starts[body], ends[body], keys[body]
    lengths = (ends - starts).tolist()
    styled = keys >= 0
    texts = [HALF_BLOCK * k if s else " " * k for k, s in zip(lengths, styled.tolist())]
    styles: list[Style | None] = [None] * len(texts)
    for i, style in zip(np.flatnonzero(styled).tolist(), _styles_for(keys[styled])):
        styles[i] = style
    segments = _make(Segment, texts, styles, repeat(None))
    # Line of each run = newlines before it; split the flat run list at line changes.
    line_of_run = np.cumsum(flat == _EOL)[starts]
    n_lines = int(np.count_nonzero(flat == _EOL)) + 1
    bounds = np.searchsorted(line_of_run, np.arange(n_lines + 1)).tolist()
    return [segments[bounds[i] : bounds[i + 1]] for i in range(n_lines)]


def _layout(images: np.ndarray, columns: int, gap: int, color: bool, levels: int) -> np.ndarray | None:
    """Cell keys of the whole grid in text order (newlines as _EOL cells); None if empty."""
    images = _as_uint8_stack(images)
    n, height, width = images.shape
    if n == 0:
        return None
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256, got {levels}")
    if color and levels < 256:
        images = _quantiser(levels)[images]
    if height % 2:
        images = np.concatenate([images, np.zeros((n, 1, width), np.uint8)], axis=1)
    parts = []
    for first in range(0, n, columns):
        if first:
            parts.append(np.array([_EOL], np.int32))  # the blank line between digit rows
        parts.append(_row_keys(images[first : first + columns], gap, color).ravel())
    return np.concatenate(parts)[:-1]  # no newline after the last line


def _plain(flat: np.ndarray, color: bool) -> str:
    codes = np.full(flat.shape, ord(" "), dtype=np.uint32)
    codes[flat == _EOL] = ord("\n")
    cells = flat >= 0
    codes[cells] = ord(HALF_BLOCK) if color else _RAMP_CODES[flat[cells]]
    return codes.tobytes().decode("utf-32-le")


def _row_keys(batch: np.ndarray, gap: int, color: bool) -> np.ndarray:
    """(lines, width + 1) int32 cell keys for one row of digits, last column an _EOL marker."""
    k, height, width = batch.shape
    top = batch[:, 0::2, :].astype(np.int32)
    bottom = batch[:, 1::2, :].astype(np.int32)
    if color:
        key = (top << 8) | bottom
    else:
        key = (top + bottom) * len(ASCII_RAMP) // 512  # ramp index of the pair's mean
    lines = height // 2
    # Lay digits side by side, each followed by `gap` gap cells, then drop the final gap.
    laid = np.full((lines, k, width + gap), _GAP, dtype=np.int32)
    laid[:, :, :width] = key.transpose(1, 0, 2)
    laid = laid.reshape(lines, k * (width + gap))[:, : k * width + (k - 1) * gap]
    eol = np.full((lines, 1), _EOL, dtype=np.int32)
    return np.concatenate([laid, eol], axis=1)


def _runs(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, keys) of the maximal runs of equal cell keys."""
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    ends = np.append(starts[1:], flat.size)
    return starts, ends, flat[starts]


def _styles_for(keys: np.ndarray) -> tuple[Style, ...]:
    """Pair style for each key, gathered in C: per-run Python work is what dominates on
    noisy digits, where nearly every cell is its own run."""
    if not keys.size:
        return ()
    missing = keys[~_HAVE_STYLE[keys]]
    if missing.size:
        for key in np.unique(missing).tolist():
            _PAIR_STYLES[key] = Style(color=_GREYS[key >> 8], bgcolor=_GREYS[key & 0xFF])
        _HAVE_STYLE[missing] = True  # only after the styles exist, for concurrent callers
    index = keys.tolist()
    if len(index) == 1:  # itemgetter with one key returns the item, not a tuple
        return (_PAIR_STYLES[index[0]],)
    return itemgetter(*index)(_PAIR_STYLES)


def _make(cls: type[T], *fields: Iterable[Any]) -> list[T]:
    """NamedTuple instances built by tuple.__new__ directly, which is what the generated
    __new__ does anyway, minus a Python-level call per item (~40% of a noisy frame)."""
    return list(map(tuple.__new__, repeat(cls), zip(*fields)))


@cache
def _quantiser(levels: int) -> np.ndarray:
    """256-entry lookup table snapping each grey to the nearest of `levels` even steps."""
    steps = np.rint(np.arange(256) * (levels - 1) / 255)
    return np.rint(steps * 255 / (levels - 1)).astype(np.uint8)


def fit_grid(
    width_cells: int,
    height_lines: int,
    n: int,
    gap: int = 1,
    cells: int = DIGIT_CELLS,
    lines: int = DIGIT_LINES,
) -> tuple[int, int]:
    """(columns, rows) of digits `cells` wide and `lines` tall (28x14 at full size) fitting the
    panel with columns * rows <= n.

    Among the layouts that fit, the one showing the most digits wins; ties go to fewer rows.
    Returns (0, 0) when not even one digit fits or n <= 0.
    """
    max_cols = (width_cells + gap) // (cells + gap) if width_cells >= cells else 0
    max_rows = (height_lines + 1) // (lines + 1) if height_lines >= lines else 0
    best = (0, 0)
    for rows in range(1, min(max_rows, max(n, 0)) + 1):
        cols = min(max_cols, n // rows)
        if cols * rows > best[0] * best[1]:
            best = (cols, rows)
    return best


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1], shape (n, 1, H, W) or (n, H, W) -> (n, H, W) uint8.

    Out-of-range values are clipped; NaN (a diverged generator) becomes black rather than
    an undefined cast.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"expected (n, 1, H, W) or (n, H, W), got shape {x.shape}")
    x = np.nan_to_num(x, nan=-1.0, posinf=1.0, neginf=-1.0)
    return np.rint((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def grid_image(
    images: np.ndarray, columns: int | None = None, padding: int = 2, scale: int = 1
) -> Image.Image:
    """Greyscale ("L") grid of (n, H, W) uint8 digits on black, like torchvision's make_grid.

    `padding` black pixels surround every digit (shared between neighbours, as in
    make_grid); `scale` enlarges the finished grid by pixel repetition so it stays crisp.
    """
    images = _as_uint8_stack(images)
    n, h, w = images.shape
    if n == 0:
        raise ValueError("no images to put in a grid")
    if columns is None:
        columns = math.ceil(math.sqrt(n))
    if columns < 1 or padding < 0 or scale < 1:
        raise ValueError(f"bad grid parameters: columns={columns} padding={padding} scale={scale}")
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (h + padding) + padding, columns * (w + padding) + padding), np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        canvas[y : y + h, x : x + w] = images[i]
    if scale > 1:
        canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(canvas)  # 2-D uint8 -> mode "L"


def save_grid_png(
    images: np.ndarray, path: str | os.PathLike, columns: int | None = None, scale: int = 1
) -> Path:
    """Write `grid_image(...)` as PNG atomically: readers never see a half-written file."""
    img = grid_image(images, columns=columns, scale=scale)
    return atomic_write(path, lambda f: img.save(f, format="PNG"))


def captioned(img: Image.Image, text: str, height: int = 14) -> Image.Image:
    """`img` with a black strip on top holding `text` in PIL's built-in font (grey on black)."""
    from PIL import ImageDraw

    out = Image.new("L", (img.width, img.height + height), 0)
    out.paste(img, (0, height))
    ImageDraw.Draw(out).text((3, 1), text, fill=200)
    return out


def save_gif(frames: list[Image.Image], path: str | os.PathLike, durations_ms: list[int] | int = 400) -> Path:
    """An endlessly looping GIF of `frames`, written atomically."""
    if not frames:
        raise ValueError("no frames for a GIF")
    return atomic_write(
        path,
        lambda f: frames[0].save(
            f, format="GIF", save_all=True, append_images=frames[1:], duration=durations_ms, loop=0
        ),
    )


def _as_uint8_stack(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"expected (n, H, W) images, got shape {images.shape}")
    if images.dtype != np.uint8:
        # Silent wrap-around of floats/ints would draw garbage; to_uint8 is the way in.
        raise TypeError(f"expected uint8 images (see to_uint8), got {images.dtype}")
    return images
