"""--mode dashboard: the same steps headless and inside the real TuiGanApp, alternating.

  headless   a job with no viewer: `start_job(..., engine_class="timed_engine:TimedEngine")`
             from this process; it ends when its steps are done.
  dashboard  `python benchmarks/dashboard.py --child dashboard ...` on a real pseudo-terminal
             (pty.fork, 120x40 via TIOCSWINSZ, TERM=xterm-256color) running TuiGanApp.run() with
             Textual's real Linux driver. Its engine_factory does what a user's does
             (job_engine_factory): a JobClient whose start() is `start_job(..., linger=True)`,
             here with the TimedEngine; the client notes when the app handed it a TogglePause,
             and the app's side notes the Stats it got. This process reads the pty master the
             whole time (a terminal that keeps up), counting every byte the dashboard writes.
             After training has run a while it writes a real space byte to the master (the real
             key path: tty -> driver -> binding -> action_toggle_pause -> JobClient -> socket ->
             job -> engine), N times pause/resume, lets the steps finish, then presses `q` (which
             stops the job) and waits for a clean exit of both.
Prints the best images/s headless and in the dashboard over --repeats runs and their ratio
(target >= 90%), the median ratio of adjacent runs, the bytes/s written to the terminal while
training (median of the runs' averages, and the peak second), and the latency from the space
byte to the app handing TogglePause to the client, to the engine emitting "paused", and to
"paused" appearing in the terminal output (median and max over every pause of every run;
target <= 250 ms for key -> paused)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from .common import DEFAULT_STEPS, BenchError, read_child_result
from .headless import run_job
from .jobs import check_result, child_command
from .measures import cpu_use, images_per_s, load_note, ms, pause_windows, training_window
from .processes import kill, kill_descendants, wait_gone
from .terminal import Terminal, dump_path, terminal_env


def run_dashboard(args: argparse.Namespace, arch: str, steps: int, tmp: Path) -> tuple[dict, dict]:
    """Returns (the child's results, what this side saw: byte arrivals, key presses, screen times)."""
    path = tmp / f"dashboard-{arch}-{time.monotonic_ns()}.json"
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, True)
    term = Terminal(
        child_command("dashboard", args, arch, steps, path, status_w),
        terminal_env(args),
        dump_path(args, f"dashboard-{arch}"),
    )
    os.close(status_w)
    deadline = time.monotonic() + args.timeout
    lines: list[list[str]] = []
    pending = b""
    status_open = [True]
    job_pid: list[int] = []

    def pump(seconds: float) -> None:
        nonlocal pending
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(
                    f"dashboard {arch}: timed out after {args.timeout:.0f} s ({term.last_line()})"
                )
            for fd in term.read(min(left, 0.05), [status_r] if status_open else []):
                data = os.read(fd, 65536)
                if not data:  # the child closed its end: it is exiting
                    status_open.clear()
                pending += data
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    words = line.decode().split(" ", 3)
                    lines.append(words)
                    if words[0] == "job":
                        job_pid.append(int(words[1]))
                    elif words[0] == "failed":
                        raise BenchError(f"dashboard {arch}: training failed: {' '.join(words[1:])}")
            if term.exited():
                return

    def wait_for(what: str, test, seconds: float, since: int = 0) -> list[str]:
        """Pump until a status line from index `since` on passes `test`; the first such line."""
        end = time.monotonic() + seconds
        checked = since
        while True:
            for line in lines[checked:]:
                if test(line):
                    return line
            checked = len(lines)
            if term.exited():
                raise BenchError(
                    f"dashboard {arch}: exited with status {term.exit_status} while waiting for {what} "
                    f"({why_exited()})"
                )
            if time.monotonic() > end:
                raise BenchError(f"dashboard {arch}: no {what} after {seconds:.0f} s ({term.last_line()})")
            pump(0.05)

    def why_exited() -> str:
        try:
            return json.loads(path.read_text())["error"]
        except (OSError, ValueError, KeyError):
            return term.last_line()

    seen: dict = {"keys": [], "screen_paused": []}
    try:
        first = float(wait_for("first training step", lambda line: line[0] == "first", args.timeout)[1])
        ready_at = first + args.settle
        for _ in range(args.pauses):
            pump(max(0.0, ready_at - time.monotonic()))
            if any(line[0] == "state" and line[1] == "finished" for line in lines):
                break  # training ended before every pause was taken: report the ones we have
            mark, where = len(lines), term.offset()
            t_key = term.press(b" ")
            seen["keys"].append(t_key)
            wait_for(
                "'paused' from the engine",
                lambda line: line[0] == "state" and line[1] == "paused",
                10.0,
                mark,
            )
            # the user sees the pause when the status line repaints; give it up to 5 s
            end = time.monotonic() + 5.0
            screen = None
            while time.monotonic() < end and screen is None:
                if term.find(b"paused", where):
                    screen = term.chunks[-1][0] - t_key
                else:
                    pump(0.005)
            seen["screen_paused"].append(screen)
            pump(args.hold)
            mark = len(lines)
            term.press(b" ")
            wait_for(
                "'running' after resuming",
                lambda line: line[0] == "state" and line[1] != "paused",
                10.0,
                mark,
            )
            ready_at = time.monotonic() + args.settle
        wait_for("end of training", lambda line: line[0] == "state" and line[1] == "finished", args.timeout)
        pump(0.5)  # the final repaint
        term.press(b"q")
        if not term.wait_exit(args.quit_timeout, pump):
            raise BenchError(
                f"dashboard {arch}: still running {args.quit_timeout:.0f} s after q ({term.last_line()})"
            )
        if term.exit_status != 0:
            raise BenchError(f"dashboard {arch}: exited with status {term.exit_status} ({why_exited()})")
        if job_pid and not wait_gone(job_pid[0], args.quit_timeout):
            raise BenchError(
                f"dashboard {arch}: its job (pid {job_pid[0]}) still runs {args.quit_timeout:.0f} s "
                f"after q stopped it (killed)"
            )
    finally:
        term.kill()
        os.close(status_r)
        for pid in job_pid:
            kill(pid)
        kill_descendants()
    seen["chunks"] = term.chunks
    return check_result(read_child_result(path, f"dashboard {arch}"), f"dashboard {arch}", steps), seen


