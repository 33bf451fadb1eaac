"""D and G loss sparklines with current and smoothed values, and D's verdicts D(x), D(G(z))."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from tui_gan.history import LossHistory, Tracked
from tui_gan.training.losses import LOSSES
from tui_gan.ui.widgets.formatting import progress_bar
from tui_gan.ui.widgets.spark import BarSparkline


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else ("-" if math.isnan(value) else f"{value}")


def _loss_line(name: str, t: Tracked) -> Content:
    values = t.series.values()
    span = f"  range {min(values):.2f}..{max(values):.2f}" if values else ""
    return Content.assemble(
        (name, "bold"), "  ", (_num(t.last), "bold"), "  ema ", (_num(t.ema), "bold"), (span, "$text-muted")
    )


def _prob_line(t_real: Tracked, t_fake: Tracked, bar: int, labels: tuple[str, str]) -> Content:
    def one(label: str, t: Tracked, style: str) -> Content:
        v = t.ema
        fill = progress_bar(v if math.isfinite(v) else 0.0, bar)
        return Content.assemble((label, "bold"), " ", (_num(v, 2), "bold"), " ", (f"▕{fill}▏", style))

    return Content(" ").join([one(labels[0], t_real, "$success"), one(labels[1], t_fake, "$warning")])


class LossPanel(Vertical):
    """Repaints when its reactives are assigned: the screen assigns `history` after every batch
    of points (it changes in place, hence always_update), `arch` and `loss` on a switch."""

    DEFAULT_CSS = """
    LossPanel > Static { height: 1; }
    """

    history: reactive[LossHistory | None] = reactive(None, always_update=True, init=False)
    arch: reactive[str] = reactive("", init=False)
    loss: reactive[str] = reactive("bce", init=False)  # the labels speak its terms

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Made here, not in compose: the first events can arrive before this panel is composed.
        self.d_label, self.g_label, self.p_label = (
            Static(id="d-label"),
            Static(id="g-label"),
            Static(id="p-label"),
        )
        self.d_spark = BarSparkline(id="d-spark")
        self.g_spark = BarSparkline(id="g-spark")
        self._title = ""

    def compose(self) -> ComposeResult:
        yield from (self.d_label, self.d_spark, self.g_label, self.g_spark, self.p_label)

    def on_mount(self) -> None:
        self._update()

    def on_resize(self) -> None:
        self._update()  # the verdict bars fit the width

    def watch_history(self) -> None:
        self._update()

    def watch_arch(self) -> None:
        self._update()

    def watch_loss(self) -> None:
        self._update()

    def _update(self) -> None:
        arch = self.arch
        h = self.history or LossHistory(capacity=2)
        title = (f"losses · {arch}" if arch else "losses") + (f" · {self.loss}" if self.loss != "bce" else "")
        if title != self._title:  # each assignment repaints the whole panel, border and all
            self._title = self.border_title = title
        # One-line labels never change size: skipping the layout pass saves a full-screen
        # layout per Stats event (the UI thread shares the GIL with training).
        d_name, g_name, *verdicts = (LOSSES.get(self.loss) or LOSSES["bce"]).labels  # in its own terms
        self.d_label.update(_loss_line(d_name, h.d_loss), layout=False)
        self.g_label.update(_loss_line(g_name, h.g_loss), layout=False)
        bar = max(3, min(10, (self.content_size.width - 28) // 2))  # both bars fit on one line
        self.p_label.update(_prob_line(h.d_real, h.d_fake, bar, verdicts), layout=False)
        self.d_spark.data = h.d_loss.series.values()
        self.g_spark.data = h.g_loss.series.values()
