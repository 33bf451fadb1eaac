"""Messages that cross from worker threads into a screen's message loop.

Workers only ever call `post_message` with one of these (thread safe, non-blocking); every
widget update then happens on the UI thread. Each engine message carries the generation of the
engine that sent it, so events from an engine the screen has replaced are dropped. (Textual's
Message initialises itself in __post_init__, so messages are plain dataclasses.)"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui_gan.training import events as ev


@dataclass
class EngineEvent(Message):
    """One engine event, in order. Never replaced: Stats carry loss points that must all arrive."""

    event: ev.Event
    generation: int


@dataclass
class SamplesReady(EngineEvent):
    """A new sample grid: only the newest one is worth drawing."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SamplesReady) and message.generation == self.generation


@dataclass
class EngineSetupFailed(Message):
    """`Engine.setup()` raised (bad config, missing data, unwritable folder...)."""

    error: BaseException
    generation: int


@dataclass
class EngineStopped(Message):
    """The engine thread has returned (after Finished, or after a setup failure)."""

    generation: int
    reason: str


@dataclass
class SystemPolled(Message):
    """A fresh GPU/CPU reading: only the newest matters."""

    status: object
    note: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SystemPolled)


@dataclass
class FileSaved(Message):
    """A file the user asked for (`s` PNG, `g` GIF) was written (path) or could not be (error)."""

    what: str
    path: str | None
    error: str | None = None
