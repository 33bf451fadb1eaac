"""--mode attach: how long attaching to a long run takes.

A `--child prepare` process (prepare_history.py) makes a run folder with --history (100,000)
steps of history in it. A job resumes that checkpoint in that folder (start_job(resume=...,
run_dir=...)) and keeps training (or, with --attach-paused, is paused first). Then:
- JobClient: setup() (connect, hello, welcome) until the Replay event is decoded, in this
  process (imports done beforehand), --attaches times.
- `python -m tui_gan attach RUN_DIR` on a 120x40 pty, --attaches times, each timed from just
  before the fork to its first *full frame* (full_frame.py says what that is). Each attach then
  detaches with `d`; the job trains on.
Prints the median and max of both (target for the attach command: < 1 s), the times to the
first byte and to each of the three parts, and the Replay's size."""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import machine_load
from .common import ENGINE_CLASS, ROOT, BenchError, first_line, read_child_result
from .full_frame import FullFrame
from .jobs import (
    CountingSocket,
    bench_config,
    child_command,
    job_log_tail,
    reading,
    start_job_within,
    timed_kwargs,
)
from .measures import ms
from .prepare_history import PREPARE_STEPS
from .processes import gone, kill, kill_descendants, wait_gone
from .terminal import Terminal, dump_path, terminal_env


def time_attach(
    args: argparse.Namespace, run_dir: Path, arch: str, min_step: int, min_grid: int, tmp: Path, n: int
) -> dict:
    """`python -m tui_gan attach RUN_DIR` on a pty: seconds from the fork to the first full
    frame (and to the first byte and each part); then `d` detaches it."""
    env = terminal_env(args)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    frame = FullFrame(arch, min_step, min_grid)
    term = Terminal(
        [sys.executable, "-m", "tui_gan", "attach", str(run_dir)],
        env,
        dump_path(args, f"attach-{n}"),
        keep=True,
        cwd=str(tmp),
    )
    t0 = term.started
    try:
        end = t0 + args.attach_timeout
        done = False
        while not done:
            if time.monotonic() > end:
                raise BenchError(
                    f"attach #{n}: no full frame after {args.attach_timeout:.0f} s (missing: "
                    f"{frame.missing()}; {term.last_line()})"
                )
            before = len(term.all)
            term.read(0.05)
            if len(term.all) > before:
                done = frame.feed(term.all, term.chunks[-1][0])
            if term.exited():
                raise BenchError(
                    f"attach #{n}: exited with status {term.exit_status} before a full frame "
                    f"({term.last_line()})"
                )
        out = {
            "t0": t0,
            "frame": max(frame.at.values()) - t0,
            "first_byte": term.chunks[0][0] - t0,
            **{part: t - t0 for part, t in frame.at.items()},
        }
        settle = time.monotonic() + 0.3
        while time.monotonic() < settle:
            term.read(0.05)
        term.press(b"d")  # detach: the job trains on
        if not term.wait_exit(args.quit_timeout):
            raise BenchError(
                f"attach #{n}: still running {args.quit_timeout:.0f} s after d ({term.last_line()})"
            )
        if term.exit_status != 0:
            raise BenchError(
                f"attach #{n}: exited with status {term.exit_status} after d ({term.last_line()})"
            )
        return out
    finally:
        term.kill()


def time_client(info, n: int) -> tuple[float, float, int]:
    """JobClient.setup() until its Replay is decoded: (when it began, seconds, bytes read after
    the welcome)."""
    from tui_gan.jobs import protocol as proto
    from tui_gan.jobs.client import JobClient

    got = threading.Event()
    chunks: list = []
    replay_bytes = [0]

    def emit(event) -> None:
        if isinstance(event, proto.Replay) and not got.is_set():
            replay_bytes[0] = sum(c for _, c in chunks)
            got.set()

    t0 = time.monotonic()
    client = JobClient(emit, info=info)
    try:
        client.setup()
    except Exception as exc:
        raise BenchError(f"JobClient #{n}: {first_line(exc)}") from None
    client.sock = CountingSocket(client.sock, chunks)
    with reading(client):
        if not got.wait(30.0):
            raise BenchError(f"JobClient #{n}: no Replay within 30 s")
        seconds = time.monotonic() - t0
    return t0, seconds, replay_bytes[0]