def terminal_rates(result: dict, seen: dict, warmup: int) -> tuple[float, float]:
    """(average bytes/s while training, pauses excluded; most bytes in any 1 s of training)."""
    start, end, seconds, _ = training_window(result, warmup)
    chunks = [(t, n) for t, n in seen["chunks"] if start <= t <= end]
    windows = pause_windows(result["engine_states"])
    trained = sum(n for t, n in chunks if not any(a <= t <= b for a, b in windows))
    bins: dict[int, int] = {}
    for t, n in chunks:
        bins[int(t - start)] = bins.get(int(t - start), 0) + n
    full = [v for k, v in bins.items() if start + k + 1 <= end]  # whole seconds only
    return trained / seconds, max(full or [0])


def latencies(result: dict, seen: dict) -> tuple[list[float], list[float], list[float]]:
    """Per pause: key -> the app's TogglePause to the client, key -> the engine emitting "paused",
    key -> "paused" on screen."""
    paused = [t for t, state, _ in result["engine_states"] if state == "paused"]
    to_app, to_engine = [], []
    for t_key in seen["keys"]:
        later = [t for t in result["toggles"] if t >= t_key]
        if later:
            to_app.append(later[0] - t_key)
        later = [t for t in paused if t >= t_key]
        if later:
            to_engine.append(later[0] - t_key)
    return to_app, to_engine, [s for s in seen["screen_paused"] if s is not None]


