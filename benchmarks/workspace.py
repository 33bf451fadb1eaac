"""What the workspace (`tui-gan runs`) costs: the jobs it watches and its own start over many runs.
Both are issue 19's targets, each measured against a reference taken in the same run.

  --part live   workspace_bench/live.py: JOBS (8) real detached jobs; each one's images/s
                without the workspace, with it open on all of them (three selected, their
                loss charts drawn), and without it again; the workspace process's cores.
                Targets: each job >= 90% of its images/s without it; the workspace <= 0.25 of
                a core.
  --part frame  workspace_bench/first_frame.py: `tui-gan runs` over RUNS (50) finished runs of
                STEPS (100,000) steps on a pseudo-terminal, from the fork to the screen showing
                the list full (screen.py reads the cells); the same over an empty folder.
                Target: < 2 s.

    python benchmarks/workspace.py [--part live|frame|all] [--jobs 8] [--window 15] [--rounds 3]
        [--runs 50] [--steps 100000] [--frames 5]

The workspace runs on a 120x40 pseudo-terminal with TERM=xterm-256color, as a user's would.
Jobs register in a temporary runtime folder (TUI_GAN_RUNTIME_DIR), removed at the end; every
window and launch says how many cores processes that are not ours kept busy meanwhile (CONTENDED
from a quarter of a core: on a shared 2-core machine another process taking a core changes
everything). Exits 2 when a target is not met, 1 with a one-line error when something cannot
be measured; every process it started (jobs included) is stopped or killed on the way out.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# benchmarks/ is sys.path[0]
from dashboard_bench import machine_load  # noqa: E402
from dashboard_bench.common import COLUMNS, LINES  # noqa: E402
from dashboard_bench.processes import become_subreaper, run_isolated  # noqa: E402
from workspace_bench.first_frame import part_frame, write_runs  # noqa: E402
from workspace_bench.live import part_live  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("live", "frame", "all"), default="all")
    parser.add_argument("--jobs", type=int, default=8, help="live jobs (default 8)")
    parser.add_argument("--arch", default="simple", help="the jobs' architecture (default simple: tiny)")
    parser.add_argument("--batch", type=int, default=64, help="the jobs' batch size (default 64)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS for each job (default 1; 0: torch's default, one per core)",
    )
    parser.add_argument("--window", type=float, default=15.0, help="seconds each images/s is measured over")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before each window")
    parser.add_argument("--rounds", type=int, default=3, help="workspace windows, each between two without")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds a job may take to start")
    parser.add_argument("--runs", type=int, default=50, help="finished runs for --part frame (default 50)")
    parser.add_argument("--steps", type=int, default=100_000, help="steps of each finished run")
    parser.add_argument("--distinct", type=int, default=5, help="finished runs written; the rest are copies")
    parser.add_argument(
        "--frames", type=int, default=5, help="starts timed over the runs (and the empty folder)"
    )
    parser.add_argument("--frame-timeout", type=float, default=30.0, help="seconds a start may take")
    parser.add_argument("--dump", metavar="DIR", help="keep the screens measured, as text, here")
    parser.add_argument("--child", choices=("write-runs",), help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.truecolor = False  # terminal_env's setting
    if args.dump:
        Path(args.dump).mkdir(parents=True, exist_ok=True)
    if args.child:
        write_runs(Path(args.runs_dir), args.runs, args.steps, max(1, args.distinct))
        return 0
    if min(args.jobs, args.rounds, args.frames, args.runs) < 1 or args.jobs < 3:
        parser.error("--jobs takes 3 or more (three are compared); --rounds, --frames and --runs 1 or more")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the jobs
    become_subreaper()
    load = machine_load.start()
    print(
        f"{os.cpu_count()} CPUs; terminal {COLUMNS}x{LINES} TERM=xterm-256color; "
        f"load average at the start: {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    def parts(tmp: Path) -> bool:
        ok = True
        if args.part in ("live", "all"):
            print(f"\n== live: {args.jobs} jobs, the workspace open on all of them", flush=True)
            ok = part_live(args, tmp) and ok
        if args.part in ("frame", "all"):
            print(f"\n== frame: the workspace over {args.runs} finished runs", flush=True)
            ok = part_frame(args, tmp) and ok
        return ok

    failed, ok = run_isolated("tui-gan-ws-bench-", parts)
    if failed is not None:
        return failed
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if load.contended:
        print(
            f"{load.contended} of {load.runs} measurements were CONTENDED (other processes kept >= "
            f"{load.CONTENDED} of a core busy): their figures say more about the machine than about tui-gan"
        )
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
