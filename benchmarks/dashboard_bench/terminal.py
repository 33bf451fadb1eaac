"""A child process on a real pseudo-terminal (120x40, as the dashboard and `tui-gan attach` see
a user's), its output read as fast as it comes and every byte counted."""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path

from .common import COLUMNS, LINES

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def terminal_env(args: argparse.Namespace) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLUMNS", "LINES", "COLORTERM", "NO_COLOR", "FORCE_COLOR")
        and not k.startswith("TEXTUAL")
    }
    env["TERM"] = "xterm-256color"
    if args.truecolor:
        env["COLORTERM"] = "truecolor"
    return env


def dump_path(args: argparse.Namespace, name: str) -> Path | None:
    """Where --dump keeps this pty run's raw output (None without --dump)."""
    return Path(args.dump) / f"{name}-{time.strftime('%H%M%S')}.bin" if args.dump else None


class Terminal:
    """A child on a pseudo-terminal, its output read (and counted) as fast as it comes."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        dump: Path | None = None,
        keep: bool = False,
        cwd: str | None = None,
    ):
        self.dump = None
        self.started = time.monotonic()
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: size the terminal before anything looks at it, then exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
                if cwd:
                    os.chdir(cwd)
                os.execve(command[0], command, env)
            finally:
                os._exit(127)
        self.chunks: list[tuple[float, int]] = []  # (arrival, bytes)
        self.tail = b""  # the last few KB, for error messages and finding "paused" on screen
        self.seen = 0  # bytes before the tail
        self.all = bytearray() if keep else None  # everything, when asked for
        self.closed = False
        self.exit_status: int | None = None
        if dump is not None:
            self.dump = open(dump, "wb")  # noqa: SIM115 - closed in kill(), which always runs

    def read(self, timeout: float, extra: list[int] = ()) -> list[int]:
        """Wait up to `timeout` for output; returns the `extra` fds that are readable."""
        fds = ([] if self.closed else [self.master]) + list(extra)
        if not fds:
            time.sleep(timeout)
            return []
        ready, _, _ = select.select(fds, [], [], timeout)
        if self.master in ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed, the child is gone
                data = b""
            if data:
                self.chunks.append((time.monotonic(), len(data)))
                if self.dump is not None:
                    self.dump.write(data)
                if self.all is not None:
                    self.all += data
                self.tail += data
                if len(self.tail) > 65536:
                    self.seen += len(self.tail) - 32768
                    self.tail = self.tail[-32768:]
            else:
                self.closed = True
        return [fd for fd in ready if fd != self.master]

    def offset(self) -> int:
        return self.seen + len(self.tail)

    def find(self, needle: bytes, since: int) -> bool:
        start = max(0, since - self.seen)
        return needle in self.tail[start:]

    def press(self, key: bytes) -> float:
        t = time.monotonic()
        os.write(self.master, key)
        return t

    def poll_exit(self) -> bool:
        if self.exit_status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by a cleanup already
                self.exit_status = -9
                return True
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
        return self.exit_status is not None

    def exited(self) -> bool:
        """Whether the child is gone and its output read to the end."""
        return self.closed and self.poll_exit()

    def wait_exit(self, seconds: float, pump=None) -> bool:
        """Read (with `pump`, default read()) until the child has exited; False after `seconds`."""
        end = time.monotonic() + seconds
        while not self.exited():
            if time.monotonic() > end:
                return False
            (pump or self.read)(0.1)
        return True

    def last_line(self) -> str:
        lines = [line.strip() for line in ANSI.sub(b"", self.tail).decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        return lines[-1][:200] if lines else "(no output)"

    def kill(self) -> None:
        if not self.poll_exit():
            try:
                os.killpg(self.pid, signal.SIGKILL)  # pty.fork made it a session (and group) leader
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        try:
            os.close(self.master)
        except OSError:
            pass
        if self.dump is not None:
            self.dump.close()
