"""kill -9 at random moments of a real headless job, then prove that nothing was lost.

Each trial starts `tui-gan train --headless` (`simple` on synthetic data, a checkpoint every
epoch of 16 steps, a metrics row every step, sample grids and TensorBoard at their cadence),
SIGKILLs it at a moment drawn uniformly from a window after its first checkpoint (so the kill
lands anywhere in its writers: checkpoint, metrics.csv, samples, TensorBoard, the digest), and
checks what issue 21 asks: latest.pt loads; `tui-gan ls` calls the job "died" at that
checkpoint's step; `--resume RUN_DIR --max-steps K` exits 0, leaves no atomic-write temp file
and no job.sock; and every metrics.csv row, before and after the kill, equals an uninterrupted
reference run of the same seed (exact resume). Steps lost = the last step logged before the
kill minus the checkpoint's step.

    python benchmarks/faults.py [--trials 50] [--window 3] [--resume-steps 20] [--parallel 2]

A failed trial keeps its folder (printed) and the script exits 1.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN = (
    *("train", "--headless", "--dataset", "synthetic", "--synthetic-size", "512"),
    *("--arch", "simple", "--batch-size", "32", "--eval-every", "0", "--epochs", "1000"),
    *("--checkpoint-every", "1", "--log-every-step"),
)
START_TIMEOUT_S = 120.0  # torch's import on a busy 2-core machine
RUN_TIMEOUT_S = 300.0


def environment(runtime: Path) -> dict[str, str]:
    """The jobs register in a runtime folder of their own (not the user's `tui-gan ls`; this
    process must use the same one, where deep run folders keep their socket) and import this
    checkout."""
    env = dict(os.environ, TUI_GAN_RUNTIME_DIR=str(runtime))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def train(log: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    """A headless job in the background, its output in `log` (kept with a failed trial)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tui_gan", *TRAIN, *extra]
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def metrics(run_dir: Path) -> list[tuple[int, tuple[str, ...]]]:
    """metrics.csv's rows as (step, losses), in file order; a torn last row (kill -9 mid-append)
    is skipped, as resume drops it."""
    try:
        lines = (run_dir / "metrics.csv").read_text().splitlines()[1:]
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        cells = line.split(",")
        if len(cells) >= 7 and cells[1].isdigit():
            rows.append((int(cells[1]), tuple(cells[3:7])))  # d_loss, g_loss, d_real, d_fake
    return rows


class Reference:
    """The losses of an uninterrupted run of the same seed, extended when a trial needs more
    steps (one run serves every trial: a longer run's first N steps are the shorter one's)."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env, self.rows, self.lock = folder, env, {}, threading.Lock()

    def upto(self, steps: int) -> dict[int, tuple[str, ...]]:
        with self.lock:
            if len(self.rows) < steps:
                runs = self.folder / f"reference-{steps}"
                extra = ("--max-steps", str(max(steps, 400)), "--runs-dir", str(runs))
                proc = train(runs / "reference.log", self.env, *extra)
                if proc.wait(RUN_TIMEOUT_S) != 0:
                    raise RuntimeError(f"the reference run failed: see {runs}")
                (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
                self.rows = dict(metrics(run_dir))
            return self.rows


@dataclass
class Trial:
    index: int
    folder: Path
    delay_s: float = 0.0
    killed_step: int | None = None  # the last step in metrics.csv when the kill came
    checkpoint_step: int | None = None
    temps_left: int = 0  # atomic-write temp files the kill left
    socket_left: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def steps_lost(self) -> int | None:
        if self.killed_step is None or self.checkpoint_step is None:
            return None
        return max(self.killed_step - self.checkpoint_step, 0)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the job ended ({proc.returncode}) before {path.name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {path.name} after {timeout:.0f} s")
        time.sleep(0.02)


def kill_at_random(trial: Trial, env: dict[str, str]) -> Path:
    """Start the job, SIGKILL it `delay_s` after its first checkpoint; its run folder."""
    runs = trial.folder / "runs"
    proc = train(trial.folder / "killed.log", env, "--runs-dir", str(runs))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not runs.is_dir() or not any(runs.iterdir()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the job never made its run folder")
            time.sleep(0.02)
        (run_dir,) = list(runs.iterdir())
        wait_for(run_dir / "checkpoints" / "simple" / "latest.pt", proc, START_TIMEOUT_S)
        time.sleep(trial.delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rows = metrics(run_dir)
    trial.killed_step = rows[-1][0] if rows else 0
    return run_dir


def check_killed(trial: Trial, run_dir: Path) -> None:
    """What the kill left: every checkpoint loads, and the job is "died" at latest.pt's step."""
    from tui_gan.fileio import temp_files
    from tui_gan.jobs import registry
    from tui_gan.training.checkpoint import load_checkpoint

    for path in sorted(run_dir.glob("checkpoints/**/*.pt")):
        try:
            step = load_checkpoint(path)["step"]
        except Exception as exc:  # noqa: BLE001  (any failure to load is the finding)
            trial.failures.append(f"{path.name} does not load: {type(exc).__name__}: {exc}")
            continue
        if path.name == "latest.pt":
            trial.checkpoint_step = step
    status = registry.classify(run_dir)
    if (status.state, status.step) != ("died", trial.checkpoint_step):
        trial.failures.append(f"ls says {status.state} at {status.step}, not died at {trial.checkpoint_step}")
    trial.temps_left = len(temp_files(run_dir))
    trial.socket_left = registry.socket_path(run_dir).exists()


