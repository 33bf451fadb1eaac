"""What the dashboard costs training, on a real terminal: the same architecture and number of
steps trained headless and inside the real TuiGanApp, measured in the same run.

Each measurement is a fresh child process (so both pay the same imports and data loading, and
neither inherits the other's warmed-up allocator), driving the same instrumented Engine subclass
(benchmarks/timed_engine.py) on the same data (the shared MNIST test split when present, else
10,000 synthetic digits), with quality evaluations off (eval_every=0) and no run folder, so only
the UI differs:

  headless   TimedEngine(exit_when_done=True, max_steps=N).run() in the child; no event consumer.
  dashboard  `python benchmarks/dashboard.py --child dashboard ...` on a real pseudo-terminal
             (pty.fork, 120x40 via TIOCSWINSZ, TERM=xterm-256color) running TuiGanApp.run() with
             Textual's real Linux driver. As for a user, the app runs its engine in a process of
             its own (tui_gan/training/process.py): here a TimedEngine there, which writes when
             each step ended to a file; the app's side records the Stats' images/s, when the
             engine's StateChanged("paused"/"running") arrived and when the app handed it a
             TogglePause. This process reads the pty master the whole time (a terminal that
             keeps up), counting every byte the dashboard writes. After training has run a while
             it writes a real space byte to the master (the real key path: tty -> driver ->
             binding -> action_toggle_pause -> engine process), N times pause/resume, lets the N
             steps finish, then presses `q` and waits for a clean exit.

images/s = (steps after the first --warmup ones) x batch / (wall time from the end of step
`warmup` to the end of the last step, minus the time between the engine's "paused" and
"running" events). Startup, data loading and the pauses are excluded, the same way for both.
time.monotonic() is CLOCK_MONOTONIC, shared by all processes, so the child's timestamps and this
process's key presses and byte arrivals compare directly.

    python benchmarks/dashboard.py [--arch simple --arch mlp] [--steps N] [--repeats 2] [--pauses 3]

Prints, per architecture, the best images/s headless and in the dashboard over --repeats
alternating runs and their ratio (target >= 90%), the median ratio of adjacent runs, the
bytes/s written to the terminal while training (median of the runs' averages, and the peak
second), and the latency from the space byte to the app handing TogglePause to the engine, to
the engine's "paused" event, and to "paused" appearing in the terminal output (median and max
over every pause of every run; target <= 250 ms for key -> paused). Each run also prints how
many cores each thread kept busy while training (read from /proc: the engine thread and
torch's OpenMP pool in the engine's process, the UI thread and the others in the app's), which
shows where the dashboard's cost goes. Exits non-zero with a one-line error when a child
crashes or times out (the child is always killed on the way out).

Diagnostics: --torch-threads N and --switch-interval MS set torch.set_num_threads and
sys.setswitchinterval in the engine (and the app's process); --truecolor adds
COLORTERM=truecolor; --dump DIR keeps each dashboard run's raw terminal output for analysis.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import SHARED_MNIST, mnist_here  # noqa: E402 - benchmarks/ is sys.path[0]

# torch and Textual are imported in the children only: this process just spawns them, reads the
# terminal and presses keys, and stays out of the way of the cores.

BATCH = 128
COLUMNS, LINES = 120, 40
DEFAULT_STEPS = {"simple": 1000, "mlp": 360, "relu-mlp": 500, "mlp-bn-dropout": 360, "dcgan": 40}
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


class BenchError(Exception):
    """Something the benchmark cannot measure through: reported in one line, exit status 1."""


# --- the children ----------------------------------------------------------------------------
def child_main(args: argparse.Namespace) -> int:
    """Train once (headless or in the dashboard) and write what happened as JSON to args.result."""
    result: dict = {"mode": args.child, "arch": args.arch, "steps": args.steps}
    status_fd = args.status_fd

    def status(line: str) -> None:  # one short line per event worth telling the parent about
        if status_fd is None:
            return
        try:
            os.write(status_fd, (line + "\n").encode())
        except OSError:
            pass  # the parent is gone: the pty hang-up ends us soon enough

    try:
        from timed_engine import TimedEngine, thread_cpu  # noqa: I001 - benchmarks/ is sys.path[0]

        from tui_gan.config import TrainConfig
        from tui_gan.training import commands as cmd
        from tui_gan.training import events as ev

        states: list[tuple[float, str, int]] = []
        stats: list[tuple[float, float, int]] = []
        toggles: list[float] = []  # when the app handed TogglePause to the engine (UI thread)
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

        timing_path = f"{args.result}.timing"
        config = TrainConfig(
            arch=args.arch, dataset="mnist" if mnist_here(args.dataset) else "synthetic", epochs=1_000_000,
            batch_size=BATCH, max_steps=args.steps, eval_every=0.0, device=args.device, runs_dir=args.runs_dir, seed=0,
        )
        engine_kwargs = dict(data=args.dataset, warmup=args.warmup, timing_path=timing_path, run_dir=False,
                             torch_threads=args.torch_threads, switch_interval_ms=args.switch_interval)
        if args.child == "headless":
            engine = TimedEngine(config, record, exit_when_done=True, **engine_kwargs)
            result["reason"] = engine.run()
        else:
            from tui_gan.training.process import EngineProcess
            from tui_gan.ui.app import TuiGanApp

            if args.switch_interval:  # the UI process too
                sys.setswitchinterval(args.switch_interval / 1000)

            class TimedProcess(EngineProcess):
                """The dashboard's own engine process, noting when the app hands it a pause."""

                def send(self, command) -> None:
                    if isinstance(command, cmd.TogglePause):
                        toggles.append(time.monotonic())
                    super().send(command)

                def setup(self) -> None:
                    try:
                        super().setup()
                    except Exception as exc:  # the dashboard would show it and wait: tell the parent
                        status(f"failed setup: {type(exc).__name__}: {exc}".splitlines()[0])
                        raise

            def engine_factory(config, emit, **kwargs):
                def both(event) -> None:
                    record(event)
                    emit(event)

                return TimedProcess(config, both, engine_class=TimedEngine, **engine_kwargs, **kwargs)

            app = TuiGanApp(config, engine_factory=engine_factory)
            app.run()
            result["return_code"] = app.return_code
        result.update(json.loads(Path(timing_path).read_text()))
        result.update(states=states, stats=stats, toggles=toggles, failures=failures, ui_cpu=ui_cpu)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the parent gets a reason
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
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
    seconds = end - start - overlap(start, end, pause_windows(result["states"]))
    return start, end, seconds, len(times) - 1 - warmup


