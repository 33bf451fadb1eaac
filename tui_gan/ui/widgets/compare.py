"""The workspace's compare pane: the selected runs on shared axes (CompareCharts), their latest
sample grids side by side (SampleStrip, in compare_side.py) and the settings they differ in
(ConfigDiff). The screen owns selection and data; these widgets only draw what they are handed.

A run looks the same everywhere: its colour (RunSeries.colour) on its lines, legend entry and
captions, and under NO_COLOR a marker of its own, so runs stay apart without colour."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Grid
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import Plot, PlotextPlot

from tui_gan.ui.widgets.compare_data import (
    DEFAULT_SMOOTHING,
    SMOOTHING_STEPS,
    config_diff,
    ema,
    finite_points,
    format_count,
    format_seconds,
    format_value,
    linear_ticks,
    log_ticks,
    thin,
    time_ticks,
)
from tui_gan.ui.widgets.compare_side import ConfigDiff, SampleStrip, StripRun
from tui_gan.workspace.model import RunSeries

__all__ = ["CHARTS", "CompareCharts", "ConfigDiff", "SampleStrip", "StripRun", "config_diff"]

# A run's marker where colour is off (NO_COLOR), in its order in the selection; braille otherwise.
MARKERS = ("•", "x", "+", "o", "*", "#", "=", "%", "~", "@")
MIN_CHART_WIDTH = 50  # below these a chart's ticks and curves crowd: show fewer charts instead
MIN_CHART_HEIGHT = 10
MIN_DRAWN_WIDTH, MIN_DRAWN_HEIGHT = 24, 7  # below these plotext's ticks overlap: a line says so
HINT = "Select runs (space) to compare them here."
LEGEND_GAP = "   "


@dataclass(frozen=True)
class ChartSpec:
    """One chart: RunSeries fields for x and y, how the x axis counts, and whether y smooths
    (losses) or may go logarithmic (Frechet distance falls by orders of magnitude early on)."""

    key: str
    title: str
    x: str
    y: str
    x_is_time: bool = False
    smoothed: bool = False
    log_y: bool = False
    empty: str = "no steps logged yet"


NO_FD = "no evaluations yet"
CHARTS = (
    ChartSpec("fd_time", "Frechet distance by training time", "fd_time", "fd", True, log_y=True, empty=NO_FD),
    ChartSpec("fd_step", "Frechet distance by step", "fd_step", "fd", log_y=True, empty=NO_FD),
    ChartSpec("d_loss", "D loss by step", "loss_step", "d_loss", smoothed=True),
    ChartSpec("g_loss", "G loss by step", "loss_step", "g_loss", smoothed=True),
    ChartSpec("images_per_s", "images/s by step", "rate_step", "images_per_s"),
)
_BY_KEY = {spec.key: spec for spec in CHARTS}


@dataclass(frozen=True)
class Line:
    """One run's curve on one chart, ready to plot."""

    rgb: tuple[int, int, int] | None  # None: NO_COLOR
    marker: str
    x: np.ndarray
    y: np.ndarray


