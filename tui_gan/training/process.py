"""The engine in a child process, behind Engine's driving interface (setup, run, send).

Why a process: in one process the dashboard's UI thread and the training thread share the GIL.
Training releases it around every torch op and must win it back after each one; on a busy CPU
the UI thread is often preempted while holding it, so every repaint stalled training (the
dashboard trained 15-40% slower than headless on 2 cores). In its own process the engine never
waits for the UI.

The child (a fresh `python`) builds the real Engine and sends every event back pickled over a
pipe; `run()`, in the caller's thread (the App's thread worker), hands each one to `emit` just
as an in-thread Engine would call it. Commands go the other way over a second pipe. The child
runs in its own session with no terminal: nothing it prints can tear the screen, and ctrl+c or
a hang-up reach only the dashboard. If the dashboard goes away without stopping it (the SSH
link dropped, kill -9), the child reads end-of-file and stops as if told to quit, writing its
final checkpoints first.

Not multiprocessing.Process: its spawn start needs the parent's sys.stderr to be a real file,
and Textual replaces it while an app runs.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from tui_gan.errors import TuiGanError
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev

# The child finds this package where the parent did (installed, or on a path a script added).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from tui_gan.training.process import child_main; child_main(int(sys.argv[2]), int(sys.argv[3]))")
FORCED_STOP_GRACE_S = 5.0  # after Stop(checkpoint=False), how long the child gets before a kill


class EngineCrashed(TuiGanError):
    """The engine process raised outside its own error handling, or died (killed, out of memory)."""


class RemoteError(Exception):
    """Stands in for a child exception that does not survive pickling."""


class EngineProcess:
    """Drives an Engine (or `engine_class`, importable by module and name) in a child process.

    `kwargs` go to the engine's constructor in the child, so they must pickle."""

    def __init__(self, config, emit: Callable[[ev.Event], None] | None = None, *,
                 engine_class: type | None = None, **kwargs: Any) -> None:
        self.config = config
        self.emit = emit or (lambda event: None)
        self.engine_class = engine_class
        self.kwargs = kwargs
        self.process: subprocess.Popen | None = None
        self._events: Connection | None = None  # our end of child -> parent
        self._commands: Connection | None = None  # our end of parent -> child
        self._stderr = None  # the child's stderr: its last words if it dies
        self._lock = threading.Lock()  # send() comes from the UI thread, setup() from the worker
        self._early: list[cmd.Command] = []  # sent before the child existed
        self._kill_at: float | None = None
        self._killed = False  # by us, after a forced quit: not a crash
        self._arch = config.arch  # the architecture last heard of, to name it in a death notice

    # --- the driving interface ---------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        with self._lock:
            if isinstance(command, cmd.Stop) and not command.checkpoint:
                self._kill_at = time.monotonic() + FORCED_STOP_GRACE_S
            if self._commands is None:
                self._early.append(command)
                return
            try:
                _put(self._commands, command)
            except OSError:
                pass  # the child is gone; run() reports how it ended

    def setup(self) -> None:
        """Start the child and wait for its Engine.setup(); raises what that raised."""
        events_r, events_w = os.pipe()
        commands_r, commands_w = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, _PACKAGE_ROOT, str(events_w), str(commands_r)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(events_w, commands_r), start_new_session=True,
            )
        except OSError:
            for fd in (events_r, events_w, commands_r, commands_w):
                os.close(fd)
            raise
        os.close(events_w)  # only the child writes: end-of-file here means it is gone
        os.close(commands_r)
        with self._lock:
            self._events = Connection(events_r, writable=False)
            self._commands = Connection(commands_w, readable=False)
            try:
                # sys.path first, so engine_class and kwargs unpickle there as they import here
                _put(self._commands, list(sys.path))
                _put(self._commands, (self.engine_class, self.config, self.kwargs))
                for command in self._early:
                    _put(self._commands, command)
            except OSError:
                pass  # it died at once: _receive() says so, with its last words
            self._early.clear()
        kind, payload = self._receive()
        if kind == "ready":
            return
        self._join()
        if kind == "setup_failed":
            raise payload
        raise EngineCrashed(self._death_notice())

    def run(self) -> str:
        """Relay events until the child's engine returns; returns its Finished reason."""
        try:
            kind, payload = self._receive()
            if kind == "done":
                return payload
            if kind == "crashed":
                raise EngineCrashed(payload)
            if self._killed:
                return "stopped"
            message = self._death_notice()
            self.emit(ev.Failed(self._arch, message))
            self.emit(ev.StateChanged(self._arch, "error"))
            return "error"
        finally:
            self._join()

    # --- plumbing ----------------------------------------------------------------------------
    def _receive(self) -> tuple[str, Any]:
        """The child's next message that is not an event (events go to emit on the way), or
        ("gone", None) when its pipe closes."""
        while True:
            if self._kill_at is not None and time.monotonic() > self._kill_at and self.process.poll() is None:
                self.process.kill()  # a forced quit, and the child did not stop in time
                self._killed = True
            try:
                if not self._events.poll(0.25):
                    continue
                kind, payload = _get(self._events)
            except (EOFError, OSError):
                return "gone", None
            if kind != "event":
                return kind, payload
            self._arch = payload.arch
            self.emit(payload)

    def _join(self) -> None:
        try:
            self.process.wait(timeout=FORCED_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for conn in (self._events, self._commands):
            conn.close()

    def _death_notice(self) -> str:
        try:
            code = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
            if code == -signal.SIGKILL:
                how += ": out of memory?"
        else:
            how = f"exit code {code}"
        last = self._last_stderr_line()
        return f"the training process died ({how})" + (f": {last}" if last else "")

    def _last_stderr_line(self) -> str:
        try:
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1][:300] if lines else ""


