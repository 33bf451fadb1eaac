"""How long the workspace's runs list takes to read: scan_runs over many finished long runs.

One run of STEPS steps is written as a job writes it (RunOutputs at the default cadence: a
metrics.csv row per 0.1 s of training at RATE steps/s, the summary.npz digest, a quality.csv row
per 30 s; the training maths simulated, as in flat_costs.py), then copied RUNS times with config.json
and job.json. The scan is timed cold (the first, after the copies: the page cache still holds the
files, as on a machine that wrote them) and warm (median of the repeats), and each row is read
once more per run with read_series, which the compare charts call for the selected runs only.

    python benchmarks/workspace_scan.py [--runs 50] [--steps 100000] [--repeats 5]

Target (issue 19's): the runs list of 50 finished runs of 100,000 steps in well under 1 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RATE = 500  # steps per second of training: a small model on a GPU
EVAL_EVERY_S = 30.0
FLUSH_S = 0.5  # a job's Stats flush: the steps reach the files in batches this long


def write_run(run_path: Path, steps: int, arch: str = "dcgan") -> None:
    """One finished run's files, as a job leaves them."""
    from tui_gan.config import TrainConfig
    from tui_gan.history import StepHistory
    from tui_gan.jobs import registry
    from tui_gan.quality.report import QualityReport
    from tui_gan.training.events import StepPoint
    from tui_gan.training.outputs import RunOutputs
    from tui_gan.training.rundir import RunDir

    run = RunDir.open(run_path)
    config = TrainConfig(arch=arch, dataset="mnist", loss="hinge", ema=0.999).validate().to_dict()
    run.write_config({**config, "dataset_size": 60000, "device_resolved": "cuda:0"})
    outputs, history = RunOutputs(run), StepHistory()
    rng = np.random.default_rng(0)
    batch, next_eval = int(RATE * FLUSH_S), EVAL_EVERY_S
    outputs.begin(arch, 0.0)
    for first in range(1, steps + 1, batch):
        values = rng.normal([1.3, 0.8, 0.6, 0.4], 0.1, size=(min(batch, steps - first + 1), 4))
        points = [StepPoint(first + i, (first + i) // 468, *v) for i, v in enumerate(values.tolist())]
        history.extend(points)
        seconds = points[-1].step / RATE
        outputs.steps(arch, history, points, 64_000.0, seconds)
        if seconds >= next_eval:
            fd = 200.0 / (1 + seconds / 60)
            report = QualityReport(1000, (0.1,) * 10, 10, 0.01, 0.9, 8.5, fd)
            outputs.quality(arch, points[-1].step, points[-1].epoch, report, 13.6)
            next_eval += EVAL_EVERY_S
    outputs.steps(arch, history, [], 64_000.0, steps / RATE, force=True)
    outputs.close()
    registry.write_job(
        registry.JobInfo(run_path, 1, run_path / "job.sock", "completed", arch, 1.7e9, 1.7e9 + 1, steps, 0)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from tui_gan.workspace.runs import read_series, scan_runs

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        started = time.perf_counter()
        write_run(root / "run-000", args.steps)
        for i in range(1, args.runs):
            shutil.copytree(root / "run-000", root / f"run-{i:03d}")
        built_s = time.perf_counter() - started
        per_run = sum(p.stat().st_size for p in (root / "run-000").rglob("*") if p.is_file())
        times = []
        for _ in range(args.repeats + 1):
            started = time.perf_counter()
            rows = scan_runs(root)
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        series = [read_series(row.run_dir) for row in rows]
        series_s = time.perf_counter() - started
    damaged = [row.run_dir.name for row in rows if row.problem]
    result = {
        "runs": len(rows),
        "steps": args.steps,
        "run_folder_bytes": per_run,
        "build_s": round(built_s, 1),
        "scan_first_s": round(times[0], 3),
        "scan_median_s": round(statistics.median(times[1:]), 3),
        "read_series_all_s": round(series_s, 3),
        "loss_points_per_run": len(series[0].loss_step),
        "fd_points_per_run": len(series[0].fd),
        "damaged": damaged,
    }
    print(json.dumps(result, indent=2))
    return 0 if len(rows) == args.runs and not damaged else 1


if __name__ == "__main__":
    sys.exit(main())
