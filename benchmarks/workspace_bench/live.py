"""--part live: what the workspace open on JOBS live jobs costs them, and what it costs itself.

JOBS real jobs (tui_gan.jobs.launch.start_job, each its own detached process, as `tui-gan train
--detach` starts them) train ARCH on 10,000 synthetic digits with quality evaluations and
epoch checkpoints off, one torch thread each by default (--torch-threads): 8 jobs on a 2-core
machine share its two cores, and 8 OpenMP pools of 2 spinning threads would mostly measure the
pools fighting. Jobs register in a temporary runtime folder, so the workspace lists them and
nothing of the user's.

Then, in windows of WINDOW seconds, each job's images/s is read from its status (the same
message the workspace asks for): (step difference x batch) / (difference of its training clock
elapsed_s), both from the job's last Stats event, so the figure is exact whatever the flush
cadence. First without the workspace; then with `python -m tui_gan runs` on a 120x40
pseudo-terminal, once its list shows every job live, three of them are selected (space) and the
compare pane pages to the loss charts (v v), which move as the jobs train and are redrawn every
5 s; then without it again; ROUNDS (3) times. Each job's ratio is its rate with the workspace
over the mean of its two rates without, on either side (the reference, measured in the same run,
so drift shows), the median over rounds; the target holds for the worst job.

The workspace process's CPU is read from /proc (utime + stime of all its threads, and of its
main thread alone) over the same window, as is each job's and this process's (which drains the
terminal and samples the load).
The terminal's bytes are drained, not parsed, while measuring; the screen is read before and
after. At the end every job is stopped with the control command (Stop with a final checkpoint,
as `tui-gan stop` sends it) and waited for; anything still alive after that is killed and said."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dashboard_bench.common import COLUMNS, LINES, ROOT, BenchError, first_line
from dashboard_bench.jobs import start_job_within
from dashboard_bench.processes import gone, kill_descendants, wait_gone
from dashboard_bench.terminal import Terminal, terminal_env

from . import load_note
from .screen import Screen, count_rows, runs_list_drawn

RATIO_TARGET = 0.90  # each job's images/s with the workspace over without
CORES_TARGET = 0.25  # the workspace process's CPU
COMPARED = 3
DOWN, SPACE = b"\x1b[B", b" "
BRAILLE = range(0x2800, 0x2900)  # plotext's lines


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) `pid` has used, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds of `pid`'s main thread (Textual's event loop: layout, rendering, writing) and of
    all its other threads together (the scan and compare workers, the input thread)."""
    main = rest = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended meanwhile: its time is lost to the split, not to the total
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(tid) == pid:
            main += used
        else:
            rest += used
    return main, rest


def switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of all `pid`'s threads so far: how often the
    workspace wakes up, and how often a job is preempted."""
    counts = [0, 0]
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                counts[0] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                counts[1] += int(line.split()[1])
    return counts[0], counts[1]


def job_config(args: argparse.Namespace, tmp: Path, i: int):
    from tui_gan.config import TrainConfig

    return TrainConfig(
        arch=args.arch,
        dataset="synthetic",
        synthetic_size=10_000,
        batch_size=args.batch,
        epochs=1_000_000,
        eval_every=0.0,
        checkpoint_every=0,
        runs_dir=str(tmp / "runs"),
        name=f"job-{i}",
        seed=i,
        device="cpu",
    ).validate()


def start_jobs(args: argparse.Namespace, tmp: Path) -> list:
    """args.jobs detached jobs, started together (each start is mostly imports and torch)."""
    if args.torch_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # the jobs inherit it; torch reads it
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [
                pool.submit(start_job_within, args.start_timeout, f"job-{i}", job_config(args, tmp, i))
                for i in range(args.jobs)
            ]
            return [f.result() for f in futures]
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)  # not the workspace's: numpy there keeps its default


def snapshot(jobs: list, ws_pid: int | None) -> dict:
    from tui_gan.jobs.client import query_status

    statuses = [query_status(job, 10.0) for job in jobs]
    for job, status in zip(jobs, statuses):
        if status is None or status.get("state") != "running":
            said = "no answer" if status is None else status.get("state")
            raise BenchError(f"{job.run_dir.name}: its job is not training ({said})")
    return {
        "t": time.monotonic(),
        "steps": [s["step"] for s in statuses],
        "clock": [s["elapsed_s"] for s in statuses],
        "job_cpu": [cpu_s(job.pid) or 0.0 for job in jobs],
        "ws_cpu": cpu_s(ws_pid) if ws_pid else None,
        "ws_threads": thread_cpu_s(ws_pid) if ws_pid else None,
        "ws_switches": sum(switches(ws_pid)) if ws_pid else None,
        "job_preempted": sum(switches(job.pid)[1] for job in jobs),
        "self_cpu": sum(os.times()[:2]),
    }


def window(args: argparse.Namespace, jobs: list, what: str, term: Terminal | None = None) -> dict:
    """Each job's images/s and the CPU of everyone over args.window seconds."""
    a = snapshot(jobs, term.pid if term else None)
    read_before = term.offset() if term else 0
    end = a["t"] + args.window
    while (left := end - time.monotonic()) > 0:
        if term is None:
            time.sleep(min(left, 0.5))
        else:
            term.read(min(left, 0.2))  # drained, not parsed: keeps this process out of the way
            if term.closed:
                raise BenchError(f"the workspace exited while measuring: {term.last_line()}")
    b = snapshot(jobs, term.pid if term else None)
    wall = b["t"] - a["t"]
    rates = []
    for i, job in enumerate(jobs):
        clock = b["clock"][i] - a["clock"][i]
        if clock <= 0 or b["steps"][i] <= a["steps"][i]:
            raise BenchError(f"{job.run_dir.name}: no steps in the {what} window")
        rates.append((b["steps"][i] - a["steps"][i]) * args.batch / clock)
    result = {
        "what": what,
        "rates": rates,
        "wall": wall,
        "job_cores": sum(y - x for x, y in zip(a["job_cpu"], b["job_cpu"])) / wall,
        "self_cores": (b["self_cpu"] - a["self_cpu"]) / wall,
        "ws_cores": None if term is None else (b["ws_cpu"] - a["ws_cpu"]) / wall,
        "ws_main_cores": None if term is None else (b["ws_threads"][0] - a["ws_threads"][0]) / wall,
        "ws_bytes_per_s": None if term is None else (term.offset() - read_before) / wall,
        "ws_wakeups": None if term is None else (b["ws_switches"] - a["ws_switches"]) / wall,
        "job_preempted": (b["job_preempted"] - a["job_preempted"]) / wall,
        "load": load_note(a["t"], b["t"]),
    }
    ws = ""
    if term is not None:
        ws = (
            f"; workspace {result['ws_cores']:.3f} cores ({result['ws_main_cores']:.3f} its event loop), "
            f"{result['ws_bytes_per_s'] / 1000:.1f} KB/s drawn, {result['ws_wakeups']:.0f} context switches/s"
        )
    print(
        f"  {what:24} total {sum(rates):8,.0f} img/s, per job {min(rates):,.0f}-{max(rates):,.0f}; "
        f"jobs {result['job_cores']:.2f} cores, preempted {result['job_preempted']:.0f}/s{ws}; "
        f"this process {result['self_cores']:.3f}{result['load']}",
        flush=True,
    )
    return result


