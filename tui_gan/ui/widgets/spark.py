"""Cheap bar sparklines in eighth blocks, one styled run per line.

Textual's Sparkline blends a colour per cell: ~25 bytes a cell down the wire and a share of the
GIL the training thread wants. These draw the same shape as plain block characters in the
widget's CSS colour, so a repaint is a few hundred bytes."""

from __future__ import annotations

import math

from rich.segment import Segment
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

LEVELS = " ▁▂▃▄▅▆▇█"  # index = eighths of a cell


def resample(values: list[float], width: int, stretch: bool = True) -> list[float]:
    """`width` values: bucket means when there are more, each value repeated across the width when
    there are fewer (stretch) or the values as they are (no stretch)."""
    values = [v for v in values if math.isfinite(v)]
    n = len(values)
    if width <= 0 or not n:
        return []
    if n > width:
        edges = [round(i * n / width) for i in range(width + 1)]
        return [sum(values[a:b]) / (b - a) for a, b in zip(edges, edges[1:]) if b > a]
    if stretch:
        return [values[i * n // width] for i in range(width)]
    return values


def bar_rows(values: list[float], width: int, height: int, stretch: bool = True) -> list[str]:
    """`height` lines of bars (top line first) scaled min..max; the smallest value keeps a sliver
    so a flat series still shows."""
    columns = resample(values, width, stretch)
    if not columns or height <= 0:
        return [""] * max(height, 0)
    lo, hi = min(columns), max(columns)
    span = hi - lo or 1.0
    eighths = [1 + round((v - lo) / span * (height * 8 - 1)) for v in columns]
    return [
        "".join(LEVELS[min(8, max(0, e - (height - 1 - row) * 8))] for e in eighths) for row in range(height)
    ]


class BarSparkline(Widget):
    """A multi-line sparkline of `data` in the widget's CSS colour, as Textual's Sparkline:
    assigning `data` repaints; the bars are recomputed when the data or the size changes."""

    DEFAULT_CSS = """
    BarSparkline { height: 1fr; min-height: 1; }
    """

    data: reactive[list[float]] = reactive(list, init=False)

    def __init__(self, data: list[float] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._rows: list[str] = []
        self._rows_size: tuple[int, int] | None = None  # the size _rows were made for
        if data:
            self.set_reactive(BarSparkline.data, list(data))

    def watch_data(self) -> None:
        self._rows_size = None

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._rows_size != (width, height):
            self._rows_size = (width, height)
            self._rows = bar_rows(self.data, width, height)
        style = self.rich_style
        text = self._rows[y] if y < len(self._rows) else ""
        return Strip([Segment(text.ljust(width), style)], width)
