"""--part frame: how long `tui-gan runs` takes to its first full frame over many finished runs.

RUNS finished runs of STEPS steps each are written by tests/factories.write_finished_run (the
run's own writers: config.json, metrics.csv and its digest, quality.csv, the kept sample grids),
DISTINCT of them with their own seeds and Frechet distances, the rest copies of those (a run
takes ~1 s to write at 100,000 steps), in a child process, so that this one never imports torch.
Then `python -m tui_gan runs --runs-dir DIR` starts on a 120x40 pseudo-terminal, FRAMES times,
each timed from just before the fork until the screen (screen.py) shows the full list: the
status line counting every run and every line of the list showing a run, down to the last one
it has room for. The same is timed over an empty folder, in turn with it: the reference, which
is Python's start-up and the imports, measured on the machine as it is at that moment.

The runs' files are in the page cache (they were just written), as on a machine that wrote them
or has listed them before."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from dashboard_bench.common import COLUMNS, LINES, ROOT, BenchError
from dashboard_bench.terminal import Terminal, terminal_env

from . import load_note
from .screen import Screen, count_rows, runs_list_drawn

TARGET_S = 2.0


def write_runs(root: Path, runs: int, steps: int, distinct: int) -> None:
    """`runs` finished run folders under root (`--child write-runs`: this imports torch)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from factories import write_finished_run

    root.mkdir(parents=True, exist_ok=True)
    for i in range(min(distinct, runs)):
        arch = ("simple", "mlp")[i % 2]
        fd_end = 20.0 + 7.0 * i
        write_finished_run(
            root / f"run-{i:03d}", arch, seed=i, fd_start=160.0 + 9 * i, fd_end=fd_end, steps=steps
        )
    for i in range(distinct, runs):
        shutil.copytree(root / f"run-{i % distinct:03d}", root / f"run-{i:03d}")


def time_start(root: Path, runs: int, args: argparse.Namespace) -> dict:
    """One `tui-gan runs` from the fork to its full first frame; then q closes it."""
    env = terminal_env(args)
    env["PYTHONPATH"] = str(ROOT)
    screen = Screen(COLUMNS, LINES)
    command = [sys.executable, "-m", "tui_gan", "runs", "--runs-dir", str(root)]
    term = Terminal(command, env, keep=True, cwd=str(root))
    t0, first_byte, listed, drawn = term.started, None, None, None
    try:
        while drawn is None:
            if time.monotonic() - t0 > args.frame_timeout:
                raise BenchError(
                    f"tui-gan runs over {runs} runs: no full frame after {args.frame_timeout:.0f} s "
                    f"({count_rows(screen.lines())} rows on screen; last line: {term.last_line()})"
                )
            before = term.offset()
            term.read(0.05)
            if term.offset() == before:
                if term.closed:
                    raise BenchError(f"tui-gan runs exited before its first full frame: {term.last_line()}")
                continue
            now = time.monotonic()
            first_byte = first_byte or now
            screen.feed(bytes(term.all[before:]))
            lines = screen.lines()
            if listed is None and f"{runs} runs (" in lines[0]:
                listed = now
            if runs_list_drawn(lines, runs, 0 if runs else None) if runs else _empty_drawn(lines):
                drawn = now
        shown = count_rows(screen.lines())
        if args.dump:
            Path(args.dump, f"frame-{runs}-runs.txt").write_text("\n".join(screen.lines()) + "\n")
        term.press(b"q")
        if not term.wait_exit(10.0):
            raise BenchError("tui-gan runs did not exit 10 s after q")
    finally:
        term.kill()
    return {
        "first_byte": first_byte - t0,
        "listed": (listed or drawn) - t0,
        "drawn": drawn - t0,
        "rows_on_screen": shown,
        "load": load_note(t0, drawn),
    }


def _empty_drawn(lines: list[str]) -> bool:
    """The full frame of a workspace with no runs: its status line and the list's header."""
    return "0 runs (0 live)" in lines[0] and any(" Run " in line and " State " in line for line in lines)


def part_frame(args: argparse.Namespace, tmp: Path) -> bool:
    root, empty = tmp / "finished", tmp / "empty"
    empty.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "workspace.py"),
            "--child",
            "write-runs",
            "--runs-dir",
            str(root),
            *("--runs", str(args.runs), "--steps", str(args.steps), "--distinct", str(args.distinct)),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"writing the finished runs failed: {said}")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(
        f"  {args.runs} finished runs of {args.steps:,} steps ({args.distinct} distinct, the rest copies; "
        f"{size / 2**20:.1f} MB) written in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    full, bare = [], []
    for i in range(args.frames):
        pair = [(root, args.runs, full), (empty, 0, bare)]
        for folder, runs, kept in pair if i % 2 == 0 else pair[::-1]:  # a drifting machine favours neither
            kept.append(time_start(folder, runs, args))
        got, ref = full[-1], bare[-1]
        print(
            f"  #{i + 1}: {args.runs} runs: first byte {got['first_byte']:.2f} s, status line "
            f"{got['listed']:.2f} s, full list ({got['rows_on_screen']} rows on screen) {got['drawn']:.2f} s"
            f"{got['load']}; empty folder {ref['drawn']:.2f} s{ref['load']}",
            flush=True,
        )
    median = statistics.median(r["drawn"] for r in full)
    worst = max(r["drawn"] for r in full)
    ref = statistics.median(r["drawn"] for r in bare)
    ok = median < TARGET_S
    print(
        f"first full frame over {args.runs} runs: median {median:.2f} s, max {worst:.2f} s "
        f"(empty folder: median {ref:.2f} s, so the runs add {median - ref:+.2f} s); "
        f"target < {TARGET_S:.0f} s: {'met' if ok else 'NOT met'}"
    )
    return ok