class Workspace:
    """`python -m tui_gan runs` on a pseudo-terminal, its screen read as it draws."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        env = terminal_env(args)
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "tui_gan", "runs", "--runs-dir", str(tmp / "runs")]
        self.term = Terminal(command, env, keep=True, cwd=str(tmp))
        self.screen = Screen(COLUMNS, LINES)
        self.fed = 0

    def lines(self) -> list[str]:
        self.screen.feed(bytes(self.term.all[self.fed :]))
        self.fed = len(self.term.all)
        return self.screen.lines()

    def wait(self, what: str, done, seconds: float) -> float:
        end = time.monotonic() + seconds
        while not done(self.lines()):
            if time.monotonic() > end:
                lines = self.lines()
                raise BenchError(
                    f"the workspace: no {what} after {seconds:.0f} s ({count_rows(lines)} rows on screen; "
                    f"status line: {lines[0].strip()[:120]!r})"
                )
            if self.term.exited():
                raise BenchError(f"the workspace exited: {self.term.last_line()}")
            self.term.read(0.1)
        return time.monotonic()

    def press(self, key: bytes) -> None:
        self.term.press(key)
        for _ in range(3):
            self.term.read(0.05)

    def close(self) -> None:
        self.term.press(b"q")
        if not self.term.wait_exit(15.0):
            print("  the workspace did not exit 15 s after q: killed")
        self.term.kill()


def open_workspace(args: argparse.Namespace, tmp: Path, jobs: int) -> Workspace:
    """The workspace with every job listed live, COMPARED of them selected and the loss charts
    drawn; returns once it has drawn them."""
    ws = Workspace(args, tmp)
    try:
        t = ws.wait("list of the live jobs", lambda lines: runs_list_drawn(lines, jobs, jobs), 60.0)
        print(f"  the workspace listed all {jobs} jobs live {t - ws.term.started:.2f} s after it started")
        for i in range(COMPARED):
            if i:
                ws.press(DOWN)
            ws.press(SPACE)
        ws.wait(f"{COMPARED} runs selected", lambda lines: f"{COMPARED} selected" in lines[0], 20.0)
        ws.press(b"v")
        ws.press(b"v")

        def charts(lines: list[str]) -> bool:
            text = "\n".join(lines)
            return "D loss by step" in text and sum(ord(ch) in BRAILLE for ch in text) > 100

        ws.wait("loss charts of the selected runs", charts, 30.0)
    except BaseException:
        ws.term.kill()
        raise
    return ws


def stop_jobs(jobs: list) -> None:
    """Stop with a final checkpoint to every job through its socket, as `tui-gan stop` sends it;
    waits for each to end, then kills whatever is left."""
    from tui_gan.jobs import registry
    from tui_gan.jobs.client import send_command
    from tui_gan.training import commands as cmd

    for job in jobs:
        try:
            send_command(job, cmd.Stop(checkpoint=True))
        except (registry.JobError, OSError) as exc:
            print(f"  {job.run_dir.name}: Stop did not go: {first_line(exc)}")
    states, saved = [], 0
    for job in jobs:
        if wait_gone(job.pid, 180.0):
            states.append(registry.classify(job.run_dir).state)
            saved += (job.run_dir / "checkpoints" / job.arch / "latest.pt").is_file()
    left = sum(not gone(job.pid) for job in jobs)
    said = ", ".join(sorted(set(states))) or "none"
    print(f"  {len(states)} of {len(jobs)} jobs ended after Stop ({said}); {saved} final checkpoints written")
    if left:
        print(f"  {left} still ran 180 s after Stop: killed")
    kill_descendants()


def part_live(args: argparse.Namespace, tmp: Path) -> bool:
    started = time.monotonic()
    jobs = start_jobs(args, tmp)
    print(
        f"  {len(jobs)} jobs ({args.arch}, batch {args.batch}, {args.torch_threads or 'default'} torch "
        f"thread(s) each) serving {time.monotonic() - started:.1f} s after the first start; "
        f"settling {args.settle:.0f} s",
        flush=True,
    )
    try:
        time.sleep(args.settle)
        windows = [window(args, jobs, "without the workspace")]
        pairs = []
        for r in range(args.rounds):
            ws = open_workspace(args, tmp, len(jobs))
            try:
                end = time.monotonic() + args.settle  # the charts are drawn: into its cadence

                while time.monotonic() < end:
                    ws.term.read(0.2)
                with_ws = window(args, jobs, f"with the workspace #{r + 1}", ws.term)
                lines = ws.lines()
                status = lines[0]
                if args.dump:
                    Path(args.dump, f"live-{r + 1}.txt").write_text("\n".join(lines) + "\n")
                if f"{len(jobs)} runs ({len(jobs)} live)" not in status:
                    raise BenchError(
                        f"the workspace no longer lists every job live: {status.strip()[:120]!r}"
                    )
            finally:
                ws.close()
            windows.append(with_ws)
            windows.append(window(args, jobs, "without the workspace"))
            pairs.append((windows[-3], with_ws, windows[-1]))
    finally:
        stop_jobs(jobs)
    return report(args, jobs, pairs)


def report(args: argparse.Namespace, jobs: list, pairs: list) -> bool:
    """Per job and round: its images/s with the workspace over the mean of its two windows
    without; the median over rounds is the job's figure. Per round, the same for all jobs
    together, and images per CPU-second of the jobs: when that moves as much as images/s, the
    machine changed under the jobs (another process, the host), not their share of the cores."""
    print()
    print(f"{'job':8} " + " ".join(f"{f'round {r + 1}':>8}" for r in range(len(pairs))) + f" {'median':>8}")
    ratios = []
    for i in range(len(jobs)):
        mine = [w["rates"][i] / ((b["rates"][i] + a["rates"][i]) / 2) for b, w, a in pairs]
        ratios.append(statistics.median(mine))
        print(f"{f'job-{i}':8} " + " ".join(f"{m:8.0%}" for m in mine) + f" {ratios[-1]:8.0%}")
    totals = []
    for r, (b, w, a) in enumerate(pairs):
        totals.append(sum(w["rates"]) / ((sum(b["rates"]) + sum(a["rates"])) / 2))
        per_core = [sum(x["rates"]) / x["job_cores"] for x in (b, w, a)]
        print(
            f"round {r + 1}: all jobs {totals[-1]:.0%}; jobs' cores {b['job_cores']:.2f} / "
            f"{w['job_cores']:.2f} / {a['job_cores']:.2f}, images per job CPU-second "
            + " / ".join(f"{c:,.0f}" for c in per_core)
            + " (before / with / after)"
        )
    ws_cores = statistics.median(w["ws_cores"] for _, w, _ in pairs)
    worst = min(ratios)
    ok_rate, ok_cores = worst >= RATIO_TARGET, ws_cores <= CORES_TARGET
    verdict = {True: "met", False: "NOT met"}
    windows = {id(x): x for pair in pairs for x in pair}.values()
    contended = sum("CONTENDED" in x["load"] for x in windows)
    caveat = f" ({contended} of {len(windows)} windows CONTENDED: see above)" if contended else ""
    print(
        f"each job with the workspace over without (median over {len(pairs)} rounds): worst "
        f"{worst:.0%}, median {statistics.median(ratios):.0%}; all jobs together "
        f"{statistics.median(totals):.0%}; target >= {RATIO_TARGET:.0%} for each: {verdict[ok_rate]}{caveat}"
    )
    print(
        f"the workspace process: {ws_cores:.3f} cores (median over rounds) while listing {len(jobs)} "
        f"live jobs and comparing {COMPARED}; target <= {CORES_TARGET}: {verdict[ok_cores]}"
    )
    return ok_rate and ok_cores
