"""Messages that cross from worker threads into the App's message loop.

Workers only ever call `App.post_message` with one of these (thread safe, non-blocking); every
widget update then happens on the UI thread. Each engine message carries the generation of the
engine that sent it, so events from an engine the App has replaced are dropped."""

from __future__ import annotations

from textual.message import Message

from tui_gan.training import events as ev


class EngineEvent(Message):
    """One engine event, in order. Never replaced: Stats carry loss points that must all arrive."""

    def __init__(self, event: ev.Event, generation: int) -> None:
        super().__init__()
        self.event = event
        self.generation = generation


class SamplesReady(EngineEvent):
    """A new sample grid: only the newest one is worth drawing."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SamplesReady) and message.generation == self.generation


class EngineSetupFailed(Message):
    """`Engine.setup()` raised (bad config, missing data, unwritable folder...)."""

    def __init__(self, error: BaseException, generation: int) -> None:
        super().__init__()
        self.error = error
        self.generation = generation


class EngineStopped(Message):
    """The engine thread has returned (after Finished, or after a setup failure)."""

    def __init__(self, generation: int, reason: str) -> None:
        super().__init__()
        self.generation = generation
        self.reason = reason


class SystemPolled(Message):
    """A fresh GPU/CPU reading: only the newest matters."""

    def __init__(self, status: object, note: str = "") -> None:
        super().__init__()
        self.status = status
        self.note = note

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SystemPolled)


class FileSaved(Message):
    """A file the user asked for (`s` PNG, `g` GIF) was written (path) or could not be (error)."""

    def __init__(self, what: str, path: str | None, error: str | None = None) -> None:
        super().__init__()
        self.what = what
        self.path = path
        self.error = error
