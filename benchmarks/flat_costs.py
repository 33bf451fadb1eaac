"""Flat costs: a job's memory, its checkpoints, its logs and attach do not grow with the step count.

The engine's bookkeeping without the training maths, for N simulated steps at RATE steps per
second of training (a small model on a GPU; the training clock is simulated, so a day takes
minutes): synthetic per-step values go through StepStats (copied in batches of SYNC_EVERY, as on
a GPU), the Reporter (history, health checks, Stats events), the run's real files (metrics.csv,
summary.npz, TensorBoard with its sample grids, an epoch grid per epoch end, a quality row every
30 s, all at their default cadence) and what a job keeps for viewers that attach later
(LossPoints, as jobs/server.py keeps them). Then the real checkpoint of that ArchState is written
and read back, and attach's first frame is timed both ways: a live job's (its Replay message
built, packed and unpacked) and a finished run's (RunReplay.setup reading the folder). Each size
runs in a fresh process, so one size's garbage does not count against the next.

    python benchmarks/flat_costs.py [--steps 1M,10M,43M] [--arch simple]

Prints per size: the process's RSS growth over the steps, the checkpoint's size and its write
and resume times, the run folder's bytes per hour of training (checkpoints aside), attach's first
frame (live and from the folder; "whole csv" is what reading metrics.csv whole costs, as for a
run without summary.npz), and the bookkeeping's cost per step. The issue's targets at 43M steps
(a day at 500 steps/s) against 1M: memory +50 MB at most, checkpoint +1 MB at most, attach under
1 s, under 1 GB of logs a day.
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
RATE = 500  # simulated steps per second of training
EVAL_EVERY_S = 30.0  # the default --eval-every
LOGS_PER_DAY = 1e9
ATTACH_S = 1.0


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
    """Run the bookkeeping of `steps` steps, then checkpoint and attach: one size's figures."""
    import torch

    from tui_gan.config import TrainConfig
    from tui_gan.data import Dataset
    from tui_gan.data.synthetic import make_synthetic_digits
    from tui_gan.jobs.runfiles import LossPoints
    from tui_gan.models import get_arch
    from tui_gan.training import events as ev
    from tui_gan.training.outputs import RunOutputs
    from tui_gan.training.reporter import Reporter
    from tui_gan.training.rundir import RunDir
    from tui_gan.training.state import build_state
    from tui_gan.training.stats import SYNC_EVERY, StepStats

    torch.set_num_threads(1)
    device = torch.device("cpu")
    tmp = tempfile.TemporaryDirectory()
    run_dir = RunDir.open(Path(tmp.name) / "run")
    config = TrainConfig(arch=arch, dataset="synthetic", batch_size=BATCH).validate()
    images = torch.zeros(BATCH, 28, 28, dtype=torch.uint8)
    dataset = Dataset("synthetic", images, None, "generated", "flat_costs benchmark")
    s = build_state(get_arch(arch), config, device)
    stats = StepStats(device, BATCH)
    stats.sync_every = SYNC_EVERY  # as on a GPU: values are copied off the device in batches
    kept = LossPoints()  # what the job keeps for a viewer that attaches later
    outputs = RunOutputs(run_dir)
    outputs.write_config(config, dataset, device, None)
    outputs.open_tensorboard(config, device, None)
    grid = make_synthetic_digits(64)[0].numpy()  # digit-like grids: PNGs of the size real ones have

    def emit(e) -> None:
        if isinstance(e, ev.Stats):
            kept.extend(e.points)

    reporter = Reporter(
        emit,
        outputs,
        stats,
        STEPS_PER_EPOCH,
        judge_health=True,
        stats_interval=0.1,  # the engine's default
        samples_interval=math.inf,  # sample grids are training maths: written below instead
    )
    outputs.begin(arch, 0.0)
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    drive(steps, s, stats, reporter, outputs, grid, synthetic_values(torch))
    loop_s = time.perf_counter() - start
    gc.collect()
    grown = rss_bytes() - before
    saved = checkpoint_figures(run_dir.checkpoint_path(arch, "latest"), s, config, device, dataset)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    start = time.perf_counter()
    outputs.finish(arch, s.history, lambda: grid)
    outputs.close()
    finish_s = time.perf_counter() - start
    logs = folder_bytes(run_dir.path) - saved["checkpoint"]
    figures = attach_times(run_dir.path, kept, arch)
    tmp.cleanup()
    return {
        "steps": steps,
        "memory": grown,
        "peak": peak,
        **saved,
        "finish_s": finish_s,
        "logs_per_hour": logs / (steps / RATE / 3600),
        "us_per_step": loop_s / steps * 1e6,
        "history_rows": len(s.history),
        "viewer_points": len(kept.points()),
        **figures,
    }


