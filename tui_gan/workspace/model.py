"""What the workspace knows of a run: a row of the runs list (RunRow) and the series its
compare charts draw (RunSeries). Torch-free: built from run folders and live jobs' status."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A run's colour, the same in the list, the charts and the sample grids: picked by its folder.
PALETTE = (
    "#4e9af1",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def run_colour(run_dir: Path) -> str:
    """The colour a run gets on its own: by its folder, the same in every process."""
    digest = hashlib.blake2s(str(run_dir).encode(), digest_size=2).digest()
    return PALETTE[int.from_bytes(digest, "big") % len(PALETTE)]


class ColourBook:
    """Colours for the runs one screen shows: each run keeps the colour it got first, and a new
    run takes the least used one in PALETTE's order (the most distinct first), so runs compared
    side by side do not share a colour while there are colours left."""

    def __init__(self) -> None:
        self.colours: dict[Path, str] = {}

    def of(self, run_dir: Path) -> str:
        if run_dir not in self.colours:
            used = {c: 0 for c in PALETTE}
            for colour in self.colours.values():
                used[colour] += 1
            self.colours[run_dir] = min(PALETTE, key=lambda c: used[c])
        return self.colours[run_dir]


@dataclass(frozen=True)
class RunRow:
    """One run as the runs list shows it. Figures a run does not have yet are None."""

    run_dir: Path
    name: str  # --name given at start, else the folder's name
    arch: str
    recipe: str  # in short: "hinge 2e-4 EMA cond"
    state: str  # running, paused, starting, finished/completed/stopped/..., died, damaged
    live: bool  # a job answers on its socket: it can be acted on
    step: int = 0
    epoch: int = 0  # the epoch its last step is in, from 1 ("epoch 3/100"); 0 before the first step
    epochs: int = 0
    images_per_s: float | None = None
    d_loss: float | None = None
    g_loss: float | None = None
    fd: float | None = None  # the latest Frechet distance
    fd_history: tuple[float, ...] = ()  # every evaluation's, oldest first (the list's sparkline)
    best_fd: float | None = None
    classes: int | None = None  # classes covered at the latest evaluation
    eta_s: float | None = None  # seconds left at the current rate (live runs)
    host: str = ""
    device: str = ""  # "cpu", or "cuda:0 45% 3.1G" (utilisation and memory)
    viewers: int | None = None
    sweep: str | None = None  # the sweep folder it belongs to, if any
    problem: str | None = None  # why it shows as damaged, or how a died job resumes
    pid: int | None = None  # the job's process (a live or died job's)
    when: float = 0.0  # when it ended (a died job: its last checkpoint), else when it started
    config: dict[str, Any] = field(default_factory=dict, compare=False)  # config.json
    colour: str = ""  # "": run_colour(run_dir); a screen gives each run its own (ColourBook)

    def __post_init__(self) -> None:
        if not self.colour:
            object.__setattr__(self, "colour", run_colour(self.run_dir))


@dataclass(frozen=True)
class RunSeries:
    """What the compare charts draw for one run, each series oldest first. Losses are the run's
    bounded digest (a few thousand points at most), not every step."""

    run_dir: Path
    name: str
    fd_time: tuple[float, ...] = ()  # training seconds at each evaluation
    fd_step: tuple[int, ...] = ()
    fd: tuple[float, ...] = ()
    loss_step: tuple[float, ...] = ()
    d_loss: tuple[float, ...] = ()
    g_loss: tuple[float, ...] = ()
    rate_step: tuple[float, ...] = ()
    images_per_s: tuple[float, ...] = ()
    colour: str = ""  # as RunRow.colour

    def __post_init__(self) -> None:
        if not self.colour:
            object.__setattr__(self, "colour", run_colour(self.run_dir))