def images_per_s(result: dict, warmup: int) -> float:
    _, _, seconds, steps = training_window(result, warmup)
    return steps * BATCH / seconds


def check_child_result(path: Path, mode: str, arch: str, steps: int) -> dict:
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{mode} {arch}: the child wrote no results") from None
    if "error" in result:
        raise BenchError(f"{mode} {arch}: child failed: {result['error']}")
    if result.get("failures"):
        raise BenchError(f"{mode} {arch}: training failed: {result['failures'][0]}")
    if len(result["step_times"]) != steps:
        raise BenchError(f"{mode} {arch}: {len(result['step_times'])} steps ran, expected {steps}")
    return result


def child_command(mode: str, args: argparse.Namespace, arch: str, steps: int, result: Path, status_fd=None) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--arch", arch, "--steps", str(steps),
               "--dataset", args.dataset, "--device", args.device, "--result", str(result),
               "--runs-dir", str(result.parent / "runs")]
    command += ["--warmup", str(args.warmup)]
    if args.torch_threads:
        command += ["--torch-threads", str(args.torch_threads)]
    if args.switch_interval:
        command += ["--switch-interval", str(args.switch_interval)]
    if status_fd is not None:
        command += ["--status-fd", str(status_fd)]
    return command


def run_headless(args: argparse.Namespace, arch: str, steps: int, tmp: Path) -> dict:
    path = tmp / f"headless-{arch}-{time.monotonic_ns()}.json"
    try:
        done = subprocess.run(child_command("headless", args, arch, steps, path), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"headless {arch}: no result after {args.timeout:.0f} s (killed)") from None
    if done.returncode != 0 and not path.exists():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"headless {arch}: child exited with status {done.returncode}: {last}")
    return check_child_result(path, "headless", arch, steps)