def check_resumed(trial: Trial, run_dir: Path, env: dict[str, str], steps: int, reference: Reference) -> None:
    """Resume for `steps` steps: exit 0, nothing stale left, every row as the reference's."""
    from tui_gan.fileio import temp_files
    from tui_gan.jobs import registry

    proc = train(trial.folder / "resume.log", env, "--resume", str(run_dir), "--max-steps", str(steps))
    try:
        code = proc.wait(RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if code != 0:
        trial.failures.append(f"resume exited {code}")
        return
    if temp_files(run_dir):
        trial.failures.append(f"temp files after resume: {[p.name for p in temp_files(run_dir)]}")
    if registry.socket_path(run_dir).exists():
        trial.failures.append("job.sock after resume")
    rows = metrics(run_dir)
    end = (trial.checkpoint_step or 0) + steps
    if [step for step, _ in rows] != list(range(1, end + 1)):
        trial.failures.append(f"metrics.csv steps are not 1..{end} once each")
    expected = reference.upto(end)
    wrong = [step for step, losses in rows if expected.get(step) != losses]
    if wrong:
        trial.failures.append(f"{len(wrong)} steps' losses differ from the reference, first {wrong[0]}")


def run_trial(trial: Trial, env: dict[str, str], reference: Reference, resume_steps: int = 20) -> Trial:
    """One kill -9 and its checks; trial.failures lists what went wrong (empty: survived)."""
    try:
        run_dir = kill_at_random(trial, env)
        check_killed(trial, run_dir)
        if trial.checkpoint_step is not None:
            check_resumed(trial, run_dir, env, resume_steps, reference)
    except Exception as exc:  # noqa: BLE001  (reported as the trial's failure)
        trial.failures.append(f"{type(exc).__name__}: {exc}")
    return trial


def report(trials: list[Trial], seconds: float) -> bool:
    """The table and the summary; True when every trial survived."""
    print("trial  delay s  killed  ckpt  lost temps  sock  result")
    for t in trials:
        steps = (t.killed_step, t.checkpoint_step, t.steps_lost)
        result = "ok" if not t.failures else "FAILED: " + "; ".join(t.failures) + f" ({t.folder})"
        killed, ckpt, lost = ("-" if c is None else c for c in steps)
        counts = f"{killed:>7} {ckpt:>5} {lost:>5} {t.temps_left:>5} {t.socket_left!s:>5}"
        print(f"{t.index:>5} {t.delay_s:>8.2f} {counts}  {result}")
    survived = [t for t in trials if not t.failures]
    lost = [t.steps_lost for t in trials if t.steps_lost is not None]
    print(
        f"\n{len(trials)} trials, {len(survived)} faults survived, {len(trials) - len(survived)} failed; "
        f"steps lost mean {statistics.mean(lost) if lost else 0:.1f}, max {max(lost, default=0)} "
        f"(a checkpoint every 16 steps); the kill left temp files in "
        f"{sum(t.temps_left > 0 for t in trials)} and job.sock in {sum(t.socket_left for t in trials)} "
        f"(all removed by resume unless a failure says otherwise); {seconds:.0f} s"
    )
    return len(survived) == len(trials)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--window", type=float, default=3.0, help="kill window, s after the 1st checkpoint")
    parser.add_argument("--resume-steps", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2, help="trials at once")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="tui-gan-faults-"))
    os.environ["TUI_GAN_RUNTIME_DIR"] = str(base / "runtime")
    env, rng, started = environment(base / "runtime"), random.Random(args.seed), time.monotonic()
    reference = Reference(base, env)
    trials = [Trial(i, base / f"trial-{i:03d}", rng.uniform(0, args.window)) for i in range(args.trials)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(args.parallel, 1)) as pool:
        list(pool.map(lambda t: run_trial(t, env, reference, args.resume_steps), trials))
    ok = report(trials, time.monotonic() - started)
    for trial in trials:
        if not trial.failures:
            shutil.rmtree(trial.folder, ignore_errors=True)
    if ok:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"failed trials kept under {base}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
