"""`?`: every key, and how to read each panel."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_gan.config import TrainConfig
from tui_gan.quality.report import ACCURATE_SHARE, COVERED_SHARE, MIN_CLASSES

# How to read the panels whose meaning does not depend on the run's settings.
_STATUS = (
    "state, architecture · dataset · device, epoch with progress through it, step, "
    "images per second, training time of this architecture (pauses excluded); then the last "
    "checkpoint (ckpt: its step, and how much training time ago: what a crash would cost) and the "
    "run folder."
)
_LOSSES = (
    "D loss: how well the discriminator tells real from generated (BCE over both halves; "
    "2·ln2 ≈ 1.39 when it cannot tell). G loss: how well the generator fools D "
    "(non-saturating BCE; ln2 ≈ 0.69 at the equilibrium). ema is a moving average over ~50 steps; "
    "the sparklines span the whole run, older steps averaged together so memory stays bounded. "
    "Each architecture keeps its own."
)
_VERDICTS = (
    "the discriminator's mean probability that real images (x) and generated images "
    "(G(z)) are real. Early on D(x) → 1 and D(G(z)) → 0: D wins easily. Both near 0.5: D can "
    "no longer tell them apart (good if the samples look right). D(G(z)) stuck near 0 with G loss "
    "climbing: G gets no useful gradient. Healthy losses but samples that all look alike: "
    "mode collapse."
)
_SYSTEM = (
    "GPU name, utilisation, memory, temperature and power of the training device; "
    "on a CPU run, CPU load, RAM, this process's memory and torch threads. Polled once a second."
)


def panels(config: TrainConfig) -> list[tuple[str, str]]:
    """How to read each panel, with this run's settings."""
    conditional = config.conditional
    bars = (
        f"Bars (--conditional): per digit, the share of digits asked for as it that are drawn as it "
        f"(full height = all; red: under {ACCURATE_SHARE:.0%}); 'as asked' is their mean. "
        if conditional
        else f"Bars: the share drawn of each class 0-9 (red: under {COVERED_SHARE:.0%}, not covered; "
        "even bars at half height = balanced). "
    )
    rows = (
        "a row per digit 0-9 (its label on the left; two or more digits share a line when the panel is "
        "short), each column the same noise drawn as every digit. "
        if conditional
        else ""
    )
    return [
        ("Status line", _STATUS),
        ("Losses", _LOSSES),
        ("D(x), D(G(z))", _VERDICTS),
        ("System", _SYSTEM),
        (
            "Quality",
            f"every ~{config.eval_every:g} s of training (e: now) a small classifier judges "
            f"{config.eval_samples} generated digits. {bars}classes: covered out of 10 "
            f"(under {MIN_CLASSES} = mode collapse). conf: mean classifier confidence (low = the "
            "digits look like no digit). score: exp(E[KL(p(y|x) || p(y))]), 1 (one class or unsure) to 10. "
            "FD: Frechet distance to real digits in the classifier's features, lower is better; 'real' is "
            "what real digits score against each other, the best reachable. KL: of the histogram to "
            "uniform (0 = balanced).",
        ),
        (
            "Samples",
            "the generator's digits for a fixed batch of noise, so you watch the same digits evolve"
            f"{': ' + rows if rows else '. '}Redrawn about once a second and on pause; as many as fit "
            "(half size when the panel is small). "
            "Every refresh is kept (older ones thinned out): ←/→ scrub through them, g saves them as a GIF. "
            "i adds a row of digits along a straight line between two fixed latent points: smooth morphing "
            "means G learned a continuous space; sudden jumps or repeats hint at collapse.",
        ),
        (
            "Events",
            "checkpoints you asked for (c), final ones and best.pt (with their path), architecture "
            "switches, warnings and errors. The routine ones (--checkpoint-every, "
            f"{config.checkpoint_every} here) show on the status line only.",
        ),
    ]


class HelpScreen(ModalScreen[None]):
    AUTO_FOCUS = "#help-body"  # so up/down/page keys scroll it
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help"),
    ]

    def __init__(
        self, keys: list[tuple[str, str]], panels: list[tuple[str, str]], title: str = "tui-gan help"
    ) -> None:
        super().__init__()
        self.keys = keys
        self.panels = panels
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = self.title_text
            body.border_subtitle = "↑/↓ scroll · escape closes"
            yield Static(self._table("Keys", self.keys), id="help-keys")
            yield Static(self._table("Panels", self.panels), id="help-panels")

    @staticmethod
    def _table(title: str, rows: list[tuple[str, str]]) -> Table:
        # A grid gives wrapped descriptions a hanging indent, readable at 80 columns.
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1)
        table.title = title
        table.title_style = "bold underline"
        table.title_justify = "left"
        for key, text in rows:
            table.add_row(key, text)
        return table
