"""Is it working? The latest quality evaluation: a bar per digit class for what the generator
draws (a conditional generator: how often it draws the digit asked for), the classifier's
figures, and the Frechet distance over time (lower is better)."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_gan.history import QualityHistory
from tui_gan.quality.report import ACCURATE_SHARE, COVERED_SHARE, MIN_CLASSES
from tui_gan.ui.widgets.formatting import fit_line
from tui_gan.ui.widgets.spark import LEVELS, bar_rows

BAR_LINES = 2
HIST_WIDTH = 20  # ten classes, a bar and a gap each


def histogram_lines(
    shares: tuple[float, ...] | list[float], top: float | None = None, good: float = COVERED_SHARE
) -> list[Content]:
    """BAR_LINES lines of vertical bars (eighth blocks) plus a label line; bars below `good` are
    red. The scale tops out at `top`, by default twice the uniform share (or the largest bar),
    so a balanced histogram reads as even bars at half height and a collapse as one tall bar."""
    shares = [0.0 if share != share else share for share in shares]  # nan: a class not asked for
    top = top or max(2.0 / len(shares), max(shares))
    rows: list[list[tuple[str, str]]] = [[] for _ in range(BAR_LINES)]
    labels: list[tuple[str, str]] = []
    for cls, share in enumerate(shares):
        style = "$success" if share >= good else "$error"
        eighths = round(share / top * 8 * BAR_LINES)
        for line in range(BAR_LINES):  # line 0 is the top
            base = (BAR_LINES - 1 - line) * 8
            rows[line] += [(LEVELS[min(8, max(0, eighths - base))], style), (" ", "")]
        labels += [(str(cls % 10), "$text-muted" if share >= good else "$error bold"), (" ", "")]
    return [Content.assemble(*row) for row in rows] + [Content.assemble(*labels)]


def sparkline(values: list[float], width: int) -> str:
    """One line, at most `width` cells (one per evaluation until they no longer fit)."""
    return bar_rows(values, width, 1, stretch=False)[0]


class QualityPanel(Widget):
    """Repaints when its reactives are assigned: the screen assigns `history` after each
    evaluation (it changes in place, hence always_update), `arch` on a switch, `note` until the
    first evaluation (why there are no figures yet)."""

    history: reactive[QualityHistory | None] = reactive(None, always_update=True, init=False)
    arch: reactive[str] = reactive("", init=False)
    note: reactive[str] = reactive("the quality classifier is getting ready in the background...", init=False)

    def on_mount(self) -> None:
        self._titles()

    def watch_history(self) -> None:
        self._titles()

    def watch_arch(self) -> None:
        self._titles()

    def _titles(self) -> None:
        history, arch = self.history, self.arch
        q = history.latest if history else None
        self.border_title = f"quality · {arch}" + (f" · step {q.step:,}" if q else "")
        self.border_subtitle = (
            f"#{history.count} · {q.seconds * 1000:.0f} ms · e: now" if q else "e: evaluate now"
        )

    def render(self) -> Content:
        width = self.size.width
        q = self.history.latest if self.history else None
        if q is None:
            return Content.styled(self.note, "$text-muted")
        r = q.report
        covered_style = "$error bold" if r.classes_covered < MIN_CLASSES else "bold"
        fd_style = "bold" if r.frechet_distance <= 3 * max(q.real_floor, 1e-9) else "$warning bold"
        accuracy = r.accuracy
        if accuracy is None:
            hist = histogram_lines(r.histogram)
        else:  # conditional: a bar per digit asked for, full when every one is drawn as that digit
            hist = histogram_lines(r.class_accuracy, top=1.0, good=ACCURATE_SHARE)
        room = width - HIST_WIDTH - 1
        if room < 16:  # too narrow to share a line: the bars alone say the most
            return Content("\n").join(hist)
        fd = f"{r.frechet_distance:.1f}" if r.frechet_distance < 1000 else f"{r.frechet_distance:.0f}"
        first = [
            Content.assemble((f"{r.classes_covered}/10", covered_style), " classes"),
            Content.assemble("conf ", (f"{r.mean_confidence:.2f}", "bold")),
            Content.assemble("score ", (f"{r.classifier_score:.2f}", "bold")),
        ]
        if accuracy is not None:
            style = "bold" if accuracy >= ACCURATE_SHARE else "$warning bold"
            first = [Content.assemble((f"{accuracy:.0%}", style), " as asked"), *first[:1], first[2]]
        figures = [
            fit_line(room, *first),
            fit_line(
                room,
                Content.assemble("FD ", (fd, fd_style), (f" (real {q.real_floor:.1f})", "$text-muted")),
                Content.assemble("KL ", (f"{r.kl_to_uniform:.2f}", "bold")),
            ),
        ]
        label = "FD trend " if room < 30 else "FD over time "
        trend = Content.assemble(
            (label, "$text-muted"), (sparkline(self.history.frechet.values(), room - len(label)), "$accent")
        )
        right = [line.truncate(room) for line in (*figures, trend)]
        return Content("\n").join(Content.assemble(h, " ", line) for h, line in zip(hist, right))