def mode_attach(args: argparse.Namespace, tmp: Path) -> bool:
    from tui_gan.jobs import client as job_client
    from tui_gan.jobs import registry

    arch = args.attach_arch
    path = tmp / f"prepare-{time.monotonic_ns()}.json"
    command = child_command("prepare", args, arch, PREPARE_STEPS, path)
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"attach: preparing {args.history:,} steps of history took over {args.timeout:.0f} s (killed)"
        ) from None
    if not path.exists():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"attach: the preparing child exited with status {done.returncode}: {last}")
    prepared = read_child_result(path, "attach: preparing")
    if "error" in prepared:
        raise BenchError(f"attach: preparing failed: {prepared['error']}")
    run_dir = Path(prepared["run_dir"])
    print(
        f"  prepared {run_dir.name}: {prepared['step']:,} steps of history "
        f"({prepared['steps_per_epoch']} steps/epoch), "
        f"{prepared['grids']} sample grids of {prepared['grid_bytes'] / 1000:.0f} KB, newest at step "
        f"{prepared['last_grid']:,}",
        flush=True,
    )
    config = bench_config(arch, None, args.dataset, args.device, tmp / "runs-attach")
    info = None
    try:
        t0 = time.monotonic()
        info = start_job_within(
            args.timeout,
            "attach",
            config,
            resume=prepared["checkpoint"],
            run_dir=str(run_dir),
            linger=False,
            engine_class=ENGINE_CLASS,
            engine_kwargs=timed_kwargs(args, tmp / "attach-job.timing"),
        )
        print(
            f"  the job resumed it in {time.monotonic() - t0:.1f} s "
            "(start_job: process start, imports, data, "
            f"checkpoint, history)",
            flush=True,
        )
        if args.attach_paused:
            pause_job(info)
        time.sleep(2.0)  # past the resume's first steps and grid
        status = job_client.query_status(info) or {}
        print(
            f"  job: {status.get('state', '?')} at step {status.get('step', 0):,}, "
            f"{status.get('images_per_s', 0):,.0f} img/s",
            flush=True,
        )

        clients, client_windows, replay_bytes = [], [], 0
        for n in range(args.attaches):
            t0, seconds, replay_bytes = time_client(info, n + 1)
            clients.append(seconds)
            client_windows.append((t0, t0 + seconds))
            time.sleep(0.3)
        print(
            f"  JobClient setup() -> Replay decoded: {', '.join(f'{s * 1000:.0f}' for s in clients)} ms "
            f"(Replay {replay_bytes / 1e6:.1f} MB)",
            flush=True,
        )

        attaches = []
        for n in range(args.attaches):
            status = job_client.query_status(info)
            if status is None:
                raise BenchError(f"attach #{n + 1}: the job does not answer ({job_log_tail(info.run_dir)})")
            one = time_attach(args, run_dir, arch, status["step"], prepared["last_grid"], tmp, n + 1)
            attaches.append(one)
            print(
                f"  tui-gan attach #{n + 1}: full frame after {one['frame'] * 1000:.0f} ms (first byte "
                f"{one['first_byte'] * 1000:.0f}, status {one['status'] * 1000:.0f}, losses "
                f"{one['losses'] * 1000:.0f}, samples {one['samples'] * 1000:.0f}) "
                f"at job step {status['step']:,}"
                f"{machine_load.note(one['t0'], one['t0'] + one['frame'])}",
                flush=True,
            )
            time.sleep(0.5)
        if job_client.query_status(info) is None:
            raise BenchError("attach: the job is gone after the attaches detached")
    finally:
        if info is not None and not gone(info.pid):
            os.kill(info.pid, signal.SIGTERM)  # stops at the next step with a final checkpoint
            if not wait_gone(info.pid, 30.0):
                kill(info.pid)
        kill_descendants()
    ended = registry.read_job(run_dir)
    try:
        pauses = json.loads((tmp / "attach-job.timing").read_text()).get("gc_pauses", [])
    except (OSError, ValueError):
        pauses = None

    def gc_in(windows: list[tuple[float, float]]) -> str:
        """The job's full garbage collections that overlapped these attaches."""
        if pauses is None:
            return "(no timing from the job)"
        hit = [(a, b) for a, b in pauses if any(a < end and a + b > start for start, end in windows)]
        return f"{len(hit)} of {len(windows)} overlapped a full garbage collection in the job" + (
            f" ({', '.join(f'{b * 1000:.0f}' for _, b in hit)} ms)" if hit else ""
        )

    frames = [a["frame"] for a in attaches]
    print()
    print(
        f"attach to a {'paused' if args.attach_paused else 'training'} {arch} job "
        f"with {args.history:,} steps "
        f"of history ({prepared['grids']} sample grids; Replay {replay_bytes / 1e6:.1f} MB):"
    )
    print(f"  {'':34} {'median':>6}{'max':>6}")
    print(f"  {'JobClient setup() -> Replay ms':34} {ms(clients)}")
    for label, key in (
        ("tui-gan attach -> first byte ms", "first_byte"),
        ("  -> status line ms", "status"),
        ("  -> loss panel ms", "losses"),
        ("  -> samples panel ms", "samples"),
        ("  -> full frame ms", "frame"),
    ):
        print(f"  {label:34} {ms([a[key] for a in attaches])}")
    print(
        f"  JobClient attaches: {gc_in(client_windows)}; tui-gan attaches: "
        f"{gc_in([(a['t0'], a['t0'] + a['frame']) for a in attaches])}"
    )
    if pauses:
        print(
            f"  the job's full garbage collections: {len(pauses)} in its life, median "
            f"{statistics.median(b for _, b in pauses) * 1000:.0f} ms, "
            f"max {max(b for _, b in pauses) * 1000:.0f} ms "
            f"(every thread waits, training too)"
        )
    ok = max(frames) < 1.0
    print(
        f"target: attach -> full frame < 1 s: {'met' if ok else 'NOT met'} (max {max(frames) * 1000:.0f} ms, "
        f"median {statistics.median(frames) * 1000:.0f} ms over {len(frames)}); the job ended "
        f"{ended.state if ended else '?'} (exit code {ended.exit_code if ended else '?'})"
    )
    return ok


def pause_job(info) -> None:
    """Pause the job through a viewer that then detaches (the job stays paused)."""
    from tui_gan.jobs.client import JobClient
    from tui_gan.training import commands as cmd
    from tui_gan.training import events as ev

    paused = threading.Event()
    client = JobClient(
        lambda e: isinstance(e, ev.StateChanged) and e.state == "paused" and paused.set(), info=info
    )
    client.setup()
    with reading(client):
        client.send(cmd.Pause())
        if not paused.wait(30.0):
            raise BenchError("attach: the job did not pause")
