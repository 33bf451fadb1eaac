"""Every process the benchmark started, jobs included, found and killed on the way out: one left
behind would take cores from the next run."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dashboard_bench.common import BenchError

T = TypeVar("T")


def become_subreaper() -> None:
    """Orphans below us (a job whose dashboard died) become our children, so the cleanup finds
    and kills them: jobs run in sessions of their own, out of reach of a process-group kill."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass  # not Linux: the pids we were told are killed one by one


def descendants() -> list[int]:
    """Every live process below this one (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = [], [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        out += children
        frontier += children
    return out


def gone(pid: int) -> bool:
    """Whether `pid` has exited (reaping it when it is our child, adopted or not)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
    except ChildProcessError:
        pass  # not ours, or reaped already (subprocess reaps the Popen objects it dropped)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def kill(pid: int | None) -> None:
    if pid is None or gone(pid):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_gone(pid, 5.0)


def kill_descendants() -> None:
    """Whatever is left below us (a job that outlived its run, a stuck child), SIGKILLed and reaped."""
    for _ in range(3):  # a child's own children may be adopted by us as it dies
        pids = descendants()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            wait_gone(pid, 5.0)


def run_isolated(prefix: str, body: Callable[[Path], T]) -> tuple[int | None, T | None]:
    """body(tmp) with the jobs it starts registered in a private runtime folder under a temp
    folder (none of the user's), every process it started killed after. A BenchError or ctrl+c
    becomes a line on stderr and the exit code to return (1, 130); else (None, body's result)."""
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            runtime = Path(tmp) / "runtime"
            runtime.mkdir(mode=0o700)
            os.environ["TUI_GAN_RUNTIME_DIR"] = str(runtime)
            try:
                return None, body(Path(tmp))
            finally:
                kill_descendants()
    except BenchError as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return 1, None
    except KeyboardInterrupt:
        kill_descendants()
        print("error: interrupted", file=sys.stderr)
        return 130, None
