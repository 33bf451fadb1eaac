"""The generator's digits from the fixed noise, as many as fit the panel, optionally with the
latent-interpolation row underneath. A conditional generator's digits go a row per class, each
labelled with its digit (several classes share a line when the panel is short).

Keeps what it shows so a resize re-renders locally, without asking the engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui_gan.config import NUM_CLASSES
from tui_gan.history import Snapshot
from tui_gan.render import DIGIT_CELLS, DIGIT_LINES, fit_grid, grid_to_segments
from tui_gan.ui.widgets.pixel_grid import PixelGrid, pixel_canvas

HALF_CELLS, HALF_LINES = DIGIT_CELLS // 2, DIGIT_LINES // 2
PLAIN = Style()
MUTED = Style(dim=True)
MIN_FULL_SIZE = 6  # fewer full-size digits than this: show more at half size (diversity matters in a GAN)
INTERP_LINES = HALF_LINES + 1  # a caption line, then one row of half-size digits
LABEL_CELLS = 2  # "7 " before each class's digits
# A conditional grid's sizes, largest first: (subtitle word, cells, lines); quarter size is 7x7 pixels.


@dataclass(frozen=True)
class Shown:
    """What the samples panel draws: a snapshot (compared by identity) of an architecture, where
    it sits in the scrubbed history ((index, count); None: live), and the interpolation row."""

    snapshot: Snapshot | None = None
    arch: str = ""
    position: tuple[int, int] | None = None
    interpolation: bool = False


CLASS_SIZES = (
    ("", DIGIT_CELLS, DIGIT_LINES),
    ("half", HALF_CELLS, HALF_LINES),
    ("quarter", HALF_CELLS // 2, 4),
)


def halve(images: np.ndarray) -> np.ndarray:
    """2x2 box downscale of (n, 28, 28) uint8 digits, for small panels."""
    n, h, w = images.shape
    x = images[:, : h - h % 2, : w - w % 2].astype(np.uint16)
    x = x.reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
    return ((x + 2) // 4).astype(np.uint8)


def class_layout(width: int, height: int, per_class: int, cells: int, lines: int) -> tuple[int, int, int]:
    """(digits shown per class, classes per line, classes shown) for a conditional grid of
    `per_class` digits of each of the 10 classes: every class if they fit (as many digits of each
    as then fit), else as many classes as fit with one digit each. (0, 0, 0): not one digit fits."""

    def groups(k: int) -> int:  # classes side by side: a label, k digits, a blank cell before the next
        return (width + 1) // (LABEL_CELLS + k * cells + k)

    line_rows = (height + 1) // (lines + 1)
    for k in range(per_class, 0, -1):
        g = groups(k)
        if g and -(-NUM_CLASSES // g) <= line_rows:
            return k, g, NUM_CLASSES
    g = groups(1)
    return (1, g, min(NUM_CLASSES, g * line_rows)) if g and line_rows else (0, 0, 0)


def class_rows(
    images: np.ndarray, per_class: int, k: int, per_line: int, shown: int, color: bool
) -> list[list[Segment]]:
    """Lines of segments: classes 0..shown-1, `per_line` to a line, each its label then its first k digits."""
    lines: list[list[Segment]] = []
    gap = [Segment(" ", PLAIN)]  # a blank cell between classes sharing a line
    for first in range(0, shown, per_line):
        if first:
            lines.append([])
        block: list[list[Segment]] | None = None
        for c in range(first, min(first + per_line, shown)):
            digits = grid_to_segments(images[c * per_class : c * per_class + k], k, color=color)
            middle = len(digits) // 2
            labelled = [
                [Segment(f"{c} " if i == middle else " " * LABEL_CELLS, MUTED), *line]
                for i, line in enumerate(digits)
            ]
            block = labelled if block is None else [a + gap + b for a, b in zip(block, labelled)]
        lines += block or []
    return lines


def spread(n_available: int, n_shown: int) -> np.ndarray:
    """Indices of n_shown evenly spaced items out of n_available, both ends included."""
    if n_shown >= n_available:
        return np.arange(n_available)
    return np.rint(np.linspace(0, n_available - 1, n_shown)).astype(int)


class SamplesPanel(Widget):
    """A Line-API widget: ready-made strips of block cells. A Static holding a Text with tens of
    thousands of spans (noisy early digits) costs seconds per repaint; strips cost milliseconds."""

    DEFAULT_CSS = """
    SamplesPanel { overflow: hidden; }
    """

    # What to draw, assigned whole by the screen (one redraw per change, none when it is equal).
    shown: reactive[Shown] = reactive(Shown, init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: list[Strip] = []
        self.pixel_grid: PixelGrid | None = None  # mounted where the terminal draws sixel or kitty

    snapshot = property(lambda self: self.shown.snapshot)
    arch = property(lambda self: self.shown.arch)
    position = property(lambda self: self.shown.position)
    interpolation = property(lambda self: self.shown.interpolation)

    @property
    def step(self) -> int:
        return self.snapshot.step if self.snapshot else 0

    def on_mount(self) -> None:
        self.border_title = "samples"
        pixels = getattr(self.app, "pixels", None)
        if pixels is not None and pixels.mode != "halfblock":  # --pixels: the grid as a real image
            self.pixel_grid = PixelGrid(pixels.mode, pixels.cell)
            self.mount(self.pixel_grid)
        self.redraw()

    def watch_shown(self) -> None:
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        width, height = self.content_size
        self._titles()
        if self.snapshot is None:
            self._show_pixels(width, height)  # hides the image, if any
            self.update("waiting for the generator's first samples...")
            return
        color = not self.app.no_color
        interp = self.snapshot.interpolation if self.interpolation else None
        interp_lines: list[list[Segment]] = []
        if interp is not None and len(interp) and height >= INTERP_LINES + HALF_LINES:
            k = fit_grid(width, HALF_LINES, len(interp), cells=HALF_CELLS, lines=HALF_LINES)[0]
            if k:
                digit = f"digit {self.snapshot.interp_class}, " if self.snapshot.per_class else ""
                caption = f"─ interpolation z₀ → z₁ ({digit}{k} of {len(interp)} points) "
                if len(caption) > width:
                    caption = "─ interpolation z₀ → z₁ "
                interp_lines = [[Segment(caption[:width].ljust(width, "─"), MUTED)]]
                interp_lines += grid_to_segments(halve(interp[spread(len(interp), k)]), k, color=color)
                height -= INTERP_LINES + 1  # and a blank line above the caption
        pixels = self._show_pixels(width, height)
        if self.snapshot.per_class:
            lines = self._class_lines(width, height, color)
        elif pixels:
            lines = [[]] * height  # under the image
        else:
            lines = self._grid_lines(width, height, color)
        if lines is None:
            self.border_subtitle = ""
            self.update("too small for digits: make the terminal larger")
            return
        if interp_lines:
            lines += [[]] * (height - len(lines) + 1) + interp_lines  # the row sits at the bottom
        # Textual's NO_COLOR filter needs a Style on every segment, monochrome ones included.
        self._lines = [
            Strip([seg if seg.style is not None else Segment(seg.text, PLAIN) for seg in line])
            for line in lines
        ]
        self.refresh()

    def _show_pixels(self, width: int, height: int) -> bool:
        """The plain grid as a real image over the panel's top `height` lines, where the terminal
        draws one (labelled class rows and the interpolation row stay text)."""
        grid = self.pixel_grid
        canvas = None
        if grid is not None and self.snapshot is not None and not self.snapshot.per_class:
            cell_w, cell_h = grid.cell
            canvas, shown, scale = pixel_canvas(self.snapshot.images, (width * cell_w, height * cell_h))
        if grid is not None:
            grid.display = canvas is not None
            grid.styles.height = max(height, 1)
            grid.show(canvas)
        if canvas is None:
            return False
        n = len(self.snapshot.images)
        self.border_subtitle = f"{shown} of {n} · pixels ×{scale}"
        return True

    def _grid_lines(self, width: int, height: int, color: bool) -> list[list[Segment]] | None:
        images = self.snapshot.images
        n = len(images)
        cols, rows = fit_grid(width, height, n)
        full = cols * rows >= min(n, MIN_FULL_SIZE)
        if not full:
            cols, rows = fit_grid(width, height, n, cells=HALF_CELLS, lines=HALF_LINES)
            images = halve(images)
        if not cols:
            return None
        shown = cols * rows
        self.border_subtitle = f"{shown} of {n}" + ("" if full else " · half size")
        return grid_to_segments(images[:shown], cols, color=color)

    def _class_lines(self, width: int, height: int, color: bool) -> list[list[Segment]] | None:
        """A row per digit class, at the largest size at which all ten fit (a quarter-size 7x7
        digit is crude, but seeing every class beats seeing two); else as many as fit."""
        images, per_class = self.snapshot.images, self.snapshot.per_class
        for size, cells, lines in CLASS_SIZES:
            k, per_line, shown = class_layout(width, height, per_class, cells, lines)
            if shown == NUM_CLASSES or size == CLASS_SIZES[-1][0]:
                break
            images = halve(images)
        if not shown:
            return None
        classes = "0-9" if shown == NUM_CLASSES else f"0-{shown - 1} of 0-9"
        self.border_subtitle = f"digits {classes} · {k} of {per_class} each" + (
            f" · {size} size" if size else ""
        )
        return class_rows(images, per_class, k, per_line, shown, color)

    def _titles(self) -> None:
        title = "samples"
        if self.arch:
            title += f" · {self.arch}"
        if self.snapshot is not None and self.snapshot.ema:
            title += " · EMA"
        if self.snapshot is not None and self.snapshot.stage:
            title += f" · {self.snapshot.stage}"
        if self.snapshot is not None:
            title += f" · step {self.step:,}"
        if self.position is not None:
            index, count = self.position
            title += f" · history {index + 1}/{count}"
        self.border_title = title

    def update(self, message: str) -> None:
        self._lines = [Strip([Segment(message, PLAIN)])]
        self.refresh()

    def render_line(self, y: int) -> Strip:
        return self._lines[y] if y < len(self._lines) else Strip.blank(self.size.width, PLAIN)
