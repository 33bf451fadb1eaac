"""A sweep's results: a row per cell (results.csv, results.json) read from its run folder as the
workspace reads any run, and the leaderboard: the cells grouped by config over their seeds,
ranked by best Frechet distance (mean and spread), with classes covered and images/s."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass

from tui_gan.fileio import atomic_write_bytes
from tui_gan.sweeps.state import Sweep

RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
COLUMNS = ("config", "seed", "state", "best_fd", "fd", "classes", "step", "images_per_s", "run_dir", "detail")


def cell_rows(sweep: Sweep, found: dict | None = None) -> list[dict]:
    """A row per cell. `found`: the rows already read (canonical run folder -> RunRow), as the
    workspace has them; else each run folder is read here."""
    from tui_gan.workspace.runs import canonical, read_row

    rows = []
    for cell in sweep.cells:
        run_dir = sweep.run_dir(cell)
        if found is not None:
            row = found.get(canonical(run_dir))
        else:
            row = read_row(run_dir) if (run_dir / "config.json").exists() else None
        rows.append(
            {
                "config": cell.config_key,
                "seed": cell.seed,
                "state": cell.state,
                "best_fd": _number(row.best_fd if row else None),
                "fd": _number(row.fd if row else None),
                "classes": row.classes if row else None,
                "step": row.step if row else 0,
                "images_per_s": _number(row.images_per_s if row else None),
                "run_dir": str(run_dir),
                "detail": cell.detail,
            }
        )
    return rows


@dataclass
class Group:
    config: str
    runs: int
    finished: int
    fd_mean: float | None
    fd_spread: float | None  # standard deviation over the seeds that have an FD (0 with one)
    classes: float | None
    images_per_s: float | None
    states: str  # "3 finished, 1 collapsed"


def leaderboard(rows: list[dict]) -> list[Group]:
    """Configs by mean best FD over their seeds, lowest first (no FD yet: last)."""
    groups = []
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        fds = [r["best_fd"] for r in mine if r["best_fd"] is not None]
        states: dict[str, int] = {}
        for r in mine:
            states[r["state"]] = states.get(r["state"], 0) + 1
        groups.append(
            Group(
                config,
                len(mine),
                states.get("finished", 0),
                statistics.fmean(fds) if fds else None,
                statistics.pstdev(fds) if fds else None,
                _mean([r["classes"] for r in mine]),
                _mean([r["images_per_s"] for r in mine]),
                ", ".join(f"{n} {s}" for s, n in states.items()),
            )
        )
    return sorted(groups, key=lambda g: math.inf if g.fd_mean is None else g.fd_mean)


def write(sweep: Sweep) -> list[dict]:
    """results.csv and results.json, from every cell's run folder; the rows written."""
    rows = cell_rows(sweep)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(sweep.folder / RESULTS_CSV, out.getvalue().encode())
    board = [vars(g) for g in leaderboard(rows)]
    data = {"name": sweep.name, "grid": sweep.grid, "seeds": sweep.seeds, "runs": rows, "leaderboard": board}
    atomic_write_bytes(sweep.folder / RESULTS_JSON, (json.dumps(data, indent=1) + "\n").encode())
    return rows


HEAD = ("rank", "config", "best FD (mean ± spread)", "classes", "img/s", "runs")


def board_lines(groups: list[Group]) -> list[tuple[str, ...]]:
    """The leaderboard's cells as text, a tuple per config (HEAD names them)."""
    lines = []
    for rank, g in enumerate(groups, 1):
        spread = f" ± {g.fd_spread:.1f}" if g.runs > 1 and g.fd_spread is not None else ""
        fd = "-" if g.fd_mean is None else f"{g.fd_mean:.1f}{spread}"
        classes = "-" if g.classes is None else f"{g.classes:.1f}"
        rate = "-" if g.images_per_s is None else f"{g.images_per_s:,.0f}"
        lines.append((str(rank), g.config, fd, classes, rate, g.states))
    return lines


def progress(sweep: Sweep) -> str:
    """ "sweep NAME: 12 runs, 3 finished, 2 running, 7 pending"."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(sweep.counts().items()))
    total = (
        f"{len(sweep.cells)} of {sweep.search['trials']} trials"
        if sweep.search
        else f"{len(sweep.cells)} runs"
    )
    return f"sweep {sweep.name}: {total}, {counts}"


def table(sweep: Sweep) -> str:
    """The leaderboard as `tui-gan sweep --show` prints it."""
    lines = [HEAD, *board_lines(leaderboard(cell_rows(sweep)))]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEAD))]
    text = [f"{progress(sweep)} ({sweep.folder})"]
    text += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(text)


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def _mean(values: list) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.fmean(found) if found else None
