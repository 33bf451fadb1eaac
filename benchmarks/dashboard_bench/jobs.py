"""Starting what the benchmark measures: jobs (tui_gan/jobs) running the TimedEngine of
benchmarks/timed_engine.py, the child processes that run benchmarks/dashboard.py again with
--child, and viewers of a job that count what they read."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from bench_data import mnist_here

from .common import BATCH, SCRIPT, BenchError, first_line
from .processes import kill_descendants


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
        arch=arch,
        dataset="mnist" if mnist_here(dataset) else "synthetic",
        epochs=1_000_000,
        batch_size=BATCH,
        max_steps=steps,
        eval_every=0.0,
        checkpoint_every=0,
        device=device,
        runs_dir=str(runs_dir),
        seed=0,
        **changes,
    )


def timed_kwargs(args: argparse.Namespace, timing_path: Path, gate: Path | None = None) -> dict:
    """The TimedEngine's keyword arguments (JSON: they travel to the job over its stdin)."""
    kwargs = dict(
        data=args.dataset,
        warmup=args.warmup,
        timing_path=str(timing_path),
        torch_threads=args.torch_threads,
        switch_interval_ms=args.switch_interval,
    )
    if gate is not None:
        kwargs["start_gate"] = str(gate)
    return kwargs


def child_command(
    mode: str, args: argparse.Namespace, arch: str, steps: int, result: Path, status_fd=None
) -> list[str]:
    command = [
        sys.executable,
        str(SCRIPT),
        "--child",
        mode,
        "--arch",
        arch,
        "--steps",
        str(steps),
        "--dataset",
        args.dataset,
        "--device",
        args.device,
        "--result",
        str(result),
        "--runs-dir",
        str(result.parent / f"runs-{result.stem}"),
        "--warmup",
        str(args.warmup),
        "--history",
        str(args.history),
    ]
    if args.torch_threads:
        command += ["--torch-threads", str(args.torch_threads)]
    if args.switch_interval:
        command += ["--switch-interval", str(args.switch_interval)]
    if status_fd is not None:
        command += ["--status-fd", str(status_fd)]
    return command


def check_result(result: dict, what: str, steps: int) -> dict:
    if "error" in result:
        raise BenchError(f"{what}: child failed: {result['error']}")
    if result.get("failures"):
        raise BenchError(f"{what}: training failed: {result['failures'][0]}")
    if len(result["step_times"]) != steps:
        raise BenchError(f"{what}: {len(result['step_times'])} steps ran, expected {steps}")
    return result


def job_log_tail(run_dir: Path) -> str:
    """The last line of a job's log (its folder goes with the temporary directory)."""
    try:
        lines = [line.strip() for line in (run_dir / "job.log").read_text(errors="replace").splitlines()]
    except OSError:
        return "no job.log"
    lines = [line for line in lines if line]
    return f"job.log: {lines[-1][:200]}" if lines else "job.log is empty"


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


@contextmanager
def reading(client):
    """A JobClient that has done its setup(), reading its job's events in a thread until the
    block ends; then it detaches."""
    reader = threading.Thread(target=client.run, name="job client", daemon=True)
    reader.start()
    try:
        yield client
    finally:
        client.detach()
        reader.join(10.0)
