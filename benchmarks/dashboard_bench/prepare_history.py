"""What `benchmarks/dashboard.py --child prepare` runs for --mode attach: a run folder that looks
like a long run's, made in seconds. It trains --arch PREPARE_STEPS real steps, then rewrites the
checkpoint with --history rows of loss history (step and epoch consistent with the dataset's
steps per epoch), metrics.csv with the same rows, quality.csv with one evaluation per
QUALITY_EVERY steps, and the sample-history folder as a job that kept a grid every GRID_EVERY
steps would have left it (SampleHistory's thinning: ~60-120 grids)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import BATCH, first_line, write_child_result
from .jobs import bench_config

PREPARE_STEPS = 20  # real steps before the history is rewritten (a checkpoint and sample grids to start from)
GRID_EVERY = 100  # steps between the sample grids of the prepared history (a grid a second at ~100 steps/s)
QUALITY_EVERY = 3000  # steps between the prepared quality evaluations (every 30 s at ~100 steps/s)


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
        data.update(
            history=torch.from_numpy(rows), step=n, epoch=n // spe, pos=n % spe, train_time=n * BATCH / rate
        )
        save_checkpoint(checkpoint, data)
        with open(run / "metrics.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(METRIC_COLUMNS)
            for i, row in enumerate(rows.tolist()):
                writer.writerow(
                    (
                        arch,
                        int(row[0]),
                        int(row[1]),
                        f"{row[2]:.6g}",
                        f"{row[3]:.6g}",
                        f"{row[4]:.6g}",
                        f"{row[5]:.6g}",
                        f"{rate:.1f}",
                        f"{(i + 1) * BATCH / rate:.3f}",
                    )
                )
        with open(run / "quality.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(QUALITY_COLUMNS)
            for step in range(QUALITY_EVERY, n + 1, QUALITY_EVERY):
                writer.writerow(
                    (
                        arch,
                        step,
                        step // spe,
                        1000,
                        10,
                        "0.05",
                        "0.9",
                        "8.5",
                        f"{40 - 20 * step / n:.5g}",
                        "1.2",
                        *["0.1000"] * 10,
                    )
                )
        # the sample history a job keeping a grid every GRID_EVERY steps leaves (SampleStore's thinning)
        s = engine.current
        out = s.digits(torch.cat([s.fixed_noise, s.interp_noise]))
        images, interpolation = out[: len(s.fixed_noise)], out[len(s.fixed_noise) :]
        history = SampleHistory()
        for step in range(GRID_EVERY, n + 1, GRID_EVERY):
            history.add(Snapshot(step, images, interpolation))
        folder = run / "samples" / arch / "history"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("step_*.npz"):
            old.unlink()
        for snap in history.snapshots:
            np.savez(
                folder / f"step_{snap.step:07d}.npz", images=snap.images, interpolation=snap.interpolation
            )
        result.update(
            run_dir=str(run),
            checkpoint=str(checkpoint),
            step=n,
            steps_per_epoch=spe,
            grids=len(history.snapshots),
            last_grid=history.snapshots[-1].step,
            grid_bytes=int(images.nbytes + interpolation.nbytes),
        )
    except BaseException as exc:  # noqa: BLE001
        result["error"] = first_line(exc)
    return write_child_result(args.result, result)
