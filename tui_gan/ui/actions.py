"""Every key of the dashboard, once: the bindings, the help screen's rows and the command
palette's entries are all made from ACTIONS."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding

from tui_gan.config import TrainConfig
from tui_gan.models import ARCH_NAMES, ARCHS

ARCH_KEYS = [str(i + 1) for i in range(min(len(ARCH_NAMES), 9))]


@dataclass(frozen=True)
class Action:
    keys: str  # Textual key names, comma separated
    action: str  # Textual action string
    label: str  # footer
    tooltip: str  # footer tooltip, and the palette's help after the key
    title: str | None  # palette entry (None: not in the palette)
    help: str | None = None  # help screen row; None when the row before covers this key too
    help_keys: str | None = None  # how that row names the keys (default: key_display)
    key_display: str | None = None
    key_name: str | None = None  # how the palette names the key (default: key_display)
    # "engine": usable while training runs (and it changes the run: never in a --read-only viewer);
    # "run folder": once there is one; "control" (the workspace's): changes runs
    needs: str | None = None
    show: bool = False  # in the footer: the keys a person needs most (the rest: help and palette)
    id: str | None = None
    priority: bool = False
    textual_binds: bool = False  # a key Textual binds itself: listed in the help, not bound again

    @property
    def display(self) -> str:
        return self.key_display or self.keys.split(",")[0]

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.label,
            show=self.show,
            key_display=self.key_display,
            priority=self.priority,
            tooltip=self.tooltip,
            id=self.id,
        )


def _arch_actions() -> list[Action]:
    # The help has one row for all of them, the palette one each.
    archs = ", ".join(f"{k} {n}" for k, n in zip(ARCH_KEYS, ARCH_NAMES))
    return [
        Action(
            key,
            f"arch({i})",
            f"Train {ARCH_NAMES[i]}",
            f"train {ARCH_NAMES[i]}",
            f"Switch to {ARCH_NAMES[i]} - {ARCHS[ARCH_NAMES[i]].description}",
            help=f"train a given architecture: {archs}" if i == 0 else None,
            help_keys=f"1-{len(ARCH_KEYS)}",
            key_name=key,
            needs="engine",
            id=f"arch_{i + 1}",
        )
        for i, key in enumerate(ARCH_KEYS)
    ]


# Footer order, and in the footer (show=True) only what fits 80 columns: pause, checkpoint,
# switch, evaluate, help, detach, quit. Help and the palette list every key.
ACTIONS: list[Action] = [
    Action(
        "space",
        "toggle_pause",
        "Pause",
        "pause or resume the training loop",
        "Pause / resume training",
        "pause / resume training (stops within a step; samples refresh on pause)",
        show=True,
        needs="engine",
        id="pause",
    ),
    Action(
        "c",
        "checkpoint",
        "Checkpoint",
        "checkpoint the current architecture now",
        "Write checkpoint",
        "write a checkpoint of the current architecture now",
        show=True,
        needs="engine",
        id="checkpoint",
    ),
    Action(
        "a",
        "next_arch",
        "Arch",
        "switch to the next architecture",
        "Next architecture",
        "next / previous architecture (each keeps its own weights, step and losses)",
        help_keys="a / A",
        show=True,
        needs="engine",
        id="next_arch",
    ),
    Action(
        "e",
        "evaluate",
        "Evaluate",
        "classifier histogram, confidence, Frechet distance now",
        "Evaluate sample quality",
        "measure sample quality now (the quality panel; otherwise every ~{eval_every:g} s of training)",
        show=True,
        needs="engine",
        id="evaluate",
    ),
    Action(
        "question_mark",
        "help",
        "Help",
        "keys and what the panels mean",
        "Help",
        "this help",
        key_display="?",
        show=True,
        id="help",
    ),
    Action(
        "d",
        "detach",
        "Detach",
        "close the dashboard, keep training (tui-gan attach)",
        "Detach",
        "detach: close the dashboard, training goes on (tui-gan attach comes back; so does a closed "
        "terminal or a dropped SSH link)",
        show=True,
        id="detach",
    ),
    Action(
        "q",
        "quit",
        "Quit",
        "stop at the next step, write final checkpoints, exit",
        None,
        "quit: stop training, write final checkpoints, exit (press again to leave at once)",
        help_keys="q, ctrl+c",
        show=True,
        id="quit",
    ),
    Action(
        "ctrl+p",
        "command_palette",
        "palette",
        "every action, every architecture, themes",
        None,
        "command palette: every action, every architecture, themes",
        textual_binds=True,
    ),
    Action(
        "A,shift+a",
        "prev_arch",
        "Previous arch",
        "switch to the previous architecture",
        "Previous architecture",
        key_display="A",
        needs="engine",
        id="prev_arch",
    ),
    *_arch_actions(),
    Action(
        "s",
        "save_grid",
        "PNG",
        "save the digits as PNG in the run folder",
        "Save sample grid",
        "save the sample grid shown as PNG in the run folder (samples/<arch>/step_N.png)",
        needs="run folder",
        id="save_grid",
    ),
    Action(
        "g",
        "export_gif",
        "GIF",
        "every kept grid as an animated GIF",
        "Export sample history GIF",
        "export this architecture's sample history as an animated GIF in the run folder",
        needs="run folder",
        id="export_gif",
    ),
    Action(
        "left",
        "scrub(-1)",
        "Earlier samples",
        "step back through the sample history",
        "Earlier samples",
        "scrub back / forward through the sample history (the title shows the step); → past the newest "
        "returns to live",
        help_keys="← / →",
        key_display="←",
        id="scrub_back",
    ),
    Action(
        "right",
        "scrub(1)",
        "Later samples",
        "step forward; past the newest is live",
        "Later samples",
        key_display="→",
        id="scrub_forward",
    ),
    Action(
        "i",
        "toggle_interpolation",
        "Interp",
        "digits along a line between two latents",
        "Toggle interpolation row",
        "show / hide the interpolation row: digits along a straight line between two fixed latents",
        id="interpolation",
    ),
    Action(
        "b",
        "rollback",
        "Best",
        "continue from best.pt, the lowest Frechet distance so far",
        "Roll back to the best checkpoint",
        "roll back: continue from best.pt, the lowest Frechet distance so far (after a mode collapse, say)",
        needs="engine",
        id="rollback",
    ),
    Action(
        "r",
        "toggle_raw",
        "Raw/EMA",
        "samples from the raw generator or its moving average",
        "Toggle raw / EMA samples",
        "samples from the raw generator or its moving average (--ema; evaluations always use the EMA)",
        needs="engine",
        id="raw_samples",
    ),
    Action(
        "w",
        "workspace",
        "Runs",
        "every run in one screen: compare and control them (tui-gan runs)",
        "Open the workspace",
        "the workspace: every run in one screen, compared and controlled (tui-gan runs); q there comes back",
        id="workspace",
    ),
    Action(
        "ctrl+c",
        "quit",
        "Quit",
        "stop at the next step, write final checkpoints, exit",
        None,
        priority=True,
    ),
]

# Textual action name (before any parameters) -> what it needs: check_action dims the key.
NEEDS = {a.action.split("(")[0]: a.needs for a in ACTIONS if a.needs}


def bindings(table: list[Action] = ACTIONS) -> list[Binding]:
    return [a.binding() for a in table if not a.textual_binds]


def help_rows(config: TrainConfig | None = None, table: list[Action] = ACTIONS) -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen, in the footer's order, with this run's settings."""
    eval_every = config.eval_every if config else TrainConfig.eval_every
    return [(a.help_keys or a.display, a.help.format(eval_every=eval_every)) for a in table if a.help]


def palette_commands(
    app: App, textual_commands: Iterable[SystemCommand], table: list[Action] = ACTIONS
) -> Iterable[SystemCommand]:
    """Textual's own entries, then one for each of `table` that runs the same action its key does."""
    quit_help = next((a.tooltip for a in table if a.action == "quit"), None)
    for command in textual_commands:
        if command.title == "Quit" and quit_help:  # Textual's says "as soon as possible"
            command = command._replace(help=f"q: {quit_help}")
        yield command
    for a in table:
        if a.title:
            yield SystemCommand(
                a.title, f"{a.key_name or a.display}: {a.tooltip}", partial(app.run_action, a.action)
            )
