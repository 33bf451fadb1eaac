"""`tui-gan ls`, `tui-gan runs` and `tui-gan attach`: live jobs and run folders."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from tui_gan.errors import ConfigError

# New columns go last: scripts that split a row by its first columns keep working.
LIVE_COLUMNS = "RUN FOLDER", "ARCH", "STATE", "STEP", "IMG/S", "VIEWERS", "PID", "FD", "ETA", "WHERE", "NAME"


def cmd_ls(runs_root: Path, as_json: bool = False, watch: float | None = None) -> int:
    """Live jobs (wherever their folders are) and the runs under runs_root, as the workspace sees
    them (workspace/runs.py): a table, or with as_json a JSON object per run a line. `watch`:
    again every that many seconds until Ctrl-C (a terminal is cleared in between)."""
    import time

    from tui_gan.workspace.runs import scan_runs

    if watch is None:
        _print_runs(scan_runs(runs_root), runs_root, as_json)
        return 0
    if not watch > 0:
        raise ConfigError(f"--watch takes a positive number of seconds, got {watch:g}")
    clear = sys.stdout.isatty() and not as_json
    try:
        while True:
            rows = scan_runs(runs_root)
            if clear:
                print("\033[H\033[2J", end="")
            _print_runs(rows, runs_root, as_json)
            if not clear and not as_json:
                print()
            sys.stdout.flush()
            time.sleep(watch)
    except KeyboardInterrupt:
        return 0  # how --watch is meant to end


def _print_runs(rows: list, runs_root: Path, as_json: bool) -> None:
    if as_json:
        import json

        from tui_gan.workspace.runs import plain

        for row in rows:
            print(json.dumps(plain(row)))
        return
    live = [row for row in rows if _from_job(row)]
    others = [row for row in rows if not _from_job(row)]
    if not live:
        print("no live training jobs")
    else:
        table = [LIVE_COLUMNS]
        for row in live:
            where = " ".join(filter(None, (row.host, row.device))) or "-"
            viewers = "-" if row.viewers is None else str(row.viewers)
            table.append(
                (str(row.run_dir), row.arch, row.state, f"{row.step:,}", _figure(row.images_per_s, ",.0f"))
                + (viewers, str(row.pid), _figure(row.fd), _eta(row.eta_s), where, row.name)
            )
        _print_rows("live jobs", table)
    if others:
        _print_others(others, runs_root)
    _print_problems(rows)


def _from_job(row) -> bool:
    """A live job's row, or one of a job that is alive but does not answer."""
    return row.live or (row.state == "damaged" and row.pid is not None)


def _print_others(rows: list, runs_root: Path) -> None:
    import time

    table = [("RUN FOLDER", "ARCH", "ENDED", "STEP", "WHEN", "FD", "BEST FD", "NAME")]
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.when)) if row.when else "-"
        table.append(
            (str(row.run_dir), row.arch or "-", row.state, f"{row.step:,}", when)
            + (_figure(row.fd), _figure(row.best_fd), row.name)
        )
    _print_rows(f"recent runs in {runs_root}", table)


def _print_problems(rows: list) -> None:
    """How each died job continues (its STEP above is its last logged step), and what is wrong
    with each damaged run."""
    died = [row for row in rows if row.state == "died"]
    if died:
        print("died (killed, or the machine went down); each continues from its last checkpoint with:")
    for row in died:
        if row.problem and "--resume" in row.problem:
            print(f"  tui-gan train --resume {shlex.quote(str(row.run_dir))}")
        else:
            print(f"  {row.run_dir} {row.problem}")
    trouble = [row for row in rows if row.problem and row.state != "died"]
    if trouble:
        print("damaged (what tui-gan cannot read), or live with a problem:")
    for row in trouble:
        print(f"  {row.run_dir}: {row.problem}")


def _figure(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def _print_rows(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"{title}:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_runs(runs_root: Path, notify: str = "auto", read_only: bool = False, pixels: str = "auto") -> int:
    """The workspace; it needs a terminal (scripts have `tui-gan ls`) or a browser (serve)."""
    if not _has_screen():
        raise ConfigError("tui-gan runs needs a terminal; scripts can use tui-gan ls")
    from tui_gan.ui.app import run_workspace

    return run_workspace(runs_root, notify, read_only, pixels)


def _has_screen() -> bool:
    """A terminal, or a browser tab of `tui-gan serve` (Textual's web driver: stdin is a pipe)."""
    web = "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")
    return web or (sys.stdin.isatty() and sys.stdout.isatty())


def cmd_attach(
    target: str, runs_root: Path, notify: str = "auto", read_only: bool = False, pixels: str = "auto"
) -> int:
    """A run's dashboard; a sweep folder's workspace (its leaderboard and runs)."""
    from tui_gan.jobs.attach import attach_target
    from tui_gan.jobs.registry import resolve_run
    from tui_gan.sweeps.state import SWEEP_FILE

    sweep = (Path(target) / SWEEP_FILE).is_file()
    found = None if sweep else attach_target(resolve_run(target, runs_root))
    if not _has_screen():
        raise ConfigError("attach needs a terminal (use tui-gan ls to see a job's progress from a script)")
    if sweep:
        return cmd_runs(Path(target), notify, read_only, pixels)
    from tui_gan.ui.app import run_dashboard

    config, source = found
    return run_dashboard(config, attach=source, notify=notify, read_only=read_only, pixels=pixels)
