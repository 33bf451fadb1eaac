"""The tests' one way to wait: poll a condition until it holds, or fail after a timeout.

`wait_for` is for Pilot tests (the app handles its messages between polls), `wait_until` for
tests without a running app (threads, processes, files). Both fail with "timed out waiting for
<what>"; `what` may be a callable for a message built at the time of failure. This module imports
nothing heavy: a child process started by a test may use it too."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
Message = str | Callable[[], str]


def _timed_out(what: Message) -> AssertionError:
    return AssertionError(f"timed out waiting for {what() if callable(what) else what}")


async def wait_for(
    pilot, predicate: Callable[[], T], what: Message, timeout: float = 30.0, interval: float = 0.05
) -> T:
    """Polls `predicate` between `pilot.pause(interval)`s; returns its first truthy value."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(what)
        await pilot.pause(interval)
    return result


def wait_until(predicate: Callable[[], T], what: Message, timeout: float = 30.0, interval: float = 0.05) -> T:
    """Polls `predicate`, sleeping `interval` between polls; returns its first truthy value."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(what)
        time.sleep(interval)
    return result


def wait_gone(pid: int, timeout: float = 60.0) -> None:
    wait_until(lambda: not process_alive(pid), f"process {pid} to end", timeout)


def process_alive(pid: int) -> bool:
    """True while `pid` runs. Our own child is reaped here (a zombie shows "Z" a moment before
    it can be reaped); someone else's zombie counts as gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
