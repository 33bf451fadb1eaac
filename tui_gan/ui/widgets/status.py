"""The status line: what trains where, how far along, how fast, and in what state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

STATE_STYLES = {
    "starting": "$text-muted",
    "loading data": "$text-muted",
    "running": "$success bold",
    "paused": "$warning bold",
    "finished": "$accent bold",
    "stopping...": "$warning bold",
    "stopped": "$text-muted bold",
    "error": "$error bold",
}


@dataclass(frozen=True)
class StatusInfo:
    arch: str = "-"
    dataset: str = "-"
    device: str = "-"
    state: str = "starting"
    step: int = 0
    epoch: int = 0  # completed epochs
    epochs: int = 0
    epoch_progress: float = 0.0
    images_per_s: float = 0.0
    elapsed_s: float = 0.0  # from the engine's Stats: no wall clock in the UI
    run_dir: str | None = None


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def progress_bar(fraction: float, width: int) -> str:
    """A bar in eighth blocks: finer than the cell grid, plain characters for any terminal."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return bar.ljust(width)


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.info = StatusInfo()

    def set_info(self, **changes) -> None:
        info = dataclasses.replace(self.info, **changes)
        if info != self.info:  # most Stats change something, but a paused engine changes nothing
            self.info = info
            self.update(self.render_info())

    def on_mount(self) -> None:
        self.update(self.render_info())

    def render_info(self) -> Content:
        i = self.info
        epoch_now = min(i.epoch + 1, i.epochs) if i.epochs else i.epoch + 1
        progress = 1.0 if i.epochs and i.epoch >= i.epochs else i.epoch_progress
        sep = ("  ", "")
        line1 = Content.assemble(
            (f" {i.state} ", STATE_STYLES.get(i.state, "bold") + " reverse"),
            "  ",
            (i.arch, "bold"), " · ", i.dataset, " · ", i.device,
            sep,
            "epoch ", (f"{epoch_now}/{i.epochs or '?'}", "bold"), " ",
            (progress_bar(progress, 10), "$primary"), f" {progress * 100:3.0f}%",
            sep,
            "step ", (f"{i.step:,}", "bold"),
            sep,
            (f"{i.images_per_s:,.0f}", "bold"), " img/s",
            sep,
            (format_duration(i.elapsed_s), "bold"),
        )
        line2 = Content.assemble(("run ", "$text-muted"), (i.run_dir or "-", "$text-muted"))
        return Content("\n").join([line1, line2])
