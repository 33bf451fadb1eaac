"""The generator's digits from the fixed noise, as many as fit the panel, optionally with the
latent-interpolation row underneath.

Keeps what it shows so a resize re-renders locally, without asking the engine."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui_gan.render import DIGIT_CELLS, DIGIT_LINES, fit_grid, grid_to_segments
from tui_gan.history import Snapshot

HALF_CELLS, HALF_LINES = DIGIT_CELLS // 2, DIGIT_LINES // 2
PLAIN = Style()
MUTED = Style(dim=True)
MIN_FULL_SIZE = 6  # fewer full-size digits than this: show more at half size (diversity matters in a GAN)
INTERP_LINES = HALF_LINES + 1  # a caption line, then one row of half-size digits


def halve(images: np.ndarray) -> np.ndarray:
    """2x2 box downscale of (n, 28, 28) uint8 digits, for small panels."""
    n, h, w = images.shape
    x = images[:, : h - h % 2, : w - w % 2].astype(np.uint16)
    x = x.reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4))
    return ((x + 2) // 4).astype(np.uint8)


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

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot: Snapshot | None = None
        self.arch = ""
        self.position: tuple[int, int] | None = None  # (index, count) while scrubbing history; None = live
        self.interpolation = False
        self._drawn: tuple | None = None
        self._lines: list[Strip] = []

    @property
    def step(self) -> int:
        return self.snapshot.step if self.snapshot else 0

    def on_mount(self) -> None:
        self.border_title = "samples"
        self.redraw()

    def show(self, snapshot: Snapshot | None, arch: str, position: tuple[int, int] | None = None,
             interpolation: bool | None = None) -> None:
        self.snapshot, self.arch, self.position = snapshot, arch, position
        if interpolation is not None:
            self.interpolation = interpolation
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        width, height = self.content_size
        key = (id(self.snapshot), self.arch, self.position, self.interpolation, width, height, self.app.no_color)
        if key == self._drawn:
            return
        self._drawn = key
        self._titles()
        if self.snapshot is None:
            self.update("waiting for the generator's first samples...")
            return
        color = not self.app.no_color
        interp = self.snapshot.interpolation if self.interpolation else None
        interp_lines: list[list[Segment]] = []
        if interp is not None and len(interp) and height >= INTERP_LINES + HALF_LINES:
            k = fit_grid(width, HALF_LINES, len(interp), cells=HALF_CELLS, lines=HALF_LINES)[0]
            if k:
                caption = f"─ interpolation z₀ → z₁ ({k} of {len(interp)} points) "
                if len(caption) > width:
                    caption = "─ interpolation z₀ → z₁ "
                interp_lines = [[Segment(caption[:width].ljust(width, "─"), MUTED)]]
                interp_lines += grid_to_segments(halve(interp[spread(len(interp), k)]), k, color=color)
                height -= INTERP_LINES + 1  # and a blank line above the caption
        images = self.snapshot.images
        n = len(images)
        cols, rows = fit_grid(width, height, n)
        full = cols * rows >= min(n, MIN_FULL_SIZE)
        if not full:
            cols, rows = fit_grid(width, height, n, cells=HALF_CELLS, lines=HALF_LINES)
            images = halve(images)
        if not cols:
            self.border_subtitle = ""
            self.update("too small for digits: make the terminal larger")
            return
        shown = cols * rows
        self.border_subtitle = f"{shown} of {n}" + ("" if full else " · half size")
        lines = grid_to_segments(images[:shown], cols, color=color)
        if interp_lines:
            lines += [[]] * (height - len(lines) + 1) + interp_lines  # the row sits at the bottom
        # Textual's NO_COLOR filter needs a Style on every segment, monochrome ones included.
        self._lines = [
            Strip([seg if seg.style is not None else Segment(seg.text, PLAIN) for seg in line]) for line in lines
        ]
        self.refresh()

    def _titles(self) -> None:
        title = "samples"
        if self.arch:
            title += f" · {self.arch}"
        if self.snapshot is not None and self.snapshot.ema:
            title += " · EMA"
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
