"""`tui-gan ls` and `tui-gan attach`: live jobs and run folders."""

from __future__ import annotations

import sys
from pathlib import Path

from tui_gan.config import TrainConfig
from tui_gan.errors import ConfigError


def cmd_ls(runs_root: Path) -> int:
    """Live jobs (wherever their folders are) and the newest finished runs under runs_root."""
    import time

    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import finished_runs, live_jobs

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
    runs = finished_runs(runs_root)
    if runs:
        rows = [("RUN FOLDER", "ARCH", "ENDED", "STEP", "WHEN")]
        for run in runs:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.ended or run.started))
            rows.append(
                (
                    str(run.run_dir),
                    run.arch or "-",
                    run.state,
                    "-" if run.step is None else f"{run.step:,}",
                    when,
                )
            )
        _print_rows(f"recent runs in {runs_root}", rows)
    return 0


def _print_rows(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"{title}:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_attach(target: str, runs_root: Path) -> int:
    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import JobError, pid_alive, read_job, resolve_run

    run_dir = resolve_run(target, runs_root)
    job = read_job(run_dir)
    live = job is not None and job.state == "running"
    if live and (not pid_alive(job.pid) or query_status(job) is None):
        raise JobError(
            f"the job of {run_dir} is gone (pid {job.pid} died without cleaning up): "
            f"continue it with tui-gan train --resume {run_dir}"
        )
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise ConfigError("attach needs a terminal (use tui-gan ls to see a job's progress from a script)")
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(run_config(run_dir), attach=job if live else run_dir)


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
