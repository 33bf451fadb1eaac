"""`tui-gan stop RUN`, `pause RUN`, `resume RUN`: a live job commanded from the shell, as a
dashboard commands it (the same commands over the job's socket), without attaching. Each waits
until the job has done it, so `tui-gan stop RUN && next` runs `next` after the final checkpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tui_gan.jobs import registry
from tui_gan.jobs.registry import JobError
from tui_gan.training import commands as cmd

STOP_WAIT_S = 300.0  # a final checkpoint, the loss plot and the progress GIF: seconds, rarely more
STATE_WAIT_S = 30.0  # the engine takes a command between steps (a slow step or an evaluation first)


@dataclass(frozen=True)
class Action:
    command: cmd.Command
    from_states: tuple[str, ...]  # the job states it applies to
    done: str  # the state that says it is done ("" for stop: the job has ended)


ACTIONS = {
    "pause": Action(cmd.Pause(), ("starting", "running", "paused"), "paused"),
    "resume": Action(cmd.Resume(), ("starting", "running", "paused"), "running"),
    "stop": Action(cmd.Stop(checkpoint=True), (), ""),
}


def cmd_control(action: str, target: str, runs_root: Path) -> int:
    from tui_gan.jobs.client import query_status, send_command

    job = live_job(target, runs_root, action)
    what = ACTIONS[action]
    status = query_status(job)
    if status is None:
        raise JobError(f"the job of {job.run_dir} (pid {job.pid}) does not answer on {job.socket}")
    if what.from_states and status.get("state") not in what.from_states:
        raise JobError(f"{job.run_dir} is {status.get('state')}: there is nothing to {action}")
    send_command(job, what.command)
    if action == "stop":
        return _wait_stopped(job)
    deadline = time.monotonic() + STATE_WAIT_S
    while status is not None and status.get("state") != what.done and time.monotonic() < deadline:
        time.sleep(0.1)
        status = query_status(job)
    if status is None or status.get("state") != what.done:
        now = "gone" if status is None else status.get("state")
        raise JobError(f"asked {job.run_dir} to {action}, but after {STATE_WAIT_S:.0f} s it is {now}")
    print(f"{what.done}: {job.run_dir} at step {status.get('step', 0):,}")
    return 0


def _wait_stopped(job: registry.JobInfo) -> int:
    """Until the job has ended (its final checkpoint written): how it ended, and that checkpoint."""
    from tui_gan.cli.checkpoints import find_checkpoint

    deadline = time.monotonic() + STOP_WAIT_S
    while (run := registry.classify(job.run_dir)).state == "running":
        if time.monotonic() > deadline:
            raise JobError(f"asked {job.run_dir} to stop; it is still writing after {STOP_WAIT_S:.0f} s")
        time.sleep(0.1)
    if run.state == "died":
        raise JobError(f"{job.run_dir}: its job ended without a word while stopping (killed?)")
    arch = run.job.arch if run.job else None
    checkpoint = find_checkpoint(job.run_dir, ("latest.pt",), arch or None)
    step = "" if run.step is None else f" at step {run.step:,}"
    print(f"{run.state}: {job.run_dir}{step}; its last checkpoint: {checkpoint or 'none'}")
    return 0


def live_job(target: str, runs_root: Path, action: str) -> registry.JobInfo:
    """RUN's live job: RUN is what `attach` takes (a run folder, a path in one, latest), or a
    folder name under runs_root, or a live job's --name. A one-line JobError when it is not live."""
    from tui_gan.jobs.attach import died_message

    run_dir = _find(target, runs_root)
    status = registry.classify(run_dir)
    if status.state == "died":
        raise JobError(died_message(status))
    if status.job is not None and status.job.elsewhere and status.state in ("running", "silent"):
        raise JobError(f"{run_dir} trains on {status.job.host}: ssh {status.job.host} to {action} it there")
    if status.state != "running":
        how = "its job ended" if status.job else "it has no job"
        raise JobError(
            f"{run_dir} is not live ({how}: {status.state}): nothing to {action}; "
            f"to train it on: tui-gan train --resume {run_dir}"
        )
    return status.job


def _find(target: str, runs_root: Path) -> Path:
    try:
        return registry.resolve_run(target, runs_root)
    except JobError:
        if "/" in target:
            raise
        found = _by_name(target, runs_root)
        if not found:
            raise
    if len(found) > 1:
        raise JobError(f"{len(found)} live jobs are named {target!r}: give the run folder")
    return found[0]


def _by_name(name: str, runs_root: Path) -> list[Path]:
    """A run folder runs_root/NAME, else the live jobs whose folder or --name is NAME."""
    import json

    if (runs_root / name / "config.json").is_file():
        return [runs_root / name]
    found = []
    for job in registry.live_jobs():
        try:
            given = json.loads((job.run_dir / "config.json").read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            given = None
        if name in (job.run_dir.name, given):
            found.append(job.run_dir)
    return found
