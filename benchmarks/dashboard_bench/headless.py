"""Jobs with no dashboard: the headless reference every figure is measured against, and the
same job with plain viewers (`--child viewer`) attached before its first step."""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ENGINE_CLASS, SCRIPT, BenchError, read_child_result
from .jobs import bench_config, check_result, job_log_tail, start_job_within, timed_kwargs
from .processes import kill, kill_descendants, wait_gone


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
                [sys.executable, str(SCRIPT), "--child", "viewer", "--result", str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
            procs.append((proc, path, stderr))
        info = start_job_within(
            args.timeout,
            what,
            config,
            linger=False,
            engine_class=ENGINE_CLASS,
            engine_kwargs=timed_kwargs(args, timing, gate),
        )
        line = json.dumps({"run_dir": str(info.run_dir), "pid": info.pid, "socket": str(info.socket)}) + "\n"
        for proc, _, _ in procs:
            try:
                proc.stdin.write(line.encode())
                proc.stdin.close()
            except OSError:  # it died while the job started
                raise viewer_died(what, procs, proc) from None
        waiting = {proc.stdout.fileno(): proc for proc, _, _ in procs}
        end = time.monotonic() + 30.0
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise BenchError(f"{what}: {len(waiting)} viewer(s) did not get the Replay within 30 s")
            for fd in ready:
                said = os.read(fd, 4096)
                if not said:
                    raise viewer_died(what, procs, waiting[fd])
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
    result.update(
        mode="viewers" if viewers else "headless",
        arch=arch,
        steps=steps,
        viewers=viewer_results,
        failures=result.pop("engine_failures", []),
    )
    from tui_gan.jobs.registry import read_job

    ended = read_job(info.run_dir)
    if ended is None or ended.exit_code != 0:
        raise BenchError(
            f"{what}: the job ended with {ended.state if ended else 'no job.json'} "
            f"(exit code {ended.exit_code if ended else '?'}; {job_log_tail(info.run_dir)})"
        )
    return check_result(result, what, steps)


def viewer_died(what: str, procs, proc) -> BenchError:
    """The error for a viewer that exited before attaching, with the last line it wrote."""
    proc.wait(5)
    why = "?"
    for p, _, stderr in procs:
        if p is proc:
            stderr.seek(0)
            why = (stderr.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1][:200]
    return BenchError(f"{what}: a viewer exited with status {proc.returncode} before attaching ({why})")
