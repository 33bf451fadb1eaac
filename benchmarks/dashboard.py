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

--mode dashboard: the same steps headless and inside the real TuiGanApp, alternating.
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
  target <= 250 ms for key -> paused).

--mode viewers: a headless job with 0, 1 and 3 (--viewers) viewers attached, in rotating order.
  Each viewer is `python benchmarks/dashboard.py --child viewer`: a plain JobClient in a
  process of its own that decodes every event (protocol.decode_event, as a dashboard's client
  does) and counts the framed bytes it reads from the socket, but draws nothing. Plain readers
  and not real dashboards on ptys because this measures what *serving* costs the job (encoding
  each event, one queue and writer per viewer, the socket writes): a real dashboard also spends
  ~0.06-0.09 of a core drawing, and three of them on this 2-core machine would mostly measure
  three renderers taking CPU from training, which --mode dashboard already measures for one.
  The viewers are started (imports done) before the job; the TimedEngine waits for a gate file
  that this process creates once every viewer has its Replay, so all counts time the same
  steps. Prints images/s per count (best run) and its ratio to 0 viewers (target >= 90% with
  one, >= 85% with three), the median ratio of runs in the same round, the bytes/s each viewer
  read while training (and the Replay it got on attach), and the cores the job's event loop
  and each viewer process kept busy.

