"""What the UI (or any driver) asks of the engine. Put on Engine.commands; drained between steps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    pass


@dataclass(frozen=True)
class Pause(Command):
    pass


@dataclass(frozen=True)
class Resume(Command):
    pass


@dataclass(frozen=True)
class TogglePause(Command):
    pass


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    pass


@dataclass(frozen=True)
class SwitchArch(Command):
    name: str


@dataclass(frozen=True)
class EvaluateNow(Command):
    """Run a quality evaluation at the next step boundary (when the classifier is ready)."""


@dataclass(frozen=True)
class Stop(Command):
    """Stop at the next step boundary; `checkpoint` writes a final checkpoint first."""

    checkpoint: bool = True
