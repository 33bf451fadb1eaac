"""The status line: what trains where, how far along, how fast, and in what state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_gan.training.runstate import RunState
from tui_gan.ui.widgets.formatting import format_age, format_duration, progress_bar

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
    # The last checkpoint's step and the training seconds then: its age is training time, the
    # clock --checkpoint-every counts (what a crash would cost; a pause does not age it).
    checkpoint: tuple[int, float] | None = None


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

    @staticmethod
    def _run_line(i: StatusInfo) -> Content:
        """The last checkpoint, the run folder and each rank's img/s: what is cut when too long
        comes last."""
        run = Content.assemble(("run ", "$text-muted"), (i.run_dir or "-", "$text-muted"))
        if i.checkpoint is not None:
            step, at = i.checkpoint
            age = format_age(i.elapsed_s - at)
            run = Content.assemble("ckpt ", (f"{step:,}", "bold"), f" · {age}", ("  ·  ", "$text-muted"), run)
        if i.rank_rates:
            rates = ", ".join(f"{r:,.0f}" for r in i.rank_rates)
            run = Content.assemble(run, (f"  ·  {len(i.rank_rates)} ranks: {rates} img/s", "$text-muted"))
        return run

    def render_info(self, width: int) -> Content:
        """Two lines; on narrow terminals dataset and device move down to the run folder's line."""
        i = self.info
        epoch_now = min(i.epoch + 1, i.epochs) if i.epochs else i.epoch + 1
        progress = 1.0 if i.epochs and i.epoch >= i.epochs else i.epoch_progress
        state = (f" {i.state} ", STATE_STYLES.get(i.state, "bold") + " reverse")
        where = Content.assemble(i.dataset, " · ", i.device)
        run = self._run_line(i)

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
        if width <= 0:
            return Content("\n").join([first, run])
        if first.cell_length <= width:
            second = run
        else:
            first = line(10, "epoch ", False)
            if first.cell_length > width:
                first = line(5, "ep ", False)
            second = Content.assemble(where, ("  ·  ", "$text-muted"), run)
        return Content("\n").join([first, second.truncate(width, ellipsis=True)])  # a long run folder
