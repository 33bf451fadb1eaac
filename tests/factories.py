"""What the tests make themselves, with no network and no downloads: small labelled data, configs,
engines whose events are recorded, the exact-resume scaffold, command-line arguments and fake
system monitors. Plain helpers; the fixtures built on them are in conftest.py."""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from tui_gan.config import TrainConfig
from tui_gan.data import Dataset
from tui_gan.training import events as ev
from tui_gan.training.engine import Engine

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# --- data and configs ----------------------------------------------------------------------------


def blob_digits(n: int = 256, seed: int = 0, jitter: float = 1.0) -> Dataset:
    """Bright blobs at a few class-dependent places: learnable structure, made in milliseconds.
    `jitter` (pixels) moves each blob off its class's place; at 0.5 the classes do not overlap."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 28, 28), np.float32)
    for i, label in enumerate(labels):
        cy = 8 + (label // 4) * 6 + rng.normal(0, jitter)
        cx = 8 + (label % 4) * 4 + rng.normal(0, jitter)
        images[i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    u8 = (images * 255).clip(0, 255).astype(np.uint8)
    return Dataset("synthetic", torch.from_numpy(u8), torch.from_numpy(labels), "generated", "test blobs")


# 16 steps per epoch at batch 32. The dashboard tests train on it, and so does every test that
# needs a quality classifier: the classifier is cached by content, so the session trains it once.
DIGITS = blob_digits(512, seed=3)


def tiny_config(tmp_path: Path, **changes) -> TrainConfig:
    """A small run: simple, batch 32, 2 epochs, no quality evaluations, runs under tmp_path. A
    process that loads its own data (a job, the command line) gets 512 synthetic digits."""
    base = dict(
        arch="simple",
        dataset="synthetic",
        synthetic_size=512,
        batch_size=32,
        epochs=2,
        runs_dir=str(tmp_path / "runs"),
        sample_count=16,
        eval_every=0,
    )
    base.update(changes)
    return TrainConfig(**base).validate()


def endless_config(tmp_path: Path, **changes) -> TrainConfig:
    """tiny_config for a run that trains until it is stopped (1000 epochs), with checkpoints only
    when asked for and at the end."""
    return tiny_config(tmp_path, **{"epochs": 1000, "checkpoint_every": 0, **changes})


# --- engines -------------------------------------------------------------------------------------


class Recorder:
    """An engine's `emit`: keeps every event."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]

    def points(self, arch=None):
        return [p for s in self.of(ev.Stats) if arch in (None, s.arch) for p in s.points]

    def losses(self) -> list[tuple[float, float]]:
        """(D loss, G loss) of every step, in order."""
        return [(p.d_loss, p.g_loss) for p in self.points()]


def make_engine(tmp_path, rec=None, run_dir=False, dataset=None, resume=None, **changes) -> Engine:
    """An Engine on tiny_config(**changes) and 256 blob digits (8 steps per epoch), without a run
    folder unless given one."""
    return Engine(
        tiny_config(tmp_path, **changes),
        rec or Recorder(),
        dataset=dataset or blob_digits(256),
        resume=resume,
        run_dir=run_dir,
    )


def run_in_thread(engine: Engine) -> tuple[threading.Thread, dict]:
    """engine.run() in a daemon thread; the dict gets its "reason" when it returns."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("reason", engine.run()), daemon=True)
    thread.start()
    return thread, result


class ResumedRuns(NamedTuple):
    straight: Recorder  # 2k steps without a stop
    resumed: Recorder  # steps k+1..2k, trained by a new engine from the checkpoint at step k
    engine: Engine  # that new engine, after its k steps


def straight_and_resumed(tmp_path: Path, k: int, **changes) -> ResumedRuns:
    """The exact-resume scaffold, with tiny_config(**changes) for every engine: one trains 2k steps
    straight through; another trains k steps and writes its final checkpoint; a third resumes from
    that checkpoint for k more. An exact resume gives the straight run's last k losses, bit for bit:
    `runs.resumed.losses() == runs.straight.losses()[k:]`."""
    straight = Recorder()
    make_engine(tmp_path, straight, max_steps=2 * k, **changes).run()
    first = Recorder()
    make_engine(
        tmp_path, first, run_dir=tmp_path / "interrupted", max_steps=k, checkpoint_every=0, **changes
    ).run()
    resumed = Recorder()
    engine = make_engine(
        tmp_path, resumed, resume=first.of(ev.CheckpointSaved)[-1].path, max_steps=k, **changes
    )
    engine.run()
    return ResumedRuns(straight, resumed, engine)


# --- the command line ----------------------------------------------------------------------------
# A tiny run's train options: 512 synthetic digits, 16 steps an epoch, no quality evaluations.
SYNTHETIC_RUN = (
    *("--dataset", "synthetic", "--synthetic-size", "512"),
    *("--arch", "simple", "--batch-size", "32", "--eval-every", "0"),
)


def train_args(tmp_path, idx_dir, *extra) -> list[str]:
    """`tui-gan train --headless` on the IDX folder (see the idx_dir fixture), runs under tmp_path."""
    return [
        "train",
        "--headless",
        "--data-dir",
        str(idx_dir),
        "--arch",
        "simple",
        "--batch-size",
        "32",
        "--runs-dir",
        str(tmp_path / "runs"),
        *extra,
    ]


def run_dirs(tmp_path) -> list[Path]:
    """The run folders train_args' runs made, oldest first."""
    root = tmp_path / "runs"
    return sorted(root.iterdir()) if root.exists() else []