--mode attach: how long attaching to a long run takes.
  A `--child prepare` process trains --attach-arch a few steps in a run folder, then rewrites
  its checkpoint with --history (100,000) rows of loss history (step and epoch consistent with
  the dataset's steps per epoch), metrics.csv with the same rows, quality.csv with one
  evaluation per 3,000 steps, and the sample-history folder as a job that kept a grid every 100
  steps would have left it (SampleHistory's thinning: ~60-120 grids). A job resumes that
  checkpoint in that folder (start_job(resume=..., run_dir=...)) and keeps training (or, with
  --attach-paused, is paused first). Then:
  - JobClient: setup() (connect, hello, welcome) until the Replay event is decoded, in this
    process (imports done beforehand), --attaches times.
  - `python -m tui_gan attach RUN_DIR` on a 120x40 pty, --attaches times, each timed from just
    before the fork to its first *full frame*: the terminal output (escape sequences stripped)
    has shown (1) the status line's "step N ... img/s" with N at least the job's step as
    `tui-gan ls` reported it just before the attach, (2) the loss panel's "D loss <value> ema
    <value> range" (the history is in), and (3) the samples panel's title "samples · ARCH · step
    S" with S at least the newest prepared grid's step, its "n of m" subtitle and at least 500
    half-block digit cells. Each attach then detaches with `d`; the job trains on.
  Prints the median and max of both (target for the attach command: < 1 s), the times to the
  first byte and to each of the three parts, and the Replay's size.

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
import fcntl
import json
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import SHARED_MNIST, mnist_here  # noqa: E402 - benchmarks/ is sys.path[0]

# torch and Textual are imported in the children only (this process starts jobs with
# tui_gan.jobs.launch and reads them with tui_gan.jobs.client, which import neither): it spawns
# them, reads the terminal and presses keys, and stays out of the way of the cores.

BATCH = 128
COLUMNS, LINES = 120, 40
DEFAULT_STEPS = {"simple": 1000, "mlp": 360, "relu-mlp": 500, "mlp-bn-dropout": 360, "dcgan": 40}
ENGINE_CLASS = "timed_engine:TimedEngine"
PREPARE_STEPS = 20  # real steps before the history is rewritten (a checkpoint and sample grids to start from)
GRID_EVERY = 100  # steps between the sample grids of the prepared history (a grid a second at ~100 steps/s)
QUALITY_EVERY = 3000  # steps between the prepared quality evaluations (every 30 s at ~100 steps/s)
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
STATUS_STEP = re.compile(r"step ([\d,]+) +[\d,]+ img/s")
LOSS_LINE = re.compile(r"D loss +-?[\d.]+ +ema +-?[\d.]+ +range")
SAMPLES_SUBTITLE = re.compile(r"\d+ of \d+(?: · half size)? ─")
HALF_BLOCK = "\u2580"
FULL_FRAME_BLOCKS = 500


class BenchError(Exception):
    """Something the benchmark cannot measure through: reported in one line, exit status 1."""


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


# --- the processes we start --------------------------------------------------------------------
def become_subreaper() -> None:
    """Orphans below us (a job whose dashboard died) become our children, so the cleanup finds
    and kills them: jobs run in sessions of their own, out of reach of a process-group kill."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass  # not Linux: the pids we were told are killed one by one


def descendants() -> list[int]:
    """Every live process below this one (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = [], [os.getpid()]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        out += children
        frontier += children
    return out


def gone(pid: int) -> bool:
    """Whether `pid` has exited (reaping it when it is our child, adopted or not)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
    except ChildProcessError:
        pass  # not ours, or reaped already (subprocess reaps the Popen objects it dropped)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def kill(pid: int | None) -> None:
    if pid is None or gone(pid):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_gone(pid, 5.0)


def kill_descendants() -> None:
    """Whatever is left below us (a job that outlived its run, a stuck child), SIGKILLed and reaped."""
    for _ in range(3):  # a child's own children may be adopted by us as it dies
        pids = descendants()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            wait_gone(pid, 5.0)


class MachineLoad:
    """How many cores processes that are not ours kept busy, sampled twice a second in a thread:
    on a shared machine another process taking a core slows training (torch's OpenMP pool
    most of all), and this tells a contended run from a slow one. Ours: this process and every
    process below it."""

    CONTENDED = 0.25  # cores taken by others while training that mark a run as contended

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (when, others' CPU seconds so far)
        self.runs = self.contended = 0  # runs noted, and how many of them were contended
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine load", daemon=True)
        self._thread.start()

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields)) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for pid in [os.getpid(), *descendants()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def _run(self) -> None:
        try:
            busy, ours, others = self._busy(), self._ours(), 0.0
            self.samples.append((time.monotonic(), 0.0))
            while not self._stop.wait(self.interval):
                now_busy, now_ours = self._busy(), self._ours()
                mine = sum(v - ours.get(pid, 0.0) for pid, v in now_ours.items())
                others += max(0.0, now_busy - busy - mine)
                busy, ours = now_busy, now_ours
                self.samples.append((time.monotonic(), others))
        except OSError:
            pass  # no /proc: no figure

    def _at(self, t: float) -> float | None:
        before = [s for s in self.samples if s[0] <= t]
        after = [s for s in self.samples if s[0] >= t]
        if not before or not after:
            return None
        (t0, a), (t1, b) = before[-1], after[0]
        return a if t1 == t0 else a + (b - a) * (t - t0) / (t1 - t0)

    def others(self, start: float, end: float) -> float | None:
        """Cores others kept busy between two monotonic times (None when not sampled)."""
        a, b = self._at(start), self._at(end)
        return None if a is None or b is None or end <= start else (b - a) / (end - start)

    def note(self, start: float, end: float) -> str:
        cores = self.others(start, end)
        if cores is None:
            return ""
        self.runs += 1
        self.contended += cores >= self.CONTENDED
        return f"; other processes {cores:.2f} cores" + (" (CONTENDED)" if cores >= self.CONTENDED else "")

    def stop(self) -> None:
        self._stop.set()


LOAD: MachineLoad | None = None


def load_note(result: dict, warmup: int) -> str:
    if LOAD is None:
        return ""
    start, end, _, _ = training_window(result, warmup)
    return LOAD.note(start, end)


def start_job_within(seconds: float, what: str, config, **kwargs):
    """start_job (which waits for the job's answer without a time limit), limited to `seconds`."""
    from tui_gan.jobs.launch import start_job

    box: dict = {}

    def go() -> None:
        try:
            box["info"] = start_job(config, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    thread = threading.Thread(target=go, name="start_job", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        kill_descendants()  # the job that never answered: its pipe closes and start_job returns
        thread.join(5.0)
        raise BenchError(f"{what}: the job did not serve within {seconds:.0f} s (killed)")
    if "error" in box:
        raise BenchError(f"{what}: the job did not start: {first_line(box['error'])}")
    return box["info"]


def bench_config(arch: str, steps: int | None, dataset: str, device: str, runs_dir, **changes):
    from tui_gan.config import TrainConfig

    return TrainConfig(
        arch=arch, dataset="mnist" if mnist_here(dataset) else "synthetic", epochs=1_000_000, batch_size=BATCH,
        max_steps=steps, eval_every=0.0, checkpoint_every=0, device=device, runs_dir=str(runs_dir), seed=0, **changes,
    )


def timed_kwargs(args: argparse.Namespace, timing_path: Path, gate: Path | None = None) -> dict:
    """The TimedEngine's keyword arguments (JSON: they travel to the job over its stdin)."""
    kwargs = dict(data=args.dataset, warmup=args.warmup, timing_path=str(timing_path),
                  torch_threads=args.torch_threads, switch_interval_ms=args.switch_interval)
    if gate is not None:
        kwargs["start_gate"] = str(gate)
    return kwargs


class CountingSocket:
    """A JobClient's socket that notes when each chunk arrived and how many bytes it held."""

    def __init__(self, sock, chunks: list) -> None:
        self._sock = sock
        self.chunks = chunks

    def recv(self, n: int) -> bytes:
        data = self._sock.recv(n)
        if data:
            self.chunks.append((time.monotonic(), len(data)))
        return data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


# --- the children ----------------------------------------------------------------------------
def child_dashboard(args: argparse.Namespace) -> int:
    """The dashboard on this pty, its engine a job as a user's is; results as JSON to args.result."""
    result: dict = {"mode": "dashboard", "arch": args.arch, "steps": args.steps}
    status_fd = args.status_fd

    def status(line: str) -> None:  # one short line per event worth telling the parent about
        if status_fd is None:
            return
        try:
            os.write(status_fd, (line + "\n").encode())
        except OSError:
            pass  # the parent is gone: the pty hang-up ends us soon enough

    try:
        from timed_engine import thread_cpu  # noqa: I001 - benchmarks/ is sys.path[0]

        from tui_gan.jobs.client import JobClient
        from tui_gan.jobs.launch import start_job
        from tui_gan.training import commands as cmd
        from tui_gan.training import events as ev
        from tui_gan.ui.app import TuiGanApp

        states: list[tuple[float, str, int]] = []  # as they reached the app
        stats: list[tuple[float, float, int]] = []
        toggles: list[float] = []  # when the app handed TogglePause to the client (UI thread)
        failures: list[str] = []
        ui_cpu: list[tuple[float, dict]] = []  # the dashboard process's threads, while training

        def record(event) -> None:
            t = time.monotonic()
            if isinstance(event, ev.StateChanged):
                if event.state == "finished" and ui_cpu:
                    ui_cpu.append((t, thread_cpu()))
                states.append((t, event.state, event.step))
                status(f"state {event.state} {event.step} {t!r}")
            elif isinstance(event, ev.Stats):
                if not stats:
                    status(f"first {t!r}")
                if event.step > args.warmup and not ui_cpu:
                    ui_cpu.append((t, thread_cpu()))
                stats.append((t, event.images_per_s, event.step))
            elif isinstance(event, ev.Failed):
                failures.append(event.message)
                status(f"failed {event.message}")

        timing_path = Path(f"{args.result}.timing")
        config = bench_config(args.arch, args.steps, args.dataset, args.device, args.runs_dir)
        engine_kwargs = timed_kwargs(args, timing_path)
        if args.switch_interval:  # the UI process too
            sys.setswitchinterval(args.switch_interval / 1000)

        class TimedClient(JobClient):
            """The dashboard's viewer of its job, noting when the app hands it a pause."""

            def send(self, command) -> None:
                if isinstance(command, cmd.TogglePause):
                    toggles.append(time.monotonic())
                super().send(command)

            def setup(self) -> None:
                try:
                    super().setup()
                except Exception as exc:  # the dashboard would show it and wait: tell the parent
                    status(f"failed setup: {first_line(exc)}")
                    raise

        def engine_factory(config, emit, *, resume=None, **_):
            # exit_when_done and stats_interval are the job's business (linger=True, 0.5 s), as
            # in the app's own job_engine_factory
            def both(event) -> None:
                record(event)
                emit(event)

            def start(cancel):
                info = start_job(config, resume=resume, linger=True, engine_class=ENGINE_CLASS,
                                 engine_kwargs=engine_kwargs, cancel=cancel)
                status(f"job {info.pid} {info.run_dir}")
                return info

            return TimedClient(both, start=start)

        app = TuiGanApp(config, engine_factory=engine_factory)
        app.run()
        result["return_code"] = app.return_code
        end = time.monotonic() + 10.0  # the job writes its timing as its engine returns, before it hangs up
        while not timing_path.exists() and time.monotonic() < end:
            time.sleep(0.05)
        timing = json.loads(timing_path.read_text())
        result.update(timing)
        failures += timing.pop("engine_failures", [])
        result.update(states=states, stats=stats, toggles=toggles, failures=failures, ui_cpu=ui_cpu)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the parent gets a reason
        result["error"] = first_line(exc)
    Path(args.result).write_text(json.dumps(result))
    return 1 if "error" in result else 0


def child_viewer(args: argparse.Namespace) -> int:
    """A plain viewer: told the job on stdin, attaches, says "attached" on stdout once it has the
    Replay, decodes every event until the job hangs up; results as JSON to args.result."""
    result: dict = {}
    try:
        from tui_gan.jobs import protocol as proto
        from tui_gan.jobs.client import JobClient
        from tui_gan.jobs.registry import JobInfo

        line = sys.stdin.readline()
        if not line:
            return 0  # the parent gave up before the job served
        job = json.loads(line)
        info = JobInfo(Path(job["run_dir"]), int(job["pid"]), Path(job["socket"]), "running")
        chunks: list[tuple[float, int]] = []
        counts: dict[str, int] = {}
        cpu0 = time.process_time()
        t0 = time.monotonic()

        def emit(event) -> None:
            name = type(event).__name__
            counts[name] = counts.get(name, 0) + 1
            if isinstance(event, proto.Replay):
                result.update(replay_at=time.monotonic(), replay_bytes=sum(n for _, n in chunks))
                print(f"attached {result['replay_at']!r}", flush=True)

        client = JobClient(emit, info=info)
        client.setup()
        result["setup_s"] = time.monotonic() - t0
        client.sock = CountingSocket(client.sock, chunks)
        result["reason"] = client.run()
        result.update(attached_at=t0, ended_at=time.monotonic(), cpu_s=time.process_time() - cpu0, chunks=chunks,
                      counts=counts)
    except BaseException as exc:  # noqa: BLE001
        result["error"] = first_line(exc)
    Path(args.result).write_text(json.dumps(result))
    return 1 if "error" in result else 0


def child_prepare(args: argparse.Namespace) -> int:
    """A run folder whose checkpoint, metrics, quality and sample history say --history steps."""
    result: dict = {}
    try:
        import csv

        import numpy as np
        import torch
        from timed_engine import TimedEngine  # noqa: I001

        from tui_gan.history import SampleHistory, Snapshot
        from tui_gan.training.checkpoint import load_checkpoint, save_checkpoint
        from tui_gan.training.rundir import METRIC_COLUMNS, QUALITY_COLUMNS

        arch, n = args.arch, args.history
        config = bench_config(arch, PREPARE_STEPS, args.dataset, args.device, args.runs_dir)
        engine = TimedEngine(config, data=args.dataset, warmup=0, exit_when_done=True)
        reason = engine.run()
        if reason != "max_steps" or engine.failures:
            raise RuntimeError(f"the preparing run ended with {reason!r} {engine.failures[:1]}")
        run = Path(engine.run_dir.path)
        spe = engine.steps_per_epoch
        checkpoint = run / "checkpoints" / arch / "latest.pt"
        data = load_checkpoint(checkpoint, expected_arch=arch)

        # the loss history: steps 1..n, each in the epoch it would have run in
        rng = np.random.default_rng(0)
        steps = np.arange(1, n + 1, dtype=np.float64)
        epochs = np.floor((steps - 1) / spe)
        t = steps / n
        d_loss = 1.35 - 0.25 * np.exp(-5 * t) + 0.08 * rng.standard_normal(n)
        g_loss = 0.8 + 0.4 * np.exp(-3 * t) + 0.12 * rng.standard_normal(n)
        d_real = np.clip(0.55 + 0.05 * rng.standard_normal(n), 0, 1)
        d_fake = np.clip(0.45 + 0.05 * rng.standard_normal(n), 0, 1)
        rows = np.stack([steps, epochs, d_loss, g_loss, d_real, d_fake], axis=1)
        rate = 12800.0  # images/s the made-up run trained at
        data = {k: v for k, v in data.items() if k not in ("format", "version")}  # save_checkpoint adds them
        data.update(history=torch.from_numpy(rows), step=n, epoch=n // spe, pos=n % spe,
                    train_time=n * BATCH / rate)
        save_checkpoint(checkpoint, data)
        with open(run / "metrics.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(METRIC_COLUMNS)
            for i, row in enumerate(rows.tolist()):
                writer.writerow((arch, int(row[0]), int(row[1]), f"{row[2]:.6g}", f"{row[3]:.6g}", f"{row[4]:.6g}",
                                 f"{row[5]:.6g}", f"{rate:.1f}", f"{(i + 1) * BATCH / rate:.3f}"))
        with open(run / "quality.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(QUALITY_COLUMNS)
            for step in range(QUALITY_EVERY, n + 1, QUALITY_EVERY):
                writer.writerow((arch, step, step // spe, 1000, 10, "0.05", "0.9", "8.5", f"{40 - 20 * step / n:.5g}",
                                 "1.2", *["0.1000"] * 10))
        # the sample history a job keeping a grid every GRID_EVERY steps leaves (SampleStore's thinning)
        s = engine.current
        out = engine.sample_images(s, torch.cat([s.fixed_noise, s.interp_noise]))
        images, interpolation = out[: len(s.fixed_noise)], out[len(s.fixed_noise):]
        history = SampleHistory()
        for step in range(GRID_EVERY, n + 1, GRID_EVERY):
            history.add(Snapshot(step, images, interpolation))
        folder = run / "samples" / arch / "history"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("step_*.npz"):
            old.unlink()
        for snap in history.snapshots:
            np.savez(folder / f"step_{snap.step:07d}.npz", images=snap.images, interpolation=snap.interpolation)
        result.update(run_dir=str(run), checkpoint=str(checkpoint), step=n, steps_per_epoch=spe,
                      grids=len(history.snapshots), last_grid=history.snapshots[-1].step,
                      grid_bytes=int(images.nbytes + interpolation.nbytes))
    except BaseException as exc:  # noqa: BLE001
        result["error"] = first_line(exc)
    Path(args.result).write_text(json.dumps(result))
    return 1 if "error" in result else 0


# --- measuring -------------------------------------------------------------------------------
def pause_windows(states: list) -> list[tuple[float, float]]:
    """(paused, resumed) times from the engine's StateChanged events."""
    windows, since = [], None
    for t, state, _ in states:
        if state == "paused" and since is None:
            since = t
        elif state != "paused" and since is not None:
            windows.append((since, t))
            since = None
    if since is not None:
        windows.append((since, float("inf")))
    return windows


def overlap(a: float, b: float, windows) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for start, end in windows)


def training_window(result: dict, warmup: int) -> tuple[float, float, float, int]:
    """(start, end, seconds trained, steps timed) for the steps after the first `warmup`."""
    times = result["step_times"]
    if len(times) < warmup + 2:
        raise BenchError(f"{result['mode']} {result['arch']}: only {len(times)} steps ran (need > {warmup + 1})")
    start, end = times[warmup], times[-1]
    seconds = end - start - overlap(start, end, pause_windows(result["engine_states"]))
    return start, end, seconds, len(times) - 1 - warmup


def images_per_s(result: dict, warmup: int) -> float:
    _, _, seconds, steps = training_window(result, warmup)
    return steps * BATCH / seconds


def bytes_per_s(chunks: list, start: float, end: float) -> float:
    return sum(n for t, n in chunks if start <= t <= end) / max(end - start, 1e-9)


def check_result(result: dict, what: str, steps: int) -> dict:
    if "error" in result:
        raise BenchError(f"{what}: child failed: {result['error']}")
    if result.get("failures"):
        raise BenchError(f"{what}: training failed: {result['failures'][0]}")
    if len(result["step_times"]) != steps:
        raise BenchError(f"{what}: {len(result['step_times'])} steps ran, expected {steps}")
    return result


def read_child_result(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{what}: the child wrote no results") from None


def child_command(mode: str, args: argparse.Namespace, arch: str, steps: int, result: Path, status_fd=None) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--arch", arch, "--steps", str(steps),
               "--dataset", args.dataset, "--device", args.device, "--result", str(result),
               "--runs-dir", str(result.parent / f"runs-{result.stem}"), "--warmup", str(args.warmup),
               "--history", str(args.history)]
    if args.torch_threads:
        command += ["--torch-threads", str(args.torch_threads)]
    if args.switch_interval:
        command += ["--switch-interval", str(args.switch_interval)]
    if status_fd is not None:
        command += ["--status-fd", str(status_fd)]
    return command


def cpu_use(result: dict) -> str:
    """Cores each thread kept busy over the timed training (wall time, pauses included): the
    job's process, and for the dashboard the UI's process too."""

    def one(marks: list, names: dict[str, str]) -> str:
        if len(marks or []) < 2:
            return "-"
        (t0, a), (t1, b) = marks[0], marks[-1]
        use = {name: (b[name] - a.get(name, 0.0)) / (t1 - t0) for name in b}
        parts = [f"{names.get(name, name)} {v:.2f}" for name, v in sorted(use.items(), key=lambda kv: -kv[1]) if v >= 0.01]
        return f"{sum(use.values()):.2f} cores (" + ", ".join(parts) + ")"

    job = one(result.get("cpu"), {result.get("engine_thread"): "engine", "native": "torch pool", "MainThread": "job loop"})
    if result["mode"] != "dashboard":
        return f"job process {job}"
    return f"job process {job}; UI process {one(result.get('ui_cpu'), {'MainThread': 'ui'})}"


def job_loop_cores(result: dict) -> float:
    marks = result.get("cpu") or []
    if len(marks) < 2:
        return float("nan")
    (t0, a), (t1, b) = marks[0], marks[-1]
    return (b.get("MainThread", 0.0) - a.get("MainThread", 0.0)) / (t1 - t0)


def ms(values: list[float]) -> str:
    if not values:
        return "     -     -"
    return f"{statistics.median(values) * 1000:6.0f}{max(values) * 1000:6.0f}"


# --- a terminal ------------------------------------------------------------------------------
def terminal_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "COLORTERM", "NO_COLOR", "FORCE_COLOR") and not k.startswith("TEXTUAL")}
    env["TERM"] = "xterm-256color"
    if args.truecolor:
        env["COLORTERM"] = "truecolor"
    return env


class Terminal:
    """A child on a pseudo-terminal, its output read (and counted) as fast as it comes."""

    def __init__(self, command: list[str], env: dict[str, str], dump: Path | None = None, keep: bool = False,
                 cwd: str | None = None):
        self.dump = None
        self.started = time.monotonic()
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: size the terminal before anything looks at it, then exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
                if cwd:
                    os.chdir(cwd)
                os.execve(command[0], command, env)
            finally:
                os._exit(127)
        self.chunks: list[tuple[float, int]] = []  # (arrival, bytes)
        self.tail = b""  # the last few KB, for error messages and finding "paused" on screen
        self.seen = 0  # bytes before the tail
        self.all = bytearray() if keep else None  # everything, when asked for
        self.closed = False
        self.exit_status: int | None = None
        if dump is not None:
            self.dump = open(dump, "wb")  # noqa: SIM115 - closed in kill(), which always runs

    def read(self, timeout: float, extra: list[int] = ()) -> list[int]:
        """Wait up to `timeout` for output; returns the `extra` fds that are readable."""
        fds = ([] if self.closed else [self.master]) + list(extra)
        if not fds:
            time.sleep(timeout)
            return []
        ready, _, _ = select.select(fds, [], [], timeout)
        if self.master in ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed, the child is gone
                data = b""
            if data:
                self.chunks.append((time.monotonic(), len(data)))
                if self.dump is not None:
                    self.dump.write(data)
                if self.all is not None:
                    self.all += data
                self.tail += data
                if len(self.tail) > 65536:
                    self.seen += len(self.tail) - 32768
                    self.tail = self.tail[-32768:]
            else:
                self.closed = True
        return [fd for fd in ready if fd != self.master]

    def offset(self) -> int:
        return self.seen + len(self.tail)

    def find(self, needle: bytes, since: int) -> bool:
        start = max(0, since - self.seen)
        return needle in self.tail[start:]

    def press(self, key: bytes) -> float:
        t = time.monotonic()
        os.write(self.master, key)
        return t

    def poll_exit(self) -> bool:
        if self.exit_status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by a cleanup already
                self.exit_status = -9
                return True
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
        return self.exit_status is not None

    def last_line(self) -> str:
        lines = [line.strip() for line in ANSI.sub(b"", self.tail).decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line]
        return lines[-1][:200] if lines else "(no output)"

    def kill(self) -> None:
        if not self.poll_exit():
            try:
                os.killpg(self.pid, signal.SIGKILL)  # pty.fork made it a session (and group) leader
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        try:
            os.close(self.master)
        except OSError:
            pass
        if self.dump is not None:
            self.dump.close()


# --- jobs without a dashboard: the headless reference and the viewers ------------------------
def run_job(args: argparse.Namespace, arch: str, steps: int, tmp: Path, viewers: int = 0) -> dict:
    """A job with `viewers` plain JobClient viewers attached before its first step (none: the
    headless reference). Returns its timing, plus each viewer's results."""
    what = f"{viewers} viewer{'s' if viewers != 1 else ''} {arch}" if viewers else f"headless {arch}"
    stamp = time.monotonic_ns()
    timing = tmp / f"job-{arch}-{viewers}-{stamp}.timing"
    gate = tmp / f"gate-{stamp}"
    config = bench_config(arch, steps, args.dataset, args.device, tmp / f"runs-{stamp}")
    procs: list[tuple[subprocess.Popen, Path, object]] = []
    info = None
    try:
        for i in range(viewers):  # started first: their imports are done before the job serves
            path = tmp / f"viewer-{stamp}-{i}.json"
            stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--child", "viewer", "--result", str(path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )
            procs.append((proc, path, stderr))
        info = start_job_within(args.timeout, what, config, linger=False, engine_class=ENGINE_CLASS,
                                engine_kwargs=timed_kwargs(args, timing, gate))
        line = json.dumps({"run_dir": str(info.run_dir), "pid": info.pid, "socket": str(info.socket)}) + "\n"
        for proc, _, _ in procs:
            try:
                proc.stdin.write(line.encode())
                proc.stdin.close()
            except OSError:  # it died while the job started
                proc.wait(5)
                raise BenchError(f"{what}: a viewer exited with status {proc.returncode} before attaching "
                                 f"({viewer_failure(procs, proc)})") from None
        waiting = {proc.stdout.fileno(): proc for proc, _, _ in procs}
        end = time.monotonic() + 30.0
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise BenchError(f"{what}: {len(waiting)} viewer(s) did not get the Replay within 30 s")
            for fd in ready:
                said = os.read(fd, 4096)
                if not said:
                    proc = waiting[fd]
                    proc.wait(5)
                    raise BenchError(f"{what}: a viewer exited with status {proc.returncode} before attaching "
                                     f"({viewer_failure(procs, proc)})")
                if b"attached" in said:
                    del waiting[fd]
        gate.touch()  # every viewer has its Replay: training starts
        if not wait_gone(info.pid, args.timeout):
            raise BenchError(f"{what}: the job still runs after {args.timeout:.0f} s (killed)")
        viewer_results = []
        for proc, path, _ in procs:
            try:
                proc.wait(30.0)
            except subprocess.TimeoutExpired:
                raise BenchError(f"{what}: a viewer still runs 30 s after its job ended (killed)") from None
            got = read_child_result(path, f"{what} viewer")
            if "error" in got:
                raise BenchError(f"{what}: a viewer failed: {got['error']}")
            viewer_results.append(got)
    finally:
        for proc, _, stderr in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            stderr.close()
        if info is not None:
            kill(info.pid)
        kill_descendants()
    try:
        result = json.loads(timing.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{what}: the job wrote no timing ({job_log_tail(info.run_dir)})") from None
    result.update(mode="viewers" if viewers else "headless", arch=arch, steps=steps, viewers=viewer_results,
                  failures=result.pop("engine_failures", []))
    from tui_gan.jobs.registry import read_job

    ended = read_job(info.run_dir)
    if ended is None or ended.exit_code != 0:
        raise BenchError(f"{what}: the job ended with {ended.state if ended else 'no job.json'} "
                         f"(exit code {ended.exit_code if ended else '?'}; {job_log_tail(info.run_dir)})")
    return check_result(result, what, steps)


def job_log_tail(run_dir: Path) -> str:
    """The last line of a job's log (its folder goes with the temporary directory)."""
    try:
        lines = [line.strip() for line in (run_dir / "job.log").read_text(errors="replace").splitlines()]
    except OSError:
        return "no job.log"
    lines = [line for line in lines if line]
    return f"job.log: {lines[-1][:200]}" if lines else "job.log is empty"


def viewer_failure(procs, proc) -> str:
    for p, _, stderr in procs:
        if p is proc:
            stderr.seek(0)
            return (stderr.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1][:200]
    return "?"


# --- the dashboard on a terminal -------------------------------------------------------------
def run_dashboard(args: argparse.Namespace, arch: str, steps: int, tmp: Path) -> tuple[dict, dict]:
    """Returns (the child's results, what this side saw: byte arrivals, key presses, screen times)."""
    path = tmp / f"dashboard-{arch}-{time.monotonic_ns()}.json"
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, True)
    dump = Path(args.dump) / f"dashboard-{arch}-{time.strftime('%H%M%S')}.bin" if args.dump else None
    term = Terminal(child_command("dashboard", args, arch, steps, path, status_w), terminal_env(args), dump)
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
                raise BenchError(f"dashboard {arch}: timed out after {args.timeout:.0f} s ({term.last_line()})")
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
            if term.closed and term.poll_exit():
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
            if term.closed and term.poll_exit():
                raise BenchError(f"dashboard {arch}: exited with status {term.exit_status} while waiting for {what} "
                                 f"({why_exited()})")
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
            wait_for("'paused' from the engine", lambda line: line[0] == "state" and line[1] == "paused", 10.0, mark)
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
            wait_for("'running' after resuming", lambda line: line[0] == "state" and line[1] != "paused", 10.0, mark)
            ready_at = time.monotonic() + args.settle
        wait_for("end of training", lambda line: line[0] == "state" and line[1] == "finished", args.timeout)
        pump(0.5)  # the final repaint
        term.press(b"q")
        end = time.monotonic() + args.quit_timeout
        while not (term.closed and term.poll_exit()):
            if time.monotonic() > end:
                raise BenchError(f"dashboard {arch}: still running {args.quit_timeout:.0f} s after q ({term.last_line()})")
            pump(0.1)
        if term.exit_status != 0:
            raise BenchError(f"dashboard {arch}: exited with status {term.exit_status} ({why_exited()})")
        if job_pid and not wait_gone(job_pid[0], args.quit_timeout):
            raise BenchError(f"dashboard {arch}: its job (pid {job_pid[0]}) still runs {args.quit_timeout:.0f} s "
                             f"after q stopped it (killed)")
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
            print(f"  {arch:7} dashboard #{r + 1}: {rate:8,.0f} img/s (its Stats say {engine_says[-1]:,.0f}), "
                  f"terminal {avg / 1000:6.1f} KB/s avg, {peak / 1000:6.1f} KB/s peak, "
                  f"key->paused {', '.join(f'{x * 1000:.0f}' for x in e) or '-'} ms", flush=True)
            print(f"  {'':7}   CPU while training: {cpu_use(result)}{load_note(result, args.warmup)}")
            result = run_job(args, arch, steps, tmp)
            runs["headless"].append(images_per_s(result, args.warmup))
            print(f"  {arch:7} headless  #{r + 1}: {runs['headless'][-1]:8,.0f} img/s", flush=True)
            print(f"  {'':7}   CPU while training: {cpu_use(result)}{load_note(result, args.warmup)}")
        pairs = statistics.median(d / h for d, h in zip(runs["dashboard"], runs["headless"]))
        rows.append((arch, steps, max(runs["headless"]), max(runs["dashboard"]), pairs,
                     statistics.median(avg_rates), max(peaks), to_app, to_engine, to_screen))

    print()
    print(f"{'arch':8} {'steps':>6} {'headless':>9} {'dashboard':>9} {'ratio':>6} {'pairs':>6}   {'term KB/s':>9} "
          f"{'peak':>6}   {'key->app ms':>12} {'key->paused ms':>14} {'key->screen ms':>14}")
    print(f"{'':8} {'':>6} {'img/s':>9} {'img/s':>9} {'>=90%':>6} {'median':>6}   {'avg':>9} {'KB/s':>6}   "
          f"{'med   max':>12} {'med   max':>14} {'med   max':>14}")
    best_ok = pairs_ok = latency_ok = True
    for arch, steps, headless, dash, pairs, avg, peak, to_app, to_engine, to_screen in rows:
        ratio = dash / headless
        best_ok = best_ok and ratio >= 0.9
        pairs_ok = pairs_ok and pairs >= 0.9
        latency_ok = latency_ok and bool(to_engine) and max(to_engine) <= 0.25
        print(f"{arch:8} {steps:6} {headless:9,.0f} {dash:9,.0f} {ratio:6.0%} {pairs:6.0%}   {avg / 1000:9.1f} "
              f"{peak / 1000:6.1f}   {ms(to_app):>12} {ms(to_engine):>14} {ms(to_screen):>14}")
    print("ratio: best dashboard run over best headless run; pairs: the median of each dashboard run over the "
          "headless run right after it (a shared machine's speed drifts between runs)")
    verdict = {True: "met", False: "NOT met"}
    print(f"targets: dashboard >= 90% of headless images/s: {verdict[best_ok]} by the best runs, "
          f"{verdict[pairs_ok]} by the adjacent pairs; key->paused <= 250 ms: {verdict[latency_ok]}")
    return best_ok


# --- viewers -----------------------------------------------------------------------------------
VIEWER_TARGETS = {1: 0.90, 3: 0.85}  # issue 9: share of headless images/s with that many viewers


def mode_viewers(args: argparse.Namespace, archs: list[str], tmp: Path) -> bool:
    counts = sorted(set(args.viewers) | {0})
    table = []
    for arch in archs:
        steps = args.steps or DEFAULT_STEPS.get(arch, 300)
        rates: dict[int, list[float]] = {n: [] for n in counts}
        per_viewer: dict[int, list[float]] = {n: [] for n in counts}
        replay: dict[int, list[float]] = {n: [] for n in counts}
        loop: dict[int, list[float]] = {n: [] for n in counts}
        viewer_cores: dict[int, list[float]] = {n: [] for n in counts}
        rounds: list[dict[int, float]] = []
        for r in range(args.repeats):
            order = counts if r % 2 == 0 else counts[::-1]  # a drifting machine favours no count
            this_round = {}
            for n in order:
                result = run_job(args, arch, steps, tmp, viewers=n)
                rate = images_per_s(result, args.warmup)
                start, end, _, _ = training_window(result, args.warmup)
                this_round[n] = rate
                rates[n].append(rate)
                loop[n].append(job_loop_cores(result))
                got = [bytes_per_s(v["chunks"], start, end) for v in result["viewers"]]
                per_viewer[n] += got
                replay[n] += [v.get("replay_bytes", 0) for v in result["viewers"]]
                viewer_cores[n] += [v["cpu_s"] / max(v["ended_at"] - v["attached_at"], 1e-9) for v in result["viewers"]]
                said = f", {statistics.mean(got) / 1000:5.1f} KB/s per viewer" if got else ""
                print(f"  {arch:7} {n} viewer{'s' if n != 1 else ' '} #{r + 1}: {rate:8,.0f} img/s{said}", flush=True)
                print(f"  {'':7}   CPU while training: {cpu_use(result)}"
                      + (f"; each viewer process {statistics.mean(viewer_cores[n][-n:]):.3f} cores" if n else "")
                      + load_note(result, args.warmup))
            rounds.append(this_round)
        for n in counts:
            pairs = statistics.median(rnd[n] / rnd[0] for rnd in rounds)
            table.append((arch, steps, n, max(rates[n]), max(rates[n]) / max(rates[0]), pairs,
                          statistics.median(per_viewer[n]) if per_viewer[n] else None,
                          statistics.median(replay[n]) if replay[n] else None, statistics.median(loop[n]),
                          statistics.median(viewer_cores[n]) if viewer_cores[n] else None))

    print()
    print(f"{'arch':8} {'steps':>6} {'viewers':>7} {'img/s':>8} {'vs 0':>6} {'rounds':>6}   {'KB/s':>6} {'replay':>7}   "
          f"{'job loop':>8} {'viewer':>6}")
    print(f"{'':8} {'':>6} {'':>7} {'best':>8} {'best':>6} {'median':>6}   {'/viewer':>6} {'KB':>7}   "
          f"{'cores':>8} {'cores':>6}")
    ok = True
    for arch, steps, n, rate, ratio, pairs, kbs, rep, loop_cores, vcores in table:
        target = VIEWER_TARGETS.get(n)
        if target is not None:
            ok = ok and ratio >= target
        print(f"{arch:8} {steps:6} {n:7} {rate:8,.0f} {ratio:6.0%} {pairs:6.0%}   "
              f"{'-' if kbs is None else f'{kbs / 1000:.1f}':>6} {'-' if rep is None else f'{rep / 1000:.1f}':>7}   "
              f"{loop_cores:8.3f} {'-' if vcores is None else f'{vcores:.3f}':>6}")
    print("vs 0: best run with that many viewers over the best with none; rounds: the median over rounds of each "
          "run over the run with no viewer in the same round. KB/s: what each viewer read from the socket while "
          "training (median over viewers and runs); replay: what it read on attach; job loop: cores the job's "
          "event loop kept busy while training; viewer: cores each viewer process used while attached")
    verdict = {True: "met", False: "NOT met"}
    wanted = ", ".join(f">= {t:.0%} with {n}" for n, t in VIEWER_TARGETS.items() if n in counts)
    print(f"targets ({wanted} viewer(s), best runs): {verdict[ok]}")
    return ok


# --- attach ------------------------------------------------------------------------------------
class FullFrame:
    """Watches a dashboard's terminal output for the parts of its first full frame."""

    PARTS = ("status", "losses", "samples")

    def __init__(self, arch: str, min_step: int, min_grid: int) -> None:
        self.arch, self.min_step, self.min_grid = arch, min_step, min_grid
        self.title = re.compile(rf"samples · {re.escape(arch)} · step ([\d,]+)")
        self.at: dict[str, float] = {}
        self.scanned = 0
        self.blocks = 0
        self.subtitle = False
        self.grid_title = False

    def feed(self, output: bytearray, t: float) -> bool:
        """Scan what arrived since the last call (from a little before: a chunk may split a
        line); True once every part has been seen."""
        start = max(0, self.scanned - 4096)
        text = ANSI.sub(b"", bytes(output[start:])).decode("utf-8", "replace")
        fresh = ANSI.sub(b"", bytes(output[self.scanned:])).decode("utf-8", "replace")
        self.scanned = len(output)
        if "status" not in self.at and any(int(m.replace(",", "")) >= self.min_step for m in STATUS_STEP.findall(text)):
            self.at["status"] = t
        if "losses" not in self.at and LOSS_LINE.search(text):
            self.at["losses"] = t
        self.blocks += fresh.count(HALF_BLOCK)
        self.grid_title = self.grid_title or any(int(m.replace(",", "")) >= self.min_grid for m in self.title.findall(text))
        self.subtitle = self.subtitle or bool(SAMPLES_SUBTITLE.search(text))
        if "samples" not in self.at and self.grid_title and self.subtitle and self.blocks >= FULL_FRAME_BLOCKS:
            self.at["samples"] = t
        return len(self.at) == len(self.PARTS)

    def missing(self) -> str:
        return ", ".join(p for p in self.PARTS if p not in self.at) or "nothing"


def time_attach(args: argparse.Namespace, run_dir: Path, arch: str, min_step: int, min_grid: int, tmp: Path,
                n: int) -> dict:
    """`python -m tui_gan attach RUN_DIR` on a pty: seconds from the fork to the first full
    frame (and to the first byte and each part); then `d` detaches it."""
    dump = Path(args.dump) / f"attach-{n}-{time.strftime('%H%M%S')}.bin" if args.dump else None
    env = terminal_env(args)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    frame = FullFrame(arch, min_step, min_grid)
    term = Terminal([sys.executable, "-m", "tui_gan", "attach", str(run_dir)], env, dump, keep=True, cwd=str(tmp))
    t0 = term.started
    try:
        end = t0 + args.attach_timeout
        done = False
        while not done:
            if time.monotonic() > end:
                raise BenchError(f"attach #{n}: no full frame after {args.attach_timeout:.0f} s (missing: "
                                 f"{frame.missing()}; {term.last_line()})")
            before = len(term.all)
            term.read(0.05)
            if len(term.all) > before:
                done = frame.feed(term.all, term.chunks[-1][0])
            if term.closed and term.poll_exit():
                raise BenchError(f"attach #{n}: exited with status {term.exit_status} before a full frame "
                                 f"({term.last_line()})")
        out = {"t0": t0, "frame": max(frame.at.values()) - t0, "first_byte": term.chunks[0][0] - t0,
               **{part: t - t0 for part, t in frame.at.items()}}
        settle = time.monotonic() + 0.3
        while time.monotonic() < settle:
            term.read(0.05)
        term.press(b"d")  # detach: the job trains on
        end = time.monotonic() + args.quit_timeout
        while not (term.closed and term.poll_exit()):
            if time.monotonic() > end:
                raise BenchError(f"attach #{n}: still running {args.quit_timeout:.0f} s after d ({term.last_line()})")
            term.read(0.1)
        if term.exit_status != 0:
            raise BenchError(f"attach #{n}: exited with status {term.exit_status} after d ({term.last_line()})")
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
    reader = threading.Thread(target=client.run, name="job client", daemon=True)
    reader.start()
    if not got.wait(30.0):
        client.detach()
        raise BenchError(f"JobClient #{n}: no Replay within 30 s")
    seconds = time.monotonic() - t0
    client.detach()
    reader.join(10.0)
    return t0, seconds, replay_bytes[0]


def mode_attach(args: argparse.Namespace, tmp: Path) -> bool:
    from tui_gan.jobs import client as job_client
    from tui_gan.jobs import registry

    arch = args.attach_arch
    path = tmp / f"prepare-{time.monotonic_ns()}.json"
    command = child_command("prepare", args, arch, PREPARE_STEPS, path)
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"attach: preparing {args.history:,} steps of history took over {args.timeout:.0f} s "
                         f"(killed)") from None
    if not path.exists():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"attach: the preparing child exited with status {done.returncode}: {last}")
    prepared = read_child_result(path, "attach: preparing")
    if "error" in prepared:
        raise BenchError(f"attach: preparing failed: {prepared['error']}")
    run_dir = Path(prepared["run_dir"])
    print(f"  prepared {run_dir.name}: {prepared['step']:,} steps of history ({prepared['steps_per_epoch']} steps/epoch), "
          f"{prepared['grids']} sample grids of {prepared['grid_bytes'] / 1000:.0f} KB, newest at step "
          f"{prepared['last_grid']:,}", flush=True)
    config = bench_config(arch, None, args.dataset, args.device, tmp / "runs-attach")
    info = None
    try:
        t0 = time.monotonic()
        info = start_job_within(args.timeout, "attach", config, resume=prepared["checkpoint"], run_dir=str(run_dir),
                                linger=False, engine_class=ENGINE_CLASS,
                                engine_kwargs=timed_kwargs(args, tmp / "attach-job.timing"))
        print(f"  the job resumed it in {time.monotonic() - t0:.1f} s (start_job: process start, imports, data, "
              f"checkpoint, history)", flush=True)
        if args.attach_paused:
            pause_job(info)
        time.sleep(2.0)  # past the resume's first steps and grid
        status = job_client.query_status(info) or {}
        print(f"  job: {status.get('state', '?')} at step {status.get('step', 0):,}, "
              f"{status.get('images_per_s', 0):,.0f} img/s", flush=True)

        clients, client_windows, replay_bytes = [], [], 0
        for n in range(args.attaches):
            t0, seconds, replay_bytes = time_client(info, n + 1)
            clients.append(seconds)
            client_windows.append((t0, t0 + seconds))
            time.sleep(0.3)
        print(f"  JobClient setup() -> Replay decoded: {', '.join(f'{s * 1000:.0f}' for s in clients)} ms "
              f"(Replay {replay_bytes / 1e6:.1f} MB)", flush=True)

        attaches = []
        for n in range(args.attaches):
            status = job_client.query_status(info)
            if status is None:
                raise BenchError(f"attach #{n + 1}: the job does not answer ({job_log_tail(info.run_dir)})")
            one = time_attach(args, run_dir, arch, status["step"], prepared["last_grid"], tmp, n + 1)
            attaches.append(one)
            print(f"  tui-gan attach #{n + 1}: full frame after {one['frame'] * 1000:.0f} ms (first byte "
                  f"{one['first_byte'] * 1000:.0f}, status {one['status'] * 1000:.0f}, losses "
                  f"{one['losses'] * 1000:.0f}, samples {one['samples'] * 1000:.0f}) at job step {status['step']:,}"
                  f"{LOAD.note(one['t0'], one['t0'] + one['frame']) if LOAD else ''}", flush=True)
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
            f" ({', '.join(f'{b * 1000:.0f}' for _, b in hit)} ms)" if hit else "")

    frames = [a["frame"] for a in attaches]
    print()
    print(f"attach to a {'paused' if args.attach_paused else 'training'} {arch} job with {args.history:,} steps "
          f"of history ({prepared['grids']} sample grids; Replay {replay_bytes / 1e6:.1f} MB):")
    print(f"  {'':34} {'median':>6}{'max':>6}")
    print(f"  {'JobClient setup() -> Replay ms':34} {ms(clients)}")
    for label, key in (("tui-gan attach -> first byte ms", "first_byte"), ("  -> status line ms", "status"),
                       ("  -> loss panel ms", "losses"), ("  -> samples panel ms", "samples"),
                       ("  -> full frame ms", "frame")):
        print(f"  {label:34} {ms([a[key] for a in attaches])}")
    print(f"  JobClient attaches: {gc_in(client_windows)}; tui-gan attaches: "
          f"{gc_in([(a['t0'], a['t0'] + a['frame']) for a in attaches])}")
    if pauses:
        print(f"  the job's full garbage collections: {len(pauses)} in its life, median "
              f"{statistics.median(b for _, b in pauses) * 1000:.0f} ms, max {max(b for _, b in pauses) * 1000:.0f} ms "
              f"(every thread waits, training too)")
    ok = max(frames) < 1.0
    print(f"target: attach -> full frame < 1 s: {'met' if ok else 'NOT met'} (max {max(frames) * 1000:.0f} ms, "
          f"median {statistics.median(frames) * 1000:.0f} ms over {len(frames)}); the job ended "
          f"{ended.state if ended else '?'} (exit code {ended.exit_code if ended else '?'})")
    return ok


def pause_job(info) -> None:
    """Pause the job through a viewer that then detaches (the job stays paused)."""
    from tui_gan.jobs.client import JobClient
    from tui_gan.training import commands as cmd
    from tui_gan.training import events as ev

    paused = threading.Event()
    client = JobClient(lambda e: isinstance(e, ev.StateChanged) and e.state == "paused" and paused.set(), info=info)
    client.setup()
    reader = threading.Thread(target=client.run, daemon=True)
    reader.start()
    client.send(cmd.Pause())
    if not paused.wait(30.0):
        client.detach()
        raise BenchError("attach: the job did not pause")
    client.detach()
    reader.join(10.0)


# --- main --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("dashboard", "viewers", "attach", "all"), default="all",
                        help="what to measure (default: all three)")
    parser.add_argument("--arch", action="append",
                        help="architecture for dashboard and viewers (repeatable; default: simple and mlp)")
    parser.add_argument("--steps", type=int, help=f"steps per run (default per arch: {DEFAULT_STEPS})")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement (dashboard/headless pairs, "
                                                               "rounds of viewer counts)")
    parser.add_argument("--pauses", type=int, default=3, help="space-key pause/resume cycles per dashboard run")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of training before each pause")
    parser.add_argument("--hold", type=float, default=0.3, help="seconds to stay paused")
    parser.add_argument("--warmup", type=int, default=10, help="first steps left out of the timing")
    parser.add_argument("--viewers", default="0,1,3", help="viewer counts to time (default 0,1,3; 0 is always run)")
    parser.add_argument("--attaches", type=int, default=5, help="attaches to time (each of JobClient and tui-gan attach)")
    parser.add_argument("--history", type=int, default=100_000, help="steps of history in the attached run")
    parser.add_argument("--attach-arch", default="simple", help="architecture of the attached run (default simple)")
    parser.add_argument("--attach-paused", action="store_true", help="pause the attached job first (default: training)")
    parser.add_argument("--attach-timeout", type=float, default=30.0, help="seconds an attach may take to a full frame")
    parser.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads in the jobs (default: torch's)")
    parser.add_argument("--switch-interval", type=float, metavar="MS",
                        help="sys.setswitchinterval in the jobs and the app, in ms (default: Python's 5 ms)")
    parser.add_argument("--truecolor", action="store_true", help="also set COLORTERM=truecolor (more bytes per colour)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one child run may take")
    parser.add_argument("--quit-timeout", type=float, default=30.0, help="seconds to wait for exit after q or d")
    parser.add_argument("--dump", metavar="DIR", help="save each pty run's raw terminal output here")
    parser.add_argument("--child", choices=("dashboard", "viewer", "prepare"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--status-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        args.arch = (args.arch or ["simple"])[0]
        return {"dashboard": child_dashboard, "viewer": child_viewer, "prepare": child_prepare}[args.child](args)

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
    global LOAD
    LOAD = MachineLoad()
    print(f"{os.cpu_count()} CPUs; terminal {COLUMNS}x{LINES} TERM=xterm-256color"
          f"{' COLORTERM=truecolor' if args.truecolor else ''}; quality evaluations off; batch {BATCH}; "
          f"{args.repeats} repeats, best images/s kept")
    mnist = mnist_here(args.dataset)
    print(f"data: {f'MNIST test split from {SHARED_MNIST}' if mnist else '10,000 synthetic digits'}; "
          f"torch threads: {args.torch_threads or 'torch default'}; "
          f"GIL switch interval: {f'{args.switch_interval:g} ms' if args.switch_interval else 'default'}")
    print(f"load average at the start: {os.getloadavg()[0]:.2f} (other work on this machine takes cores from training)")
    try:
        with tempfile.TemporaryDirectory(prefix="tui-gan-bench-") as tmp:
            runtime = Path(tmp) / "runtime"
            runtime.mkdir(mode=0o700)
            os.environ["TUI_GAN_RUNTIME_DIR"] = str(runtime)  # the jobs we start register here, not with the user's
            try:
                for mode in modes:
                    print(f"\n== {mode}", flush=True)
                    {"dashboard": lambda: mode_dashboard(args, archs, Path(tmp)),
                     "viewers": lambda: mode_viewers(args, archs, Path(tmp)),
                     "attach": lambda: mode_attach(args, Path(tmp))}[mode]()
            finally:
                kill_descendants()
    except BenchError as exc:
        sys.stdout.flush()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kill_descendants()
        print("error: interrupted", file=sys.stderr)
        return 130
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if LOAD is not None and LOAD.contended:
        print(f"{LOAD.contended} of {LOAD.runs} runs were CONTENDED (other processes kept >= "
              f"{MachineLoad.CONTENDED} of a core busy while they trained): their figures say more about the machine "
              f"than about tui-gan; the best-of figures are meant to pick uncontended runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
