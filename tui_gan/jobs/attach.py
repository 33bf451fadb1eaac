"""What a dashboard attaches to in a run folder: its live job, or the folder itself (a finished
run, replayed read-only). One place for `tui-gan attach` and the workspace's Enter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tui_gan.config import TrainConfig
from tui_gan.errors import ConfigError
from tui_gan.jobs import registry


def attach_target(run_dir: Path) -> tuple[TrainConfig, registry.JobInfo | Path]:
    """The run's settings and its live job (or its folder, when no job runs). A one-line
    JobError for a job that died or does not answer, ConfigError for an unreadable config."""
    from tui_gan.jobs.client import query_status

    status = registry.classify(run_dir)
    job = status.job
    if status.state == "died":
        raise registry.JobError(died_message(status))
    if job is not None and job.elsewhere and status.state in ("running", "silent"):
        raise registry.JobError(f"{run_dir} trains on {job.host}, not here: {registry.ssh_hint(job)}")
    live = status.state == "running"
    if live and query_status(job) is None:
        raise registry.JobError(f"the job of {run_dir} (pid {job.pid}) does not answer on {job.socket}")
    return run_config(run_dir), job if live else run_dir


def died_message(status) -> str:
    """One line on a died job: which, where its last checkpoint is, and how to continue it."""
    head = f"the job of {status.run_dir} died (pid {status.job.pid} is gone without ending it)"
    if status.checkpoint is None:
        return f"{head} before its first checkpoint: nothing to resume, start it again"
    step = "" if status.step is None else f" at step {status.step:,}"
    return f"{head}; its last checkpoint is{step}: continue it with {status.resume_command}"


def run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig a run folder's config.json records (its extra keys ignored)."""
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}/config.json is not readable: {exc}") from None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        return TrainConfig.from_dict({k: v for k, v in saved.items() if k in known})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{run_dir}/config.json holds unusable settings: {exc}") from None
