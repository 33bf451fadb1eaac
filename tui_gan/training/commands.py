"""What the UI (or any driver) asks of the engine. Put on Engine.commands; drained between steps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """Base of every command."""


@dataclass(frozen=True)
class Pause(Command):
    """Stop stepping; samples refresh so the paused state shows."""


@dataclass(frozen=True)
class Resume(Command):
    """Step again."""


@dataclass(frozen=True)
class TogglePause(Command):
    """Pause if running, resume if paused (the space key)."""


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    """Write checkpoints/<arch>/step_N.pt of the architecture training now."""


@dataclass(frozen=True)
class SwitchArch(Command):
    """Train another architecture; each keeps its own weights, step and history."""

    name: str


@dataclass(frozen=True)
class RollbackToBest(Command):
    """Continue the current architecture from its best.pt (the lowest Frechet distance so far)."""


@dataclass(frozen=True)
class ToggleRawSamples(Command):
    """Samples from the raw G instead of its EMA, or back."""


@dataclass(frozen=True)
class EvaluateNow(Command):
    """Run a quality evaluation at the next step boundary (when the classifier is ready)."""


@dataclass(frozen=True)
class Stop(Command):
    """Stop at the next step boundary; `checkpoint` writes a final checkpoint first."""

    checkpoint: bool = True