def draw_chart(
    plt: Plot, spec: ChartSpec, title: str, caption: str, lines: Sequence[Line], width: int, height: int
) -> None:
    """Plots `lines` on `plt` with axes shared by all runs and round, labelled ticks."""
    xs = np.concatenate([line.x for line in lines])
    ys = np.concatenate([line.y for line in lines])
    x_lo, x_hi = min(0.0, float(xs.min())), float(xs.max())  # steps and training time count from 0
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    y_lo, y_hi = float(ys.min()), float(ys.max())
    log = spec.log_y and y_lo > 0 and y_hi >= 10 * y_lo
    to_axis = np.log10 if log else (lambda v: v)
    lo, hi = float(to_axis(y_lo)), float(to_axis(y_hi))
    pad = (hi - lo) * 0.05 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    for line in lines:
        plt.plot(line.x.tolist(), to_axis(line.y).tolist(), marker=line.marker, color=line.rgb)
    plt.title(title + (" (log)" if log else "") + (f"  [{caption}]" if caption else ""))
    plt.xlim(x_lo, x_hi)
    plt.ylim(lo, hi)
    x_ticks = (time_ticks if spec.x_is_time else linear_ticks)(x_lo, x_hi, max(2, (width - 8) // 8))
    plt.xticks(x_ticks, [(format_seconds if spec.x_is_time else format_count)(t) for t in x_ticks])
    max_y = max(2, (height - 4) // 2)  # lines of the canvas (title, frame, x ticks aside) / 2
    y_values = log_ticks(10**lo, 10**hi, max_y) if log else linear_ticks(lo, hi, max_y)
    plt.yticks([float(to_axis(v)) for v in y_values], [format_value(v) for v in y_values])


class ChartView(PlotextPlot):
    """One chart of the pane. Draws what its pane prepared for the chart it is given; the plot
    text is kept until size, chart, data or theme change, so a repaint does not rebuild it."""

    DEFAULT_CSS = """
    ChartView { width: 1fr; height: 1fr; }
    """

    def __init__(self, pane: CompareCharts, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pane = pane
        self.chart = CHARTS[0].key
        self.caption = ""  # "2/5" when the pane shows fewer charts than there are
        self._kept: tuple[tuple, Text] | None = None

    def show(self, chart: str, caption: str) -> None:
        if (chart, caption) != (self.chart, self.caption):
            self.chart, self.caption = chart, caption
            self.refresh()

    def render(self) -> RenderResult:
        width, height = self.size
        key = (width, height, self.chart, self.caption, self.pane.version, self.app.theme)
        if self._kept is None or self._kept[0] != key:
            self._kept = (key, self._build(width, height))
        return self._kept[1]

    def _build(self, width: int, height: int) -> Text:
        spec = _BY_KEY[self.chart]
        lines = self.pane.lines(spec, points=2 * width)
        title = self.pane.title(spec, drawn=len(lines))
        problem = spec.empty if not lines else None
        if width < MIN_DRAWN_WIDTH or height < MIN_DRAWN_HEIGHT:
            problem = "too small for a chart: make the terminal larger"
        if problem:
            caption = f"  [{self.caption}]" if self.caption else ""
            return Text.assemble((title + caption, "bold"), "\n", (problem, "dim"))
        self._plot = plt = Plot()  # afresh: plotext keeps every setting of earlier draws
        plt.plotsize(width, height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        draw_chart(plt, spec, title, self.caption, lines, width, height)
        return Text.from_ansi(plt.build())


class CompareCharts(Widget):
    """The selected runs on shared axes: Frechet distance by training time and by step, D and G
    loss (smoothed) and images/s. As many charts as fit side by side and stacked (one at 80x24);
    `next_chart` pages through the rest. Feed it with `set_series`; it redraws in place."""

    DEFAULT_CSS = """
    CompareCharts { height: 1fr; }
    CompareCharts > #compare-legend { height: auto; max-height: 3; }
    CompareCharts > #compare-hint { height: 1; color: $text-muted; }
    CompareCharts > #compare-charts { layout: grid; grid-gutter: 0 2; height: 1fr; }
    """

    chart: reactive[str] = reactive(CHARTS[0].key, init=False)  # the first chart shown
    smoothing: reactive[int] = reactive(DEFAULT_SMOOTHING, init=False)  # loss EMA, in steps; 0: raw

    def __init__(self, hint: str = HINT, **kwargs) -> None:
        super().__init__(**kwargs)
        self.version = 0  # bumped whenever what the charts draw changes
        self._series: tuple[RunSeries, ...] = ()
        self._smoothed: dict[tuple[int, str, int], np.ndarray] = {}
        self._shown: tuple[str, ...] = ()
        self._legend_lines = 1
        self.legend = Static(id="compare-legend")
        self.hint = Static(hint, id="compare-hint")
        self.views = [ChartView(self, id=f"chart-{i}") for i in range(len(CHARTS))]

    def compose(self) -> ComposeResult:
        yield self.legend
        yield self.hint
        with Grid(id="compare-charts"):
            yield from self.views

    @property
    def series(self) -> tuple[RunSeries, ...]:
        return self._series

    @property
    def shown_charts(self) -> tuple[str, ...]:
        """Keys of the charts on screen now, in order."""
        return self._shown

    def set_series(self, series: Sequence[RunSeries]) -> None:
        """The selected runs' data, in selection order (their order in the legend and markers)."""
        series = tuple(series)
        if series == self._series:
            return
        self._series = series
        self._smoothed.clear()
        self._changed()

    def next_chart(self) -> None:
        """Show the next chart first (the charts cycle): at 80x24, the next of the five."""
        self._turn(1)

    def previous_chart(self) -> None:
        self._turn(-1)

    def smoother(self) -> None:
        """The next longer loss smoothing of SMOOTHING_STEPS."""
        self.smoothing = next((s for s in SMOOTHING_STEPS if s > self.smoothing), SMOOTHING_STEPS[-1])

    def rougher(self) -> None:
        """The next shorter loss smoothing of SMOOTHING_STEPS (down to raw)."""
        self.smoothing = next((s for s in reversed(SMOOTHING_STEPS) if s < self.smoothing), 0)

    def _turn(self, by: int) -> None:
        i = next(i for i, spec in enumerate(CHARTS) if spec.key == self.chart)
        self.chart = CHARTS[(i + by) % len(CHARTS)].key

    def validate_chart(self, chart: str) -> str:
        if chart not in _BY_KEY:
            raise ValueError(f"unknown chart {chart!r}; one of: {', '.join(_BY_KEY)}")
        return chart

    def validate_smoothing(self, smoothing: int) -> int:
        return max(0, int(smoothing))

    def watch_chart(self) -> None:
        if self.is_mounted:
            self._arrange()

    def watch_smoothing(self) -> None:
        self._changed()

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._legend()
        self._arrange()

    def _changed(self) -> None:
        self.version += 1
        if self.is_mounted:  # else on_mount draws it
            self._draw()

    def _draw(self) -> None:
        self._legend()
        self._arrange()
        for view in self.views:
            view.refresh()

    def _legend(self) -> None:
        """The runs' names in their colours (markers under NO_COLOR), wrapped between entries."""
        entries = [
            Content.assemble((f"{self._marker(i, '━━')} ", colour), (name, f"bold {colour}"))
            for i, (name, colour) in enumerate((s.name, s.colour) for s in self._series)
        ]
        lines: list[list[Content]] = [[]]
        width = self.content_size.width
        for entry in entries:
            used = sum(e.cell_length + len(LEGEND_GAP) for e in lines[-1])
            if lines[-1] and used + entry.cell_length > width:
                lines.append([])
            lines[-1].append(entry)
        self._legend_lines = len(lines)
        self.legend.update(Content("\n").join(Content(LEGEND_GAP).join(line) for line in lines))

    def _marker(self, index: int, coloured: str) -> str:
        return MARKERS[index % len(MARKERS)] if self.app.no_color else coloured

    def _arrange(self) -> None:
        """Hint or charts; then as many charts as fit, a grid of cols x rows, the last chart
        spanning what is left of its row."""
        empty = not self._series
        self.hint.display = empty
        self.legend.display = not empty
        self.query_one("#compare-charts").display = not empty
        if empty:
            self._shown = ()
            return
        width, height = self.content_size
        fit_cols = max(1, (width + 2) // (MIN_CHART_WIDTH + 2))
        fit_rows = max(1, (height - min(self._legend_lines, 3)) // MIN_CHART_HEIGHT)  # max-height: 3
        n = min(len(CHARTS), fit_cols * fit_rows)
        rows = math.ceil(n / fit_cols)
        cols = math.ceil(n / rows)
        grid = self.query_one("#compare-charts").styles
        grid.grid_size_columns, grid.grid_size_rows = cols, rows
        first = next(i for i, spec in enumerate(CHARTS) if spec.key == self.chart)
        shown = []
        for i, view in enumerate(self.views):
            view.display = i < n
            if i < n:
                index = (first + i) % len(CHARTS)
                shown.append(CHARTS[index].key)
                view.styles.column_span = cols * rows - n + 1 if i == n - 1 else 1
                view.show(CHARTS[index].key, f"{index + 1}/{len(CHARTS)}" if n < len(CHARTS) else "")
        self._shown = tuple(shown)

    def title(self, spec: ChartSpec, drawn: int) -> str:
        """The chart's title: what it shows, its smoothing, and how many runs have data in it."""
        title = spec.title
        if spec.smoothed:
            title += f", EMA over {self.smoothing:,} steps" if self.smoothing else ", raw"
        if 0 < drawn < len(self._series):
            title += f" · {drawn} of {len(self._series)} runs"
        return title

    def lines(self, spec: ChartSpec, points: int) -> list[Line]:
        """The selected runs' curves on `spec`, smoothed and thinned to `points` points; runs
        without data for it are left out."""
        lines = []
        for i, run in enumerate(self._series):
            x, y = finite_points(getattr(run, spec.x), getattr(run, spec.y))
            if not len(x):
                continue
            if spec.smoothed and self.smoothing:
                key = (i, spec.y, self.smoothing)
                if key not in self._smoothed:
                    self._smoothed[key] = ema(x, y, self.smoothing)
                y = self._smoothed[key]
            rgb = None if self.app.no_color else Color.parse(run.colour).rgb
            x, y = thin(x, y, points)
            lines.append(Line(rgb, self._marker(i, "braille"), x, y))
        return lines
