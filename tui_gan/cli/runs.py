"""`tui-gan ls`, `tui-gan runs` and `tui-gan attach`: live jobs and run folders."""

from __future__ import annotations

import sys
from pathlib import Path

from tui_gan.config import TrainConfig
from tui_gan.errors import ConfigError


def cmd_ls(runs_root: Path) -> int:
    """Live jobs (wherever their folders are) and the newest other runs under runs_root: how each
    ended, or "died" with the command that resumes it."""
    import time

    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import live_jobs, recent_runs

    jobs = live_jobs()
    if not jobs:
        print("no live training jobs")
    else:
        rows = [("RUN FOLDER", "ARCH", "STATE", "STEP", "IMG/S", "VIEWERS", "PID")]
        for job in jobs:
            status = query_status(job) or {}
            rows.append(
                (
                    str(job.run_dir),
                    status.get("arch", job.arch),
                    status.get("state", "not answering"),
                    f"{status.get('step', 0):,}",
                    f"{status.get('images_per_s', 0):,.0f}",
                    str(status.get("viewers", "-")),
                    str(job.pid),
                )
            )
        _print_rows("live jobs", rows)
    runs = recent_runs(runs_root)
    if runs:
        rows = [("RUN FOLDER", "ARCH", "ENDED", "STEP", "WHEN")]
        for run in runs:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.when))
            arch = run.job.arch if run.job and run.job.arch else "-"
            step = "-" if run.step is None else f"{run.step:,}"
            rows.append((str(run.run_dir), arch, run.state, step, when))
        _print_rows(f"recent runs in {runs_root}", rows)
        _print_died([run for run in runs if run.state == "died"])
    return 0


def _print_died(runs: list) -> None:
    """How each died job continues: its STEP above is its last checkpoint's."""
    if runs:
        print("died (killed, or the machine went down); each continues from its last checkpoint with:")
    for run in runs:
        if run.checkpoint is not None:
            print(f"  {run.resume_command}")
        else:
            print(f"  {run.run_dir} died before its first checkpoint: nothing to resume, start it again")


def _print_rows(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"{title}:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_runs(runs_root: Path) -> int:
    """The workspace; it needs a terminal (scripts have `tui-gan ls`)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError("tui-gan runs needs a terminal; scripts can use tui-gan ls")
    from tui_gan.ui.workspace_app import run_workspace

    return run_workspace(runs_root)


def cmd_attach(target: str, runs_root: Path) -> int:
    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import JobError, classify, resolve_run

    run_dir = resolve_run(target, runs_root)
    status = classify(run_dir)
    job = status.job
    if status.state == "died":
        raise JobError(died_message(status))
    live = status.state == "running"
    if live and query_status(job) is None:
        raise JobError(f"the job of {run_dir} (pid {job.pid}) does not answer on {job.socket}")
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise ConfigError("attach needs a terminal (use tui-gan ls to see a job's progress from a script)")
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(run_config(run_dir), attach=job if live else run_dir)


def died_message(status) -> str:
    """One line on a died job: which, where its last checkpoint is, and how to continue it."""
    head = f"the job of {status.run_dir} died (pid {status.job.pid} is gone without ending it)"
    if status.checkpoint is None:
        return f"{head} before its first checkpoint: nothing to resume, start it again"
    step = "" if status.step is None else f" at step {status.step:,}"
    return f"{head}; its last checkpoint is{step}: continue it with {status.resume_command}"


def run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig a run folder's config.json records (its extra keys ignored)."""
    import dataclasses
    import json

    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}/config.json is not readable: {exc}") from None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        return TrainConfig.from_dict({k: v for k, v in saved.items() if k in known})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{run_dir}/config.json holds unusable settings: {exc}") from None
