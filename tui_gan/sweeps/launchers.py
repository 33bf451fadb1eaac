"""Where a sweep's runs go: submitit's local executor (processes on this machine) or Slurm
(`--launcher slurm`: each run an sbatch job, submitted by submitit). The coordinator submits,
watches and stops runs through the same three calls for both.

On Slurm, submitit asks `sacct` how a job is; on a cluster without accounting it cannot, so a
job that ended without a result (cancelled, killed) is also seen ending in `squeue`."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

NO_BUDGET_MIN = 7 * 24 * 60  # the time limit of a run when the sweep gives none
SQUEUE_EVERY_S = 5.0
# squeue's states of a job that will not run again (it keeps them for MinJobAge, 300 s by default)
SLURM_ENDED = {
    "COMPLETED",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
}


def time_limit_min(budget_s: float | None, given_min: float | None) -> int:
    """A run's time limit: as given, else its budget with room for start-up and evaluations."""
    if given_min:
        return math.ceil(given_min)
    return math.ceil(budget_s / 60 * 1.5 + 10) if budget_s else NO_BUDGET_MIN


def executor(launcher: dict, folder: Path, place: dict, limit_min: int, name: str):
    """A submitit executor for one run: `place` is the local slot (its GPU) of sweeps/runner.py."""
    import submitit

    logs = folder / ".submitit" / "%j"
    if launcher.get("kind") == "slurm":
        run = submitit.AutoExecutor(folder=logs, cluster="slurm")
        extra = {"slurm_account": launcher["account"]} if launcher.get("account") else {}
        run.update_parameters(
            name=f"tui-gan-{name}",
            timeout_min=limit_min,
            slurm_partition=launcher.get("partition"),
            gpus_per_node=launcher.get("gpus", 0),
            slurm_additional_parameters=dict(launcher.get("sbatch", {})),
            **extra,
        )
        return run
    run = submitit.LocalExecutor(folder=logs)
    run.update_parameters(
        timeout_min=limit_min,
        gpus_per_node=0 if place["gpu"] is None else 1,
        visible_gpus=() if place["gpu"] is None else (place["gpu"],),
    )
    return run


def stop(launcher: dict, job) -> None:
    """SIGTERM to the run (its training writes a final checkpoint): scancel on Slurm, else to
    the local controller, which passes it on."""
    if launcher.get("kind") == "slurm":
        job.cancel(check=False)
        return
    try:
        os.kill(int(job.job_id), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass


class Watch:
    """Whether runs have ended, and how. A Slurm job is asked with `squeue` (every few seconds),
    never `sacct`: submitit's own check needs accounting, which a small cluster may not run."""

    def __init__(self, launcher: dict) -> None:
        self.slurm = launcher.get("kind") == "slurm"
        self._asked: dict[str, float] = {}
        self._states: dict[str, str] = {}

    def ended(self, job) -> bool:
        if not self.slurm:
            return job.done()
        if job.paths.result_pickle.exists():
            return True
        if time.monotonic() - self._asked.get(job.job_id, 0.0) < SQUEUE_EVERY_S:
            return False
        self._asked[job.job_id] = time.monotonic()
        command = ["squeue", "-h", "-j", str(job.job_id), "-o", "%T"]
        found = subprocess.run(command, capture_output=True, text=True)
        state = self._states[job.job_id] = found.stdout.strip()
        return found.returncode != 0 or not state or state in SLURM_ENDED

    def result(self, job) -> tuple[int | None, str]:
        """The run's exit code (None when its job died without one) and why, in a line."""
        if self.slurm and not job.paths.result_pickle.exists():
            return (
                None,
                f"its Slurm job {job.job_id} ended {self._states.get(job.job_id) or 'without a result'}",
            )
        try:
            return job.result(), ""
        except Exception as exc:  # the cell's process died: submitit says how
            lines = str(exc).strip().splitlines()
            return None, lines[-1] if lines else type(exc).__name__