class Terminal:
    """A child on a pseudo-terminal, its output read (and counted) as fast as it comes."""

    def __init__(self, command: list[str], env: dict[str, str], dump: Path | None = None):
        self.dump = None
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: size the terminal before anything looks at it, then exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
                os.execve(command[0], command, env)
            finally:
                os._exit(127)
        self.chunks: list[tuple[float, int]] = []  # (arrival, bytes)
        self.tail = b""  # the last few KB, for error messages and finding "paused" on screen
        self.seen = 0  # bytes before the tail
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
            pid, status = os.waitpid(self.pid, os.WNOHANG)
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


def run_dashboard(args: argparse.Namespace, arch: str, steps: int, tmp: Path) -> tuple[dict, dict]:
    """Returns (the child's results, what this side saw: byte arrivals, key presses, screen times)."""
    path = tmp / f"dashboard-{arch}-{time.monotonic_ns()}.json"
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "COLORTERM", "NO_COLOR", "FORCE_COLOR") and not k.startswith("TEXTUAL")}
    env["TERM"] = "xterm-256color"
    if args.truecolor:
        env["COLORTERM"] = "truecolor"
    dump = Path(args.dump) / f"{arch}-{time.strftime('%H%M%S')}.bin" if args.dump else None
    term = Terminal(child_command("dashboard", args, arch, steps, path, status_w), env, dump)
    os.close(status_w)
    deadline = time.monotonic() + args.timeout
    lines: list[list[str]] = []
    pending = b""
    status_open = [True]

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
                lines.extend(line.decode().split(" ", 3) for line in complete)
                if any(line[0] == "failed" for line in lines):
                    message = next(" ".join(line[1:]) for line in lines if line[0] == "failed")
                    raise BenchError(f"dashboard {arch}: training failed: {message}")
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
    finally:
        term.kill()
        os.close(status_r)
    seen["chunks"] = term.chunks
    return check_child_result(path, "dashboard", arch, steps), seen


def terminal_rates(result: dict, seen: dict, warmup: int) -> tuple[float, float]:
    """(average bytes/s while training, pauses excluded; most bytes in any 1 s of training)."""
    start, end, seconds, _ = training_window(result, warmup)
    chunks = [(t, n) for t, n in seen["chunks"] if start <= t <= end]
    windows = pause_windows(result["states"])
    trained = sum(n for t, n in chunks if not any(a <= t <= b for a, b in windows))
    bins: dict[int, int] = {}
    for t, n in chunks:
        bins[int(t - start)] = bins.get(int(t - start), 0) + n
    full = [v for k, v in bins.items() if start + k + 1 <= end]  # whole seconds only
    return trained / seconds, max(full or [0])


def latencies(result: dict, seen: dict) -> tuple[list[float], list[float], list[float]]:
    """Per pause: key -> the app's TogglePause to the engine, key -> engine "paused", key -> on screen."""
    paused = [t for t, state, _ in result["states"] if state == "paused"]
    to_app, to_engine = [], []
    for t_key in seen["keys"]:
        later = [t for t in result["toggles"] if t >= t_key]
        if later:
            to_app.append(later[0] - t_key)
        later = [t for t in paused if t >= t_key]
        if later:
            to_engine.append(later[0] - t_key)
    return to_app, to_engine, [s for s in seen["screen_paused"] if s is not None]


