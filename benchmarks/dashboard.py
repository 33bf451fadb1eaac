"""What watching costs training: the dashboard on a real terminal, plain viewers attached to a
job, and how long `tui-gan attach` takes to show a long run. Each figure is measured against a
reference taken in the same run.

Training runs as a user's does: in a job (tui_gan/jobs), a background process started with
`start_job`, driving the same instrumented Engine subclass (benchmarks/timed_engine.py: it
writes when each step ended, when it emitted each state change, and its threads' CPU) on the
same data (the shared MNIST test split when present, else 10,000 synthetic digits), with
quality evaluations off (eval_every=0) and checkpoints only at the end (checkpoint_every=0), in
a run folder of its own under a temporary runs_dir. Jobs register in a temporary runtime folder
(TUI_GAN_RUNTIME_DIR), removed at the end.

The modes, each in a module of its own under benchmarks/dashboard_bench/, whose docstring says
what it measures and prints:
  --mode dashboard  mode_dashboard.py: the real TuiGanApp on a pseudo-terminal against the same
                    steps headless, and the latency of the space key's pause.
  --mode viewers    mode_viewers.py: a headless job with 0, 1 and 3 plain viewers attached.
  --mode attach     mode_attach.py: how long `tui-gan attach` takes to draw a long run.
The rest of the package: children.py and prepare_history.py (what the --child processes run),
headless.py (jobs with no dashboard), jobs.py (starting jobs and children), terminal.py (the
pty), measures.py (the figures), machine_load.py (CONTENDED runs), processes.py (cleanup).

images/s = (steps after the first --warmup ones) x batch / (wall time from the end of step
`warmup` to the end of the last step, minus the time between the engine's "paused" and
"running" events). Startup, data loading and the pauses are excluded, the same way for all.
time.monotonic() is CLOCK_MONOTONIC, shared by all processes, so the job's timestamps, the
app's and this process's key presses and byte arrivals compare directly.

    python benchmarks/dashboard.py [--mode {dashboard,viewers,attach,all}] [--arch simple --arch mlp]
        [--steps N] [--repeats 2] [--pauses 3] [--viewers 0,1,3] [--attaches 5] [--history 100000]

Every run prints how many cores each thread kept busy while training (read from /proc: the
engine thread, torch's OpenMP pool and the event loop in the job's process; the UI thread and
the others in the app's), which shows where the cost goes, and how many cores processes that are
not ours kept busy meanwhile (sampled from /proc twice a second): a run where they took a
quarter of a core or more is marked CONTENDED, as on a shared 2-core machine another process
taking a core can slow training several times over (torch's OpenMP pool waits for its second
thread). Exits non-zero with a one-line error when a child crashes or times out; every
process it started (jobs included: this process adopts orphans as a child subreaper) is killed
on the way out.

Diagnostics: --torch-threads N and --switch-interval MS set torch.set_num_threads and
sys.setswitchinterval in the engine (and the app's process); --truecolor adds
COLORTERM=truecolor; --dump DIR keeps each pty run's raw terminal output for analysis.
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
from bench_data import SHARED_MNIST, mnist_here  # noqa: E402
from dashboard_bench import machine_load  # noqa: E402
from dashboard_bench.children import child_dashboard, child_viewer  # noqa: E402
from dashboard_bench.common import BATCH, COLUMNS, DEFAULT_STEPS, LINES  # noqa: E402
from dashboard_bench.mode_attach import mode_attach  # noqa: E402
from dashboard_bench.mode_dashboard import mode_dashboard  # noqa: E402
from dashboard_bench.mode_viewers import mode_viewers  # noqa: E402
from dashboard_bench.prepare_history import child_prepare  # noqa: E402
from dashboard_bench.processes import become_subreaper, run_isolated  # noqa: E402

# torch and Textual are imported in the children only (this process starts jobs with
# tui_gan.jobs.launch and reads them with tui_gan.jobs.client, which import neither): it spawns
# them, reads the terminal and presses keys, and stays out of the way of the cores.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        choices=("dashboard", "viewers", "attach", "all"),
        default="all",
        help="what to measure (default: all three)",
    )
    parser.add_argument(
        "--arch",
        action="append",
        help="architecture for dashboard and viewers (repeatable; default: simple and mlp)",
    )
    parser.add_argument("--steps", type=int, help=f"steps per run (default per arch: {DEFAULT_STEPS})")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs per measurement (dashboard/headless pairs, rounds of viewer counts)",
    )
    parser.add_argument(
        "--pauses", type=int, default=3, help="space-key pause/resume cycles per dashboard run"
    )
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of training before each pause")
    parser.add_argument("--hold", type=float, default=0.3, help="seconds to stay paused")
    parser.add_argument("--warmup", type=int, default=10, help="first steps left out of the timing")
    parser.add_argument(
        "--viewers", default="0,1,3", help="viewer counts to time (default 0,1,3; 0 is always run)"
    )
    parser.add_argument(
        "--attaches", type=int, default=5, help="attaches to time (each of JobClient and tui-gan attach)"
    )
    parser.add_argument("--history", type=int, default=100_000, help="steps of history in the attached run")
    parser.add_argument(
        "--attach-arch", default="simple", help="architecture of the attached run (default simple)"
    )
    parser.add_argument(
        "--attach-paused", action="store_true", help="pause the attached job first (default: training)"
    )
    parser.add_argument(
        "--attach-timeout", type=float, default=30.0, help="seconds an attach may take to a full frame"
    )
    parser.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--torch-threads", type=int, help="torch.set_num_threads in the jobs (default: torch's)"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        metavar="MS",
        help="sys.setswitchinterval in the jobs and the app, in ms (default: Python's 5 ms)",
    )
    parser.add_argument(
        "--truecolor", action="store_true", help="also set COLORTERM=truecolor (more bytes per colour)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one child run may take")
    parser.add_argument(
        "--quit-timeout", type=float, default=30.0, help="seconds to wait for exit after q or d"
    )
    parser.add_argument("--dump", metavar="DIR", help="save each pty run's raw terminal output here")
    parser.add_argument("--child", choices=("dashboard", "viewer", "prepare"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--status-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        args.arch = (args.arch or ["simple"])[0]
        return {"dashboard": child_dashboard, "viewer": child_viewer, "prepare": child_prepare}[args.child](
            args
        )

    try:
        args.viewers = [int(n) for n in args.viewers.split(",") if n.strip()]
    except ValueError:
        parser.error("--viewers takes counts separated by commas, e.g. 0,1,3")
    if args.attaches < 1 or args.repeats < 1:
        parser.error("--attaches and --repeats must be at least 1")
    archs = args.arch or ["simple", "mlp"]
    modes = ("dashboard", "viewers", "attach") if args.mode == "all" else (args.mode,)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: kill the children
    become_subreaper()
    load = machine_load.start()
    print(
        f"{os.cpu_count()} CPUs; terminal {COLUMNS}x{LINES} TERM=xterm-256color"
        f"{' COLORTERM=truecolor' if args.truecolor else ''}; quality evaluations off; batch {BATCH}; "
        f"{args.repeats} repeats, best images/s kept"
    )
    mnist = mnist_here(args.dataset)
    print(
        f"data: {f'MNIST test split from {SHARED_MNIST}' if mnist else '10,000 synthetic digits'}; "
        f"torch threads: {args.torch_threads or 'torch default'}; "
        f"GIL switch interval: {f'{args.switch_interval:g} ms' if args.switch_interval else 'default'}"
    )
    print(
        f"load average at the start: {os.getloadavg()[0]:.2f} "
        "(other work on this machine takes cores from training)"
    )

    def run_modes(tmp: Path) -> None:
        for mode in modes:
            print(f"\n== {mode}", flush=True)
            {
                "dashboard": lambda: mode_dashboard(args, archs, tmp),
                "viewers": lambda: mode_viewers(args, archs, tmp),
                "attach": lambda: mode_attach(args, tmp),
            }[mode]()

    failed, _ = run_isolated("tui-gan-bench-", run_modes)
    if failed is not None:
        return failed
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if load.contended:
        print(
            f"{load.contended} of {load.runs} runs were CONTENDED (other processes kept >= "
            f"{load.CONTENDED} of a core busy while they trained): their figures say more about the machine "
            f"than about tui-gan; the best-of figures are meant to pick uncontended runs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