# --- the child ---------------------------------------------------------------------------------
def child_main(events_fd: int, commands_fd: int) -> None:
    events = Connection(events_fd, readable=False)
    commands = Connection(commands_fd, writable=False)
    lock = threading.Lock()
    parent_gone = threading.Event()

    def post(kind: str, payload: Any = None) -> None:
        if parent_gone.is_set():
            return
        with lock:
            try:
                _put(events, (kind, payload))
            except OSError:
                parent_gone.set()  # nobody is listening; train on until the relayed Stop lands

    try:
        sys.path[:] = _get(commands)
        engine_class, config, kwargs = _get(commands)
        if engine_class is None:
            from tui_gan.training.engine import Engine as engine_class
        engine = engine_class(config, lambda event: post("event", event), **kwargs)
        engine.setup()
    except EOFError:
        return  # the parent went away before we started
    except BaseException as exc:  # noqa: BLE001 - the parent decides what to tell the user
        post("setup_failed", _portable(exc))
        return
    post("ready")
    threading.Thread(target=_relay_commands, args=(commands, engine), name="commands", daemon=True).start()
    try:
        reason = engine.run()
    except Exception as exc:  # noqa: BLE001 - run() reports its own crashes; this is the last resort
        post("crashed", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        return
    post("done", reason)


def _relay_commands(commands: Connection, engine) -> None:
    stopping = False
    while True:
        try:
            command = _get(commands)
        except (EOFError, OSError):
            if not stopping:  # the dashboard is gone without a word: keep what was trained
                engine.send(cmd.Stop(checkpoint=True))
            return
        stopping = stopping or isinstance(command, cmd.Stop)
        engine.send(command)


def _put(conn: Connection, obj: Any) -> None:
    # Plain pickle, not Connection.send: that one pickles torch tensors as shared-memory handles
    # that only a multiprocessing-started child can open.
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _get(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (so the parent can tell DataUnavailable apart), else a
    RemoteError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling problem
        return RemoteError(f"{type(exc).__name__}: {exc}")

