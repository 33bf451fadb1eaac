"""A terminal for tests that run a real command on a pseudo-terminal: its far end keeps reading
what the command writes (so the command never blocks on a full pty) and can answer the one query
pixels.py sends, as kitty, a sixel terminal or a plain one would."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from fcntl import ioctl
from pathlib import Path

KITTY_OK = b"\x1b_Gi=31;OK\x1b\\"
DA1_SIXEL = b"\x1b[?63;1;2;4;6;9;15;16;22;28c"  # xterm -ti vt340
DA1_PLAIN = b"\x1b[?62;22c"


class FakeTerminal:
    """A pty of `size` (rows, columns) and `pixels_size` (width, height; 0: not said) whose far
    end answers the query (once it has seen DA1) with `answer` (None: never answers), and keeps
    everything written in `seen`."""

    def __init__(
        self, answer: bytes | None, pixels_size: tuple[int, int] = (0, 0), size: tuple[int, int] = (24, 80)
    ):
        self.master, self.slave = pty.openpty()
        ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, *pixels_size))
        self.answer = answer
        self.seen = b""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        answered = False
        while not self.done.is_set():
            if not select.select([self.master], [], [], 0.02)[0]:
                continue
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:
                return
            if not answered and self.answer is not None and b"\x1b[c" in self.seen:
                os.write(self.master, self.answer)
                answered = True

    def wait_for(self, wanted: bytes, timeout: float = 90) -> None:
        """Until `wanted` has been written to the terminal; an AssertionError with the last
        output when it is not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen and time.monotonic() < deadline:
            time.sleep(0.1)
        assert wanted in self.seen, self.seen[-3000:]

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    @contextlib.contextmanager
    def running(self, argv: list[str], runtime_dir: Path) -> Iterator[subprocess.Popen]:
        """`python -m tui_gan ARGV` on this terminal, as in a plain xterm (no tmux, screen or
        NO_COLOR); on leaving, the command is killed if it still runs and the terminal closed."""
        env = {**os.environ, "TERM": "xterm-256color", "TUI_GAN_RUNTIME_DIR": str(runtime_dir)}
        for name in ("NO_COLOR", "TMUX", "STY"):
            env.pop(name, None)
        child = subprocess.Popen(
            [sys.executable, "-m", "tui_gan", *argv],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                child.kill()
            self.close()

    def quit(self, child: subprocess.Popen) -> None:
        """q, and the command exits 0 within 30 s."""
        self.type(b"q")
        child.wait(30)
        assert child.returncode == 0

    def close(self) -> None:
        self.done.set()
        self.thread.join(2)
        os.close(self.slave)
        os.close(self.master)
