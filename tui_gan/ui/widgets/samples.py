"""The generator's digits from the fixed noise, as many as fit the panel.

Keeps the last images so a resize re-renders locally, without asking the engine."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui_gan.render import DIGIT_CELLS, DIGIT_LINES, fit_grid, grid_to_segments

HALF_CELLS, HALF_LINES = DIGIT_CELLS // 2, DIGIT_LINES // 2
PLAIN = Style()
MIN_FULL_SIZE = 6  # fewer full-size digits than this: show more at half size (diversity matters in a GAN)


def halve(images: np.ndarray) -> np.ndarray:
    """2x2 box downscale of (n, 28, 28) uint8 digits, for small panels."""
    n, h, w = images.shape
    x = images[:, : h - h % 2, : w - w % 2].astype(np.uint16)
    x = x.reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
    return ((x + 2) // 4).astype(np.uint8)


class SamplesPanel(Widget):
    """A Line-API widget: ready-made strips of block cells. A Static holding a Text with tens of
    thousands of spans (noisy early digits) costs seconds per repaint; strips cost milliseconds."""

    DEFAULT_CSS = """
    SamplesPanel { overflow: hidden; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.images: np.ndarray | None = None
        self.step = 0
        self.arch = ""
        self.layout_used: tuple[int, int, bool] = (0, 0, True)  # columns, rows, full size
        self._drawn: tuple | None = None
        self._lines: list[Strip] = []

    def on_mount(self) -> None:
        self.border_title = "samples"
        self.redraw()

    def set_images(self, images: np.ndarray, step: int, arch: str) -> None:
        self.images, self.step, self.arch = images, step, arch
        self._drawn = None
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        width, height = self.content_size
        key = (id(self.images), width, height, self.app.no_color)
        if key == self._drawn:
            return
        self._drawn = key
        if self.images is None:
            self.update("waiting for the generator's first samples...")
            return
        n = len(self.images)
        cols, rows = fit_grid(width, height, n)
        full = cols * rows >= min(n, MIN_FULL_SIZE)
        images = self.images
        if not full:
            cols, rows = fit_grid(width, height, n, cells=HALF_CELLS, lines=HALF_LINES)
            images = halve(images)
        self.layout_used = (cols, rows, full)
        self.border_title = f"samples · {self.arch} · step {self.step:,}"
        if not cols:
            self.border_subtitle = ""
            self.update("too small for digits: make the terminal larger")
            return
        shown = cols * rows
        self.border_subtitle = f"{shown} of {n}" + ("" if full else " · half size")
        # Textual's NO_COLOR filter needs a Style on every segment, monochrome ones included.
        self._lines = [
            Strip([seg if seg.style is not None else Segment(seg.text, PLAIN) for seg in line])
            for line in grid_to_segments(images[:shown], cols, color=not self.app.no_color)
        ]
        self.refresh()

    def update(self, message: str) -> None:
        self._lines = [Strip([Segment(message, PLAIN)])]
        self.refresh()

    def render_line(self, y: int) -> Strip:
        return self._lines[y] if y < len(self._lines) else Strip.blank(self.size.width, PLAIN)
