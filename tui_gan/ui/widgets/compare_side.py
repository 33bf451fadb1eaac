"""Beside the compare charts: the selected runs' latest digits side by side (SampleStrip) and the
settings they differ in (ConfigDiff). Each run is headed by its name in its colour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tui_gan.render import fit_grid, grid_to_segments
from tui_gan.ui.widgets.compare_data import diff_rows, format_count
from tui_gan.ui.widgets.samples import CLASS_SIZES, MIN_FULL_SIZE, PLAIN, halve

MUTED = Style(dim=True)
RUN_GAP = 3  # blank cells between two runs' grids
# A caption's step, in the longest form that fits every caption.
STEP_FORMATS = (lambda s: f" · step {s:,}", lambda s: f" · {format_count(s)}", lambda s: "")
STRIP_HINT = "Select runs (space) to see their latest samples side by side."


class StripRun(NamedTuple):
    """One run's samples as the strip shows them; any (name, colour, images, step) tuple will do."""

    name: str
    colour: str  # "#4e9af1"
    images: np.ndarray | None  # (n, 28, 28) uint8; None or empty: no samples yet
    step: int


def strip_layout(width: int, height: int, runs: int, n: int) -> tuple[int, int, int, int, int]:
    """(runs shown, slot width, size index into CLASS_SIZES, columns, rows): every run gets the
    same layout so grids compare digit for digit. The size showing the most digits up to
    MIN_FULL_SIZE wins, the larger on a tie: a GAN's diversity needs several digits a run, and a
    larger digit adds nothing once they are there. Runs that would get less than a quarter-size
    digit's width are left out."""
    smallest = CLASS_SIZES[-1][1]
    shown = max(0, min(runs, (width + RUN_GAP) // (smallest + RUN_GAP)))
    if not shown:
        return 0, 0, 0, 0, 0
    slot = (width - RUN_GAP * (shown - 1)) // shown
    best = (0, 0, 0, 0)  # digits counted, size, cols, rows
    for size, (_, cells, lines) in enumerate(CLASS_SIZES):
        cols, rows = fit_grid(slot, height - 1, n, cells=cells, lines=lines)
        if min(cols * rows, MIN_FULL_SIZE) > best[0]:
            best = (min(cols * rows, MIN_FULL_SIZE), size, cols, rows)
    return shown, slot, *best[1:]


class SampleStrip(Widget):
    """A Line-API widget like SamplesPanel, drawn by the same renderer (render.grid_to_segments):
    a column per run, its name and step on top, then as many of its digits as fit."""

    DEFAULT_CSS = """
    SampleStrip { height: 1fr; overflow: hidden; }
    """

    def __init__(self, hint: str = STRIP_HINT, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hint = hint
        self._runs: tuple[StripRun, ...] = ()
        self._lines: list[Strip] = []

    @property
    def runs(self) -> tuple[StripRun, ...]:
        return self._runs

    def set_samples(self, runs: Sequence[tuple[str, str, np.ndarray | None, int]]) -> None:
        """The selected runs' sample grids, in selection order; redraws only when they changed
        (images are compared by identity: a new grid is a new array)."""
        runs = tuple(StripRun(*run) for run in runs)
        same = len(runs) == len(self._runs) and all(
            (a.name, a.colour, a.step) == (b.name, b.colour, b.step) and a.images is b.images
            for a, b in zip(runs, self._runs)
        )
        if not same:
            self._runs = runs
            self.redraw()

    def on_mount(self) -> None:
        self.border_title = "samples"
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def redraw(self) -> None:
        if self.is_mounted:  # else on_mount draws it
            self._draw()

    def _draw(self) -> None:
        width, height = self.content_size
        if not self._runs:
            self._message(self.hint)
            return
        counts = [len(r.images) for r in self._runs if r.images is not None and len(r.images)]
        shown, slot, size, cols, rows = strip_layout(width, height, len(self._runs), min(counts, default=1))
        if not shown or not cols:
            self._message("too small for digits: make the terminal larger")
            return
        steps = next(  # the same form in every caption
            (f for f in STEP_FORMATS if all(len(r.name + f(r.step)) <= slot for r in self._runs[:shown])),
            STEP_FORMATS[-1],
        )
        blocks = [self._block(run, slot, steps(run.step), size, cols, rows) for run in self._runs[:shown]]
        more = len(self._runs) - shown
        self.border_subtitle = f"{shown} of {len(self._runs)} runs" if more else ""
        gap = [Segment(" " * RUN_GAP, PLAIN)]
        lines = []
        for y in range(max(len(b) for b in blocks)):
            line: list[Segment] = []
            for i, block in enumerate(blocks):
                if i:
                    line += gap
                line += block[y] if y < len(block) else [Segment(" " * slot, PLAIN)]
            lines.append(Strip(line))
        self._lines = lines
        self.refresh()

    def _block(
        self, run: StripRun, slot: int, step: str, size: int, cols: int, rows: int
    ) -> list[list[Segment]]:
        """A run's column, every line padded to `slot` cells: its caption, then its digits."""
        caption = Text.assemble((run.name, Style(color=run.colour, bold=True)), (step, MUTED))
        caption.truncate(slot, overflow="ellipsis", pad=True)
        lines = [list(caption.render(self.app.console))]
        if run.images is None or not len(run.images):
            lines.append([Segment("no samples yet".ljust(slot)[:slot], MUTED)])
            return lines
        images = run.images
        for _ in range(size):
            images = halve(images)
        digits = grid_to_segments(images[: cols * rows], cols, color=not self.app.no_color)
        for line in digits:
            # Textual's NO_COLOR filter needs a Style on every segment, monochrome ones included.
            line = [seg if seg.style is not None else Segment(seg.text, PLAIN) for seg in line]
            used = sum(len(seg.text) for seg in line)
            lines.append([*line, Segment(" " * (slot - used), PLAIN)])
        return lines

    def _message(self, text: str) -> None:
        self.border_subtitle = ""
        self._lines = [Strip([Segment(text, MUTED)])]
        self.refresh()

    def render_line(self, y: int) -> Strip:
        return self._lines[y] if y < len(self._lines) else Strip.blank(self.size.width, PLAIN)


class ConfigDiff(Vertical):
    """The settings the selected runs differ in, a column per run headed by its name in its
    colour; keys that always differ and mean nothing (compare_data.IGNORED_CONFIG_KEYS) left out."""

    DEFAULT_CSS = """
    ConfigDiff { height: 1fr; }
    ConfigDiff > #diff-hint { height: auto; color: $text-muted; }
    ConfigDiff > DataTable { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hint = Static(id="diff-hint")
        self.table: DataTable = DataTable(id="diff-table", cursor_type="none", zebra_stripes=True)
        self.table.can_focus = False  # read-only: the screen's keys must not stop here
        self._runs: tuple[tuple[str, str, dict[str, Any]], ...] = ()
        self.rows: list[tuple[str, list[str]]] = []

    def compose(self) -> ComposeResult:
        yield self.hint
        yield self.table

    def on_mount(self) -> None:
        self.border_title = "config differences"
        self._fill()

    def set_configs(self, runs: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """(name, colour, config) of each selected run, in selection order."""
        runs = tuple((name, colour, config) for name, colour, config in runs)
        if runs != self._runs:
            self._runs = runs
            if self.is_mounted:
                self._fill()

    def _fill(self) -> None:
        self.rows = diff_rows([config for _, _, config in self._runs])
        table = self.table
        table.clear(columns=True)
        n = len(self._runs)
        hint = ""
        if n < 2:
            hint = "Select two or more runs to see the settings they differ in."
        elif not self.rows:
            hint = f"The {n} selected runs train with the same settings."
        self.hint.update(hint)
        self.hint.display = bool(hint)
        table.display = bool(self.rows)
        if not self.rows:
            return
        table.add_column("setting", key="setting")
        for i, (name, colour, _) in enumerate(self._runs):
            table.add_column(Text(name, style=f"bold {colour}"), key=f"run-{i}")
        for key, values in self.rows:
            table.add_row(Text(key, style="bold"), *values, key=key)