def mode_dashboard(args: argparse.Namespace, archs: list[str], tmp: Path) -> bool:
    rows = []
    for arch in archs:
        steps = args.steps or DEFAULT_STEPS.get(arch, 300)
        runs = {"headless": [], "dashboard": []}
        avg_rates, peaks, to_app, to_engine, to_screen, engine_says = [], [], [], [], [], []
        for r in range(args.repeats):
            result, seen = run_dashboard(args, arch, steps, tmp)
            rate = images_per_s(result, args.warmup)
            runs["dashboard"].append(rate)
            avg, peak = terminal_rates(result, seen, args.warmup)
            avg_rates.append(avg)
            peaks.append(peak)
            a, e, s = latencies(result, seen)
            to_app += a
            to_engine += e
            to_screen += s
            said = [ips for _, ips, step in result["stats"] if ips > 0 and step > args.warmup]
            engine_says.append(statistics.median(said) if said else 0.0)
            print(
                f"  {arch:7} dashboard #{r + 1}: {rate:8,.0f} img/s (its Stats say {engine_says[-1]:,.0f}), "
                f"terminal {avg / 1000:6.1f} KB/s avg, {peak / 1000:6.1f} KB/s peak, "
                f"key->paused {', '.join(f'{x * 1000:.0f}' for x in e) or '-'} ms",
                flush=True,
            )
            print(f"  {'':7}   CPU while training: {cpu_use(result)}{load_note(result, args.warmup)}")
            result = run_job(args, arch, steps, tmp)
            runs["headless"].append(images_per_s(result, args.warmup))
            print(f"  {arch:7} headless  #{r + 1}: {runs['headless'][-1]:8,.0f} img/s", flush=True)
            print(f"  {'':7}   CPU while training: {cpu_use(result)}{load_note(result, args.warmup)}")
        pairs = statistics.median(d / h for d, h in zip(runs["dashboard"], runs["headless"]))
        rows.append(
            (
                arch,
                steps,
                max(runs["headless"]),
                max(runs["dashboard"]),
                pairs,
                statistics.median(avg_rates),
                max(peaks),
                to_app,
                to_engine,
                to_screen,
            )
        )

    print()
    print(
        f"{'arch':8} {'steps':>6} {'headless':>9} {'dashboard':>9} {'ratio':>6} {'pairs':>6}   "
        f"{'term KB/s':>9} "
        f"{'peak':>6}   {'key->app ms':>12} {'key->paused ms':>14} {'key->screen ms':>14}"
    )
    print(
        f"{'':8} {'':>6} {'img/s':>9} {'img/s':>9} {'>=90%':>6} {'median':>6}   {'avg':>9} {'KB/s':>6}   "
        f"{'med   max':>12} {'med   max':>14} {'med   max':>14}"
    )
    best_ok = pairs_ok = latency_ok = True
    for arch, steps, headless, dash, pairs, avg, peak, to_app, to_engine, to_screen in rows:
        ratio = dash / headless
        best_ok = best_ok and ratio >= 0.9
        pairs_ok = pairs_ok and pairs >= 0.9
        latency_ok = latency_ok and bool(to_engine) and max(to_engine) <= 0.25
        print(
            f"{arch:8} {steps:6} {headless:9,.0f} {dash:9,.0f} {ratio:6.0%} {pairs:6.0%}   {avg / 1000:9.1f} "
            f"{peak / 1000:6.1f}   {ms(to_app):>12} {ms(to_engine):>14} {ms(to_screen):>14}"
        )
    print(
        "ratio: best dashboard run over best headless run; pairs: the median of each dashboard run over the "
        "headless run right after it (a shared machine's speed drifts between runs)"
    )
    verdict = {True: "met", False: "NOT met"}
    print(
        f"targets: dashboard >= 90% of headless images/s: {verdict[best_ok]} by the best runs, "
        f"{verdict[pairs_ok]} by the adjacent pairs; key->paused <= 250 ms: {verdict[latency_ok]}"
    )
    return best_ok
