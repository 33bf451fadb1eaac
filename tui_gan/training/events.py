"""What the engine reports. Plain Python/numpy values only: events cross threads, and the UI
must never touch a tensor."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import PurePath

import numpy as np


@dataclass(frozen=True)
class StepPoint:
    """One training step's numbers: the one definition of a step's record. The engine's history
    rows and its per-step stats tensor, metrics.csv's columns and the wire format all follow
    STEP_FIELDS (see row / from_row)."""

    step: int
    epoch: int
    d_loss: float
    g_loss: float
    d_real: float  # mean D(x): probability D gives real images
    d_fake: float  # mean D(G(z)) in the D step

    def row(self) -> tuple:
        return _row(self)  # astuple deep-copies field by field: ~10x slower, paid every step

    @classmethod
    def from_row(cls, row: Iterable[float]) -> StepPoint:
        """From STEP_FIELDS values (floats from a tensor or a CSV; a downsampled step is an average)."""
        step, epoch, *values = row
        return cls(int(round(step)), int(epoch), *map(float, values))


STEP_FIELDS = tuple(f.name for f in fields(StepPoint))
_row = operator.attrgetter(*STEP_FIELDS)
# What gan_step measures, in the order of the tensor it returns (it builds that tensor by these names).
STEP_VALUES = STEP_FIELDS[2:]


@dataclass(frozen=True)
class Event:
    """The architecture an event is about comes first; the events with many fields take the
    rest by keyword."""

    arch: str


@dataclass(frozen=True, kw_only=True)
class Started(Event):
    """Sent once the data is loaded and again whenever the architecture changes."""

    dataset: str
    device: str
    run_dir: str | None
    steps_per_epoch: int
    epochs: int
    step: int
    epoch: int
    params_g: int
    params_d: int
    note: str = ""  # e.g. "only the test split was found: training on it"
    torch_threads: int | None = None  # intra-op threads where the engine runs (maybe another process)
    pid: int | None = None  # the engine's process: the system panel counts its memory
    device_pci_bus_id: str | None = None  # a CUDA device as NVML names it, so the panel probes that one
    device_uuid: str | None = None
    devices: tuple = ()  # a multi-GPU run: every rank's GPU as (PCI bus id, UUID), for the system panel
    loss: str = "bce"  # the recipe's loss: the loss panel speaks its terms
    recipe: str = ""  # how this architecture trains, in a few words (the event log says it)
    built: str = ""  # the architecture knobs it was built with ("width ×2, silu"), "" for the family's


@dataclass(frozen=True, kw_only=True)
class Stats(Event):
    """Every loss point since the previous Stats (none is dropped), plus the current rates."""

    points: tuple[StepPoint, ...]
    step: int
    epoch: int
    epoch_progress: float  # 0..1 through the current epoch
    images_per_s: float
    elapsed_s: float  # training time of this architecture, pauses excluded
    rank_images_per_s: tuple[float, ...] = ()  # with several processes (torchrun): each rank's img/s


@dataclass(frozen=True, kw_only=True)
class Samples(Event):
    """The generator's output on the fixed noise, as uint8 greys (0 black .. 255 white), and on
    evenly spaced points of a straight line between two fixed latents (the interpolation row).
    A conditional generator's grid holds per_class digits of each class, in class order."""

    step: int
    images: np.ndarray = field(repr=False)  # (n, 28, 28) uint8
    interpolation: np.ndarray | None = field(default=None, repr=False)  # (k, 28, 28) uint8
    ema: bool = False  # from the generator's moving average (--ema), not G itself
    per_class: int = 0  # conditional: images are class-major, this many of digit 0, then of 1, ...
    interp_class: int = -1  # conditional: the class the interpolation row draws
    stage: str = ""  # a growing architecture's stage ("14x14 fade-in α 0.42"), else ""


@dataclass(frozen=True, kw_only=True)
class Quality(Event):
    """A quality evaluation of the generator (see tui_gan.quality): `report` is a QualityReport
    of plain values; `real_floor` is the Frechet distance real digits get against each other."""

    step: int
    epoch: int
    report: object  # tui_gan.quality.QualityReport (kept untyped: events import no torch code)
    real_floor: float
    classifier_accuracy: float
    seconds: float  # what the evaluation cost


@dataclass(frozen=True)
class StateChanged(Event):
    state: str  # a RunState value (training/runstate.py): "running", "paused", "finished", ...
    step: int = 0


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    step: int
    # Written by the --checkpoint-every cadence: the status line shows it, the event log does not
    # (asked-for, final and best.pt ones are what a person did or should know).
    routine: bool = False
    train_time: float = 0.0  # the architecture's training seconds then: the status line's "4m ago"

    @property
    def best(self) -> bool:
        """best.pt: the lowest Frechet distance so far, not where the run goes on from."""
        return PurePath(self.path).stem == "best"


@dataclass(frozen=True)
class ArchSwitched(Event):
    previous: str
    step: int  # where the new architecture continues from


@dataclass(frozen=True)
class Notice(Event):
    """Something worth a line in the event log: level is "info", "warning" or "error"."""

    message: str
    level: str = "info"
    topic: str = ""  # "quality": about the quality classifier (ready, off, failed), for its panel;
    # "collapse": a mode-collapse warning (notify.py rings the terminal for it)


@dataclass(frozen=True)
class Failed(Event):
    """The engine hit a problem it cannot train through (non-finite loss, exception)."""

    message: str
    traceback_path: str | None = None


@dataclass(frozen=True)
class Finished(Event):
    """The engine thread is done: `reason` is "completed", "max_steps", "stopped" or "error"."""

    reason: str
    step: int
    run_dir: str | None = None