def cpu_use(result: dict) -> str:
    """Cores each thread kept busy over the timed training (wall time, pauses included): the
    engine's process, and for the dashboard the UI's process too."""

    def one(marks: list, names: dict[str, str]) -> str:
        if len(marks or []) < 2:
            return "-"
        (t0, a), (t1, b) = marks[0], marks[-1]
        use = {name: (b[name] - a.get(name, 0.0)) / (t1 - t0) for name in b}
        parts = [f"{names.get(name, name)} {v:.2f}" for name, v in sorted(use.items(), key=lambda kv: -kv[1]) if v >= 0.01]
        return f"{sum(use.values()):.2f} cores (" + ", ".join(parts) + ")"

    engine = one(result.get("cpu"), {result.get("engine_thread"): "engine", "native": "torch pool"})
    if result["mode"] != "dashboard":
        return engine
    return f"engine process {engine}; UI process {one(result.get('ui_cpu'), {'MainThread': 'ui'})}"


def ms(values: list[float]) -> str:
    if not values:
        return "     -     -"
    return f"{statistics.median(values) * 1000:6.0f}{max(values) * 1000:6.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", help="architecture (repeatable; default: simple and mlp)")
    parser.add_argument("--steps", type=int, help=f"steps per run (default per arch: {DEFAULT_STEPS})")
    parser.add_argument("--repeats", type=int, default=2, help="alternate dashboard/headless this many times")
    parser.add_argument("--pauses", type=int, default=3, help="space-key pause/resume cycles per dashboard run")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of training before each pause")
    parser.add_argument("--hold", type=float, default=0.3, help="seconds to stay paused")
    parser.add_argument("--warmup", type=int, default=10, help="first steps left out of the timing")
    parser.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, help="torch.set_num_threads in both children (default: torch's)")
    parser.add_argument("--switch-interval", type=float, metavar="MS",
                        help="sys.setswitchinterval in both children, in ms (default: Python's 5 ms)")
    parser.add_argument("--truecolor", action="store_true", help="also set COLORTERM=truecolor (more bytes per colour)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one child run may take")
    parser.add_argument("--quit-timeout", type=float, default=30.0, help="seconds to wait for exit after q")
    parser.add_argument("--dump", metavar="DIR", help="save each dashboard run's raw terminal output here")
    parser.add_argument("--child", choices=("headless", "dashboard"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--status-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        args.arch = (args.arch or ["simple"])[0]
        return child_main(args)

    archs = args.arch or ["simple", "mlp"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: kill the child
    print(f"{os.cpu_count()} CPUs; terminal {COLUMNS}x{LINES} TERM=xterm-256color"
          f"{' COLORTERM=truecolor' if args.truecolor else ''}; quality evaluations off; batch {BATCH}; "
          f"{args.repeats} alternating repeats, best images/s kept")
    mnist = mnist_here(args.dataset)
    print(f"data: {f'MNIST test split from {SHARED_MNIST}' if mnist else '10,000 synthetic digits'}; "
          f"torch threads: {args.torch_threads or 'torch default'}; "
          f"GIL switch interval: {f'{args.switch_interval:g} ms' if args.switch_interval else 'default'}")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="tui-gan-bench-") as tmp:
            for arch in archs:
                steps = args.steps or DEFAULT_STEPS.get(arch, 300)
                runs = {"headless": [], "dashboard": []}
                avg_rates, peaks, to_app, to_engine, to_screen, engine_says = [], [], [], [], [], []
                for r in range(args.repeats):
                    result, seen = run_dashboard(args, arch, steps, Path(tmp))
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
                          f"key->paused {', '.join(f'{x * 1000:.0f}' for x in e) or '-'} ms")
                    print(f"  {'':7}   CPU while training: {cpu_use(result)}")
                    result = run_headless(args, arch, steps, Path(tmp))
                    runs["headless"].append(images_per_s(result, args.warmup))
                    print(f"  {arch:7} headless  #{r + 1}: {runs['headless'][-1]:8,.0f} img/s")
                    print(f"  {'':7}   CPU while training: {cpu_use(result)}")
                pairs = statistics.median(d / h for d, h in zip(runs["dashboard"], runs["headless"]))
                rows.append((arch, steps, max(runs["headless"]), max(runs["dashboard"]), pairs,
                             statistics.median(avg_rates), max(peaks), to_app, to_engine, to_screen))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
