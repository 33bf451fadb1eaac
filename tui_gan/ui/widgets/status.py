"""The status line: what trains where, how far along, how fast, and in what state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_gan.training.runstate import RunState
from tui_gan.ui.widgets.formatting import format_duration, progress_bar

# The run's states (training/runstate.py), and the dashboard's own words before the engine
# reports one (loading data, no data) or after q (stopping...).
STATE_STYLES = {
    RunState.STARTING.value: "$text-muted",
    "loading data": "$text-muted",
    "no data": "$warning bold",
    RunState.RUNNING.value: "$success bold",
    RunState.PAUSED.value: "$warning bold",
    RunState.FINISHED.value: "$accent bold",
    "stopping...": "$warning bold",
    RunState.STOPPING.value: "$warning bold",
    RunState.STOPPED.value: "$text-muted bold",
    RunState.FAILED.value: "$error bold",
}


@dataclass(frozen=True)
class StatusInfo:
    arch: str = "-"
    dataset: str = "-"
    device: str = "-"
    state: str = RunState.STARTING.value
    step: int = 0
    epoch: int = 0  # completed epochs
    epochs: int = 0
    epoch_progress: float = 0.0
    images_per_s: float = 0.0
    elapsed_s: float = 0.0  # from the engine's Stats: no wall clock in the UI
    run_dir: str | None = None
    rank_rates: tuple[float, ...] = ()  # img/s of each process of a multi-process (torchrun) run


class StatusBar(Widget):
    """Two lines, laid out for the width it has when painted (never wraps to a third)."""

    DEFAULT_CSS = """
    StatusBar { height: 2; padding: 0 1; }
    """

    info: reactive[StatusInfo] = reactive(
        StatusInfo
    )  # repaints when a field changes (a paused engine changes nothing)

    def set_info(self, **changes) -> None:
        self.info = dataclasses.replace(self.info, **changes)

    def render(self) -> Content:
        return self.render_info(self.size.width)

    def render_info(self, width: int) -> Content:
        """Two lines; on narrow terminals dataset and device move down to the run folder's line."""
        i = self.info
        epoch_now = min(i.epoch + 1, i.epochs) if i.epochs else i.epoch + 1
        progress = 1.0 if i.epochs and i.epoch >= i.epochs else i.epoch_progress
        state = (f" {i.state} ", STATE_STYLES.get(i.state, "bold") + " reverse")
        where = Content.assemble(i.dataset, " · ", i.device)
        run = Content.assemble(("run ", "$text-muted"), (i.run_dir or "-", "$text-muted"))
        if i.rank_rates:
            run = Content.assemble(
                run,
                (
                    f"  ·  {len(i.rank_rates)} ranks: "
                    + ", ".join(f"{r:,.0f}" for r in i.rank_rates)
                    + " img/s",
                    "$text-muted",
                ),
            )

        def line(bar: int, epoch_word: str, with_where: bool) -> Content:
            return Content.assemble(
                state,
                "  ",
                (i.arch, "bold"),
                *((" · ", where) if with_where else ()),
                "  ",
                epoch_word,
                (f"{epoch_now}/{i.epochs or '?'}", "bold"),
                " ",
                (progress_bar(progress, bar), "$primary on $boost"),
                f" {progress * 100:3.0f}%",
                "  step ",
                (f"{i.step:,}", "bold"),
                "  ",
                (f"{i.images_per_s:,.0f}", "bold"),
                " img/s",
                "  ",
                (format_duration(i.elapsed_s), "bold"),
            )

        first = line(10, "epoch ", True)
        if first.cell_length <= width or width <= 0:
            return Content("\n").join([first, run])
        first = line(10, "epoch ", False)
        if first.cell_length > width:
            first = line(5, "ep ", False)
        return Content("\n").join([first, Content.assemble(where, ("  ·  ", "$text-muted"), run)])
