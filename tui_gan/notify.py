"""Telling the user when a run needs them: it finished, diverged (a non-finite loss), collapsed
(the quality checks' mode-collapse warning) or crashed.

An attached dashboard, and the workspace for every run it saw training, rings its terminal
(App.ring writes `terminal_signal`): a desktop notification where the terminal shows one (OSC 9
for iTerm2, OSC 777 for VTE terminals, Ghostty, WezTerm, foot and urxvt, OSC 99 for kitty), the
bell elsewhere, and the bell inside tmux or screen, which swallow notifications unless
passthrough is on. A job runs the user's `--on-event` command (`EventHook`) with the run folder
and the event in its environment, for mail or chat hooks. Torch-free."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState

NOTIFY_MODES = ("auto", "osc9", "osc777", "osc99", "bell", "off")
HOOK_TIMEOUT = 60.0  # seconds an --on-event command may run before it is killed
_MAX_TEXT = 200

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Happening:
    """Something about a run worth interrupting the user for."""

    kind: str  # "finished", "diverged", "collapsed" or "crashed" (the workspace: also "failed", "died")
    arch: str
    message: str


def happening(event: ev.Event) -> Happening | None:
    """The Happening an engine event is, if any."""
    if isinstance(event, ev.StateChanged) and event.state == RunState.FINISHED:
        return Happening("finished", event.arch, f"{event.arch} finished at step {event.step:,}")
    if isinstance(event, ev.Failed):
        kind = "diverged" if "non-finite" in event.message else "crashed"
        return Happening(kind, event.arch, event.message)
    if isinstance(event, ev.Notice) and event.topic == "collapse":
        return Happening("collapsed", event.arch, event.message)
    return None


# How a run that the workspace saw training shows once it has ended (its row's state), and the
# kind of Happening that is; a stop by the user ("stopped", a signal's name) rings nothing.
_ENDED_ROWS = {
    "finished": "finished",
    "completed": "finished",
    "max_steps": "finished",
    "max_time": "finished",
    "collapsed": "collapsed",
    "error": "failed",  # diverged or crashed: the row's problem says which
    "died": "died",  # its process is gone (killed, out of memory, the node lost)
}
_LIVE_ROWS = ("starting", "running", "paused")


def ended_run(before: str, now: str) -> str | None:
    """The Happening kind of a workspace row whose state went from `before` to `now`, if it is
    a run seen live that has ended in a way worth a ring."""
    return _ENDED_ROWS.get(now) if before in _LIVE_ROWS and now != before else None


def terminal_mode(env: Mapping[str, str] | None = None) -> str:
    """How this terminal shows a notification, from what its environment says (over SSH usually
    only TERM arrives: then the bell, unless --notify names a protocol)."""
    env = os.environ if env is None else env
    if env.get("TMUX") or env.get("STY"):
        return "bell"
    program, term = env.get("TERM_PROGRAM", ""), env.get("TERM", "")
    if program == "iTerm.app":
        return "osc9"
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
        return "osc99"
    if (
        program in ("ghostty", "WezTerm")
        or env.get("VTE_VERSION")
        or term.startswith(("foot", "rxvt-unicode", "xterm-ghostty"))
    ):
        return "osc777"
    return "bell"


def terminal_signal(happened: Happening, mode: str, run_name: str = "") -> str:
    """The characters to write to the terminal for `happened` under --notify `mode` ("" for off)."""
    if mode == "auto":
        mode = terminal_mode()
    title = _clean(f"tui-gan: {run_name or happened.arch} {happened.kind}")
    body = _clean(happened.message)
    if mode == "osc9":
        return f"\x1b]9;{title}: {body}\x07"
    if mode == "osc777":
        return f"\x1b]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}\x07"
    if mode == "osc99":
        return f"\x1b]99;i=1:d=0;{title}\x1b\\\x1b]99;i=1:d=1:p=body;{body}\x1b\\"
    return "\x07" if mode == "bell" else ""


def _clean(text: str) -> str:
    """One line of printable text: a message must not end the escape sequence it travels in."""
    return "".join(c if c.isprintable() else " " for c in text)[:_MAX_TEXT]


class EventHook:
    """--on-event in a job: the command runs for each Happening, beside training (its output goes
    to the job's log); ones still running when the job ends get HOOK_TIMEOUT seconds."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.running: list[subprocess.Popen] = []

    def __call__(self, event: ev.Event, run_dir: str | None) -> None:
        self.running = _reap(self.running)
        happened = happening(event)
        if happened is None:
            return
        env = {
            **os.environ,
            "TUI_GAN_EVENT": happened.kind,
            "TUI_GAN_ARCH": happened.arch,
            "TUI_GAN_MESSAGE": happened.message,
            "TUI_GAN_RUN_DIR": run_dir or "",
        }
        try:
            hook = subprocess.Popen(
                self.command, shell=True, env=env, cwd=run_dir or None, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            log.warning("--on-event command could not start: %s", exc.strerror or exc)
            return
        self.running.append(hook)

    def close(self) -> None:
        self.running = _reap(self.running, HOOK_TIMEOUT)


def _reap(hooks: list[subprocess.Popen], wait: float = 0.0) -> list[subprocess.Popen]:
    """The hooks still running; ones that failed are logged, and with `wait` each one left gets
    that many seconds before it is killed."""
    running = []
    for hook in hooks:
        try:
            code = hook.wait(wait) if wait else hook.poll()
        except subprocess.TimeoutExpired:
            hook.kill()
            code = hook.wait()
            log.warning("--on-event command killed after %.0f s", wait)
        if code is None:
            running.append(hook)
        elif code:
            log.warning("--on-event command exited with status %d", code)
    return running
