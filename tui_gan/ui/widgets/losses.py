"""D and G loss sparklines with current and smoothed values, and D's verdicts D(x), D(G(z))."""

from __future__ import annotations

import math
from statistics import fmean

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Sparkline, Static

from tui_gan.ui.history import LossHistory, Tracked
from tui_gan.ui.widgets.status import progress_bar


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else ("-" if math.isnan(value) else f"{value}")


def _loss_line(name: str, t: Tracked) -> Content:
    values = t.series.values()
    span = f"  range {min(values):.2f}..{max(values):.2f}" if values else ""
    return Content.assemble(
        (name, "bold"), "  ", (_num(t.last), "bold"), "  ema ", (_num(t.ema), "bold"), (span, "$text-muted")
    )


def _prob_line(t_real: Tracked, t_fake: Tracked, bar: int) -> Content:
    def one(label: str, t: Tracked, style: str) -> Content:
        v = t.ema
        fill = progress_bar(v if math.isfinite(v) else 0.0, bar)
        return Content.assemble((label, "bold"), " ", (_num(v, 2), "bold"), " ", (f"▕{fill}▏", style))

    return Content(" ").join([one("D(x)", t_real, "$success"), one("D(G(z))", t_fake, "$warning")])


class LossPanel(Vertical):
    """Redraws only when the shown history has new points (see LossHistory.version)."""

    DEFAULT_CSS = """
    LossPanel > Sparkline { height: 1fr; min-height: 1; }
    LossPanel > Static { height: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: LossHistory | None = None
        self._shown: tuple[int, int] | None = None  # (id of history, version) on screen

    def compose(self) -> ComposeResult:
        yield Static(id="d-label")
        yield Sparkline([], id="d-spark", summary_function=fmean)
        yield Static(id="g-label")
        yield Sparkline([], id="g-spark", summary_function=fmean)
        yield Static(id="p-label")

    def on_mount(self) -> None:
        self.border_title = "losses"
        self.show(None, "")

    def show(self, history: LossHistory | None, arch: str) -> None:
        key = (id(history), history.version if history else -1)
        if key == self._shown:
            return
        self._shown = key
        self.history = history
        h = history or LossHistory(capacity=2)
        self.border_title = f"losses · {arch}" if arch else "losses"
        self.border_subtitle = (
            f"{h.steps_seen:,} steps · 1 bar ≈ {h.d_loss.series.stride} step{'s' if h.d_loss.series.stride > 1 else ''}"
            if history else ""
        )
        self.query_one("#d-label", Static).update(_loss_line("D loss", h.d_loss))
        self.query_one("#g-label", Static).update(_loss_line("G loss", h.g_loss))
        self.query_one("#p-label", Static).update(_prob_line(h.d_real, h.d_fake, 10))
        self.query_one("#d-spark", Sparkline).data = h.d_loss.series.values()
        self.query_one("#g-spark", Sparkline).data = h.g_loss.series.values()