def drive(steps: int, s, stats, reporter, outputs, grid, pool) -> None:
    """Engine.train_step's and _after_step's bookkeeping for `steps` steps at RATE: the stats,
    the epoch grids, a quality row every EVAL_EVERY_S, the Reporter's cadence."""
    arch, report, next_eval = s.name, fake_quality(), EVAL_EVERY_S
    for i in range(steps):
        s.step += 1
        s.pos += 1
        s.train_time = s.step / RATE
        if stats.record(s.step, s.epoch, pool[i % POOL]):
            reporter.collect(s)
        if s.pos >= STEPS_PER_EPOCH:
            s.epoch, s.pos = s.epoch + 1, 0
            reporter.collect(s)
            outputs.epoch_samples(arch, s.epoch, s.step, s.train_time, lambda: grid)
            outputs.samples(arch, s.step, s.train_time, grid)  # the live grid TensorBoard keeps
        if s.train_time >= next_eval:
            outputs.quality(arch, s.step, s.epoch, report, 19.0)
            next_eval += EVAL_EVERY_S
        reporter.after_step(s)
    reporter.flush(s, force=True)


def checkpoint_figures(path: Path, s, config, device, dataset) -> dict:
    """The real checkpoint of `s`: its size, write time, and the time to read and restore it."""
    from tui_gan.models import get_arch
    from tui_gan.training.checkpoint import build_payload, load_checkpoint, restore_state, save_checkpoint
    from tui_gan.training.state import build_state

    start = time.perf_counter()
    save_checkpoint(path, build_payload(s, config, device, dataset))
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    resumed = build_state(get_arch(s.name), config, device)
    restore_state(resumed, load_checkpoint(path, s.name), path, device, dataset, config)
    resume_s = time.perf_counter() - start
    return {
        "checkpoint": path.stat().st_size,
        "write_s": write_s,
        "resume_s": resume_s,
        "resumed_rows": len(resumed.history),
    }


def fake_quality():
    from tui_gan.quality.report import QualityReport

    return QualityReport(1000, tuple([0.1] * 10), 10, 0.01, 0.9, 8.5, 23.5)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def attach_times(run: Path, kept, arch: str) -> dict:
    """Seconds to attach's first frame: a live job's Replay message (built from what the job
    keeps, packed and unpacked) and a finished run's (RunReplay.setup reading the folder), and
    reading metrics.csv whole (a run without summary.npz)."""
    from tui_gan.jobs import protocol as proto
    from tui_gan.jobs.client import RunReplay
    from tui_gan.jobs.runfiles import read_metrics, read_quality
    from tui_gan.training.summary import SUMMARY_FILE

    start = time.perf_counter()
    qualities = read_quality(run)
    replay = proto.Replay(
        arch, histories={arch: kept.points()}, samples={}, qualities=qualities, log=(), viewers=1
    )
    message = proto.pack({"op": "event", "event": proto.encode_event(replay)})
    proto.decode_event(proto.unpack(message[proto.HEADER.size :])["event"])
    live_s = time.perf_counter() - start
    start = time.perf_counter()
    RunReplay(run, lambda e: None).setup()
    replay_s = time.perf_counter() - start
    (run / SUMMARY_FILE).unlink()
    start = time.perf_counter()
    read_metrics(run)
    whole_s = time.perf_counter() - start
    return {"attach_live_s": live_s, "attach_replay_s": replay_s, "whole_csv_s": whole_s}


def parse_count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def report(results: list[dict]) -> int:
    """The table, and whether the largest size is within the targets of the first."""
    first = results[0]
    print(
        f"{'steps':>12} {'memory +MB':>11} {'x':>6} {'peak +MB':>9} {'checkpoint MB':>14} {'x':>6} "
        f"{'write s':>8} {'resume s':>9} {'logs MB/h':>10} {'attach live s':>14} {'replay s':>9} "
        f"{'whole csv s':>12} {'finish s':>9} {'us/step':>8}"
    )
    for r in results:
        print(
            f"{r['steps']:>12,} {r['memory'] / 1e6:>11.1f} {_ratio(r, first, 'memory'):>6} "
            f"{r['peak'] / 1e6:>9.1f} {r['checkpoint'] / 1e6:>14.3f} {_ratio(r, first, 'checkpoint'):>6} "
            f"{r['write_s']:>8.3f} {r['resume_s']:>9.3f} {r['logs_per_hour'] / 1e6:>10.1f} "
            f"{r['attach_live_s']:>14.3f} {r['attach_replay_s']:>9.3f} {r['whole_csv_s']:>12.3f} "
            f"{r['finish_s']:>9.2f} {r['us_per_step']:>8.2f}"
        )
    last = results[-1]
    checks = [
        (
            f"{key}: {(last[key] - first[key]) / 1e6:+.2f} MB from {first['steps']:,} to {last['steps']:,} "
            f"steps (target +{allowed / 1e6:.0f} MB at most)",
            last[key] - first[key] <= allowed,
        )
        for key, allowed in TARGETS.items()
    ]
    day = last["logs_per_hour"] * 24
    logs = f"logs: {day / 1e9:.2f} GB a day"
    checks.append((f"{logs} (target under {LOGS_PER_DAY / 1e9:.0f} GB)", day < LOGS_PER_DAY))
    slowest = max(last["attach_live_s"], last["attach_replay_s"])
    at = f"attach first frame at {last['steps']:,} steps: {slowest:.3f} s"
    checks.append((f"{at} (target under {ATTACH_S:.0f} s)", slowest < ATTACH_S))
    for text, ok in checks:
        print(f"{text}: {'ok' if ok else 'OVER'}")
    return 0 if all(ok for _, ok in checks) else 1


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
