"""One cell as submitit runs it (its local executor here; Slurm's shares the code path): the
cell's `tui-gan train` in a child process, so that training runs as any headless job does
(its own signal handling, socket, job.json) while this process stays free to pass signals on.

SIGTERM (the coordinator stopping the sweep, a scheduler cancelling the job) and submitit's
timeout/preemption signal both reach the training as SIGTERM, which writes a final checkpoint.
After the preemption signal, `checkpoint()` asks submitit to run the same cell again, and
`--resume auto` continues it in its folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import submitit


class TrainCell(submitit.helpers.Checkpointable):
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv  # `tui-gan train ...` after the program
        self.env = env  # what the cell's training needs on top of this environment (threads)
        self._child: subprocess.Popen | None = None

    def __call__(self) -> int:
        """The training's exit code (0: it ended as planned; 143: stopped by SIGTERM)."""
        command = [sys.executable, "-m", "tui_gan", *self.argv]
        self._child = subprocess.Popen(command, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)
        signal.signal(signal.SIGTERM, self._pass_on)  # after submitit's own handlers
        return self._child.wait()

    def _pass_on(self, signum, frame) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signal.SIGTERM)

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """Timed out or preempted: the training writes its checkpoint and ends, then the cell is
        submitted again (it resumes in its folder)."""
        self._pass_on(signal.SIGTERM, None)
        if self._child is not None:
            _wait_for_exit(self._child.pid)
        return submitit.helpers.DelayedSubmission(TrainCell(self.argv, self.env))


def _wait_for_exit(pid: int) -> None:
    """Until `pid` (our child) has exited, without reaping it: this runs in a signal handler
    that interrupted Popen.wait, which holds Popen's lock and reaps the child itself later."""
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(0.1)
