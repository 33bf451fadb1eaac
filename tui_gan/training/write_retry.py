"""A run file that cannot be written (a full disk, a quota, a read-only or failing mount) never
costs the training: the run pauses, says in a line which file and why, and writes it again, by
itself with a growing wait (a headless job has nobody to press a key) or at once on resume.
What waits to be written (metrics and quality rows, a checkpoint) is kept until it is; the files
already on disk are never touched by the failed write (appends land whole, the rest is atomic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui_gan.errors import WriteFailed
from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState

if TYPE_CHECKING:
    from tui_gan.training.engine import Engine

FIRST_WAIT_S = 5.0
LONGEST_WAIT_S = 300.0


class WriteRetry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.problem: WriteFailed | None = None
        self.again: list[Callable[[], object]] = []  # writes to redo, oldest first
        self.wait = FIRST_WAIT_S
        self.due = 0.0

    def failed(self, exc: WriteFailed, again: Callable[[], object] | None = None) -> None:
        """Pause (unless stopping: the final checkpoint waits for space) and say so."""
        e = self.engine
        first = self.problem is None
        self.problem = exc
        if again is not None:
            self.again.append(again)
        self.due = time.monotonic() + self.wait
        if e.state is RunState.RUNNING:
            e.enter(RunState.PAUSED)
        if first:
            e.emit(
                ev.Notice(
                    e.current.name,
                    f"{exc}: training paused, nothing lost; retrying in {self.wait:.0f} s "
                    "(resume retries now)",
                    "error",
                )
            )

    def hurry(self) -> None:
        """The next retry at once (a stop: its final checkpoint should not wait out the backoff)."""
        self.due = time.monotonic()

    def due_now(self) -> bool:
        return self.problem is not None and time.monotonic() >= self.due

    def retry(self) -> bool:
        """Write what waits. True once all of it is written (and the run may go on)."""
        e = self.engine
        try:
            e.outputs.retry()
            while self.again:
                self.again[0]()
                self.again.pop(0)
        except WriteFailed as exc:
            self.problem = exc
            self.wait = min(self.wait * 2, LONGEST_WAIT_S)
            self.due = time.monotonic() + self.wait
            e.emit(ev.Notice(e.current.name, f"still {exc}; retrying in {self.wait:.0f} s", "warning"))
            return False
        if self.problem is not None:
            e.emit(ev.Notice(e.current.name, f"written again after: {self.problem}", "info"))
        self.problem, self.wait = None, FIRST_WAIT_S
        return True