def one_line_error(capsys, code) -> str:
    """The command failed with exit code 2 and one line on stderr (no traceback): that line."""
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert code == 2, out
    assert len(lines) == 1 and lines[0].startswith("tui-gan: error:"), out.err
    assert "Traceback" not in out.err + out.out
    return lines[0]


# --- system monitors -----------------------------------------------------------------------------


def cpu_status():
    from tui_gan.system import CPUStatus

    return CPUStatus(
        cpu_percent=37.5,
        per_cpu=(30.0, 45.0),
        ram_used_bytes=3 * 2**30,
        ram_total_bytes=16 * 2**30,
        process_rss_bytes=900 * 2**20,
        torch_threads=2,
        cpu_name="Test CPU 3000",
    )


def gpu_status():
    from tui_gan.system import GPUStatus

    return GPUStatus(
        name="NVIDIA H100 80GB HBM3",
        index=0,
        util_percent=87.0,
        mem_used_bytes=21 * 2**30,
        mem_total_bytes=80 * 2**30,
        temperature_c=61.0,
        power_w=412.0,
        power_limit_w=700.0,
    )


class FakeMonitor:
    """SystemMonitor's interface with a fixed reading, so panels and snapshots never flake."""

    def __init__(self, status, reason=None):
        self.status = status
        self.gpu_unavailable_reason = reason
        self.polls = 0
        self.closed = False

    def poll(self):
        self.polls += 1
        return self.status

    def close(self):
        self.closed = True


def monitor_factory(make_status):
    """A monitor_factory for TuiGanApp whose monitors read make_status()."""
    made = []

    def factory(device, torch_threads=None, **ids):
        made.append(FakeMonitor(make_status()))
        return made[-1]

    factory.made = made  # the monitors built, to check they were polled and closed
    return factory


def logged_steps(run: Path, arch: str = "simple") -> tuple[int, int]:
    """How many steps `arch`'s metrics.csv rows stand for, and the last row's step."""
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["arch"] == arch]
    return sum(int(r["steps"]) for r in rows), int(rows[-1]["step"])


def write_finished_run(
    run_dir: Path, arch: str, *, seed: int, fd_start: float, fd_end: float, steps: int = 6000, **config
) -> Path:
    """A finished run's folder as a job leaves it (config.json, metrics.csv and its digest,
    quality.csv, the kept sample grids), written through the run's own writers with made-up
    figures: what the workspace reads, in milliseconds."""
    from tui_gan.config import TrainConfig
    from tui_gan.data.synthetic import make_synthetic_digits
    from tui_gan.history import StepHistory
    from tui_gan.jobs.runfiles import SampleStore
    from tui_gan.quality.report import QualityReport
    from tui_gan.training.outputs import RunOutputs
    from tui_gan.training.rundir import RunDir

    run = RunDir.open(run_dir)
    config.setdefault("epochs", steps // 468 + 1)
    run.write_config({**TrainConfig(arch=arch, **config).to_dict(), "device_resolved": "cpu"})
    rng = np.random.default_rng(seed)
    outputs, history, rate = RunOutputs(run), StepHistory(), 200.0
    outputs.begin(arch, 0.0)
    for first in range(1, steps + 1, 100):
        i = np.arange(first, first + 100)
        d = 1.38 - 0.4 * (1 - np.exp(-i / 900)) + rng.normal(0, 0.05, 100)
        g = 0.7 + 0.8 * (1 - np.exp(-i / 1200)) + rng.normal(0, 0.08, 100)
        points = [
            ev.StepPoint(int(s), int(s // 468), float(a), float(b), 0.6, 0.4) for s, a, b in zip(i, d, g)
        ]
        history.extend(points)
        outputs.steps(arch, history, points, rate * 64, float(i[-1]) / rate)
    outputs.steps(arch, history, [], rate * 64, steps / rate, force=True)
    for k, step in enumerate(range(steps // 6, steps + 1, steps // 6)):
        fd = fd_start + (fd_end - fd_start) * (1 - np.exp(-3 * (k + 1) / 6)) / (1 - np.exp(-3))
        report = QualityReport(1000, tuple([0.1] * 10), 10 - (k < 2), 0.01, 0.9, 8.5, float(fd))
        run.append_quality(arch, step, step // 468, report, 2.0)
    outputs.close()
    images = make_synthetic_digits(64, seed=seed)[0].numpy()
    SampleStore(run_dir).add(ev.Samples(arch, step=steps, images=images))
    return run_dir
