"""Flat costs: a job's memory and its checkpoints do not grow with the step count.

The engine's bookkeeping without the training maths, for N simulated steps: synthetic per-step
values go through StepStats (copied in batches of SYNC_EVERY, as on a GPU), the Reporter (the
architecture's loss history, the health checks, Stats events) and what a job keeps of those
events for viewers that attach later (LossPoints, as jobs/server.py keeps them); then the real
checkpoint of that ArchState (weights, optimizers, history) is written and read back. Each size
runs in a fresh process, so one size's garbage does not count against the next.

    python benchmarks/flat_costs.py [--steps 1M,10M,43M] [--arch simple]

Prints per size: the process's RSS growth over the steps, the checkpoint's size, its write and
resume (read + restore) times, each with its ratio to the first size, and the bookkeeping's cost
per step. The issue's targets, at 43M steps (a day at 500 steps/s) against 1M: memory +50 MB at
most, checkpoint +1 MB at most.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 64
STEPS_PER_EPOCH = 60_000 // BATCH  # MNIST's: the epoch column changes as in a real run
POOL = 4096  # distinct synthetic step values, cycled (making a tensor per step would dominate)
TARGETS = {"memory": 50e6, "checkpoint": 1e6}  # growth allowed from the first size to 43M steps


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def synthetic_values(torch):
    """Loss-like values (D ~1.35, G ~0.8, D(x) ~0.55, D(G(z)) ~0.45) with noise."""
    gen = torch.Generator().manual_seed(0)
    centre = torch.tensor([1.35, 0.8, 0.55, 0.45])
    spread = torch.tensor([0.08, 0.12, 0.05, 0.05])
    return list(centre + spread * torch.randn(POOL, 4, generator=gen))


def simulate(steps: int, arch: str) -> dict:
    """Run the bookkeeping of `steps` steps, then checkpoint: the figures of one size."""
    import torch

    from tui_gan.config import TrainConfig
    from tui_gan.data import Dataset
    from tui_gan.jobs.runfiles import LossPoints
    from tui_gan.models import get_arch
    from tui_gan.training import events as ev
    from tui_gan.training.checkpoint import build_payload, load_checkpoint, restore_state, save_checkpoint
    from tui_gan.training.outputs import RunOutputs
    from tui_gan.training.reporter import Reporter
    from tui_gan.training.state import build_state
    from tui_gan.training.stats import SYNC_EVERY, StepStats

    torch.set_num_threads(1)
    device = torch.device("cpu")
    config = TrainConfig(arch=arch, dataset="synthetic", batch_size=BATCH, eval_every=0).validate()
    images = torch.zeros(BATCH, 28, 28, dtype=torch.uint8)
    dataset = Dataset("synthetic", images, None, "generated", "flat_costs benchmark")
    s = build_state(get_arch(arch), config, device)
    stats = StepStats(device, BATCH)
    stats.sync_every = SYNC_EVERY  # as on a GPU: values are copied off the device in batches
    kept = LossPoints()  # what the job keeps for a viewer that attaches later

    def emit(e) -> None:
        if isinstance(e, ev.Stats):
            kept.extend(e.points)

    reporter = Reporter(
        emit,
        RunOutputs(None),  # metrics.csv and TensorBoard grow on disk by design: not measured here
        stats,
        STEPS_PER_EPOCH,
        judge_health=True,
        stats_interval=0.1,  # the engine's default
        samples_interval=math.inf,  # sample grids are training maths
    )
    pool = synthetic_values(torch)
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    for i in range(steps):  # Engine.train_step's and _after_step's bookkeeping
        s.step += 1
        s.pos += 1
        if stats.record(s.step, s.epoch, pool[i % POOL]):
            reporter.collect(s)
        if s.pos >= STEPS_PER_EPOCH:
            s.epoch, s.pos = s.epoch + 1, 0
            reporter.collect(s)
        reporter.after_step(s)
    reporter.flush(s, force=True)
    loop_s = time.perf_counter() - start
    gc.collect()
    grown = rss_bytes() - before
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "latest.pt"
        start = time.perf_counter()
        save_checkpoint(path, build_payload(s, config, device, dataset))
        write_s = time.perf_counter() - start
        size = path.stat().st_size
        start = time.perf_counter()
        resumed = build_state(get_arch(arch), config, device)
        restore_state(resumed, load_checkpoint(path, arch), path, device, dataset, config)
        resume_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {
        "steps": steps,
        "memory": grown,
        "peak": peak,
        "checkpoint": size,
        "write_s": write_s,
        "resume_s": resume_s,
        "us_per_step": loop_s / steps * 1e6,
        "history_rows": len(s.history),
        "resumed_rows": len(resumed.history),
        "viewer_points": len(kept.points()),
    }


def parse_count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def report(results: list[dict]) -> int:
    """The table, and whether the largest size is within the targets of the first."""
    first = results[0]
    print(
        f"{'steps':>12} {'memory +MB':>11} {'x':>6} {'peak +MB':>9} {'checkpoint MB':>14} {'x':>6} "
        f"{'write s':>8} {'x':>6} {'resume s':>9} {'us/step':>8} {'rows':>6}"
    )
    for r in results:
        print(
            f"{r['steps']:>12,} {r['memory'] / 1e6:>11.1f} {_ratio(r, first, 'memory'):>6} "
            f"{r['peak'] / 1e6:>9.1f} {r['checkpoint'] / 1e6:>14.3f} {_ratio(r, first, 'checkpoint'):>6} "
            f"{r['write_s']:>8.3f} {_ratio(r, first, 'write_s'):>6} {r['resume_s']:>9.3f} "
            f"{r['us_per_step']:>8.2f} {r['history_rows']:>6}"
        )
    last = results[-1]
    failed = 0
    for key, allowed in TARGETS.items():
        growth = last[key] - first[key]
        ok = growth <= allowed
        failed += not ok
        print(
            f"{key}: {growth / 1e6:+.2f} MB from {first['steps']:,} to {last['steps']:,} steps "
            f"(target +{allowed / 1e6:.0f} MB at most): {'ok' if ok else 'OVER'}"
        )
    return 1 if failed else 0


def _ratio(r: dict, first: dict, key: str) -> str:
    return f"{r[key] / first[key]:.2f}" if first[key] > 0 else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1M,10M,43M", help="simulated step counts, comma separated")
    parser.add_argument("--arch", default="simple", help="whose ArchState is checkpointed")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one size, in this process
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(simulate(args.child, args.arch)))
        return 0
    results = []
    for steps in map(parse_count, args.steps.split(",")):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(steps), "--arch", args.arch],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.splitlines()[-1]))
        print(f"  {steps:,} steps simulated in {time.perf_counter() - started:.0f} s", flush=True)
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
