"""Several processes with DistributedDataParallel, on CPUs over gloo (real torchrun, real ranks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from factories import SYNTHETIC_RUN, logged_steps
from viewers import Viewer
from waiting import wait_until

import tui_gan
from tui_gan.jobs import registry
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint

TESTS = Path(__file__).resolve().parent
PACKAGE_ROOT = Path(tui_gan.__file__).resolve().parents[1]  # the ranks import the tui_gan these tests do


pytestmark = pytest.mark.usefixtures("private_runtime")


def torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(300)  # torchrun has 240 s
@pytest.mark.slow
@pytest.mark.parametrize("arch, conditional", [("dcgan", False), ("mlp", False), ("dcgan", True)])
def test_two_ranks_train_identical_weights(tmp_path, arch, conditional):
    """dcgan's D has BatchNorm (two backward passes, the first without a sync); mlp's G has it.
    Conditional: each rank takes its slice of the batch's classes with its slice of the digits."""
    script = tmp_path / "rank.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, sys, torch
        sys.path[:0] = [{str(TESTS)!r}, {str(PACKAGE_ROOT)!r}]
        from pathlib import Path
        from factories import blob_digits, tiny_config
        from tui_gan.training.engine import Engine
        steps = []
        engine = Engine(tiny_config(Path({str(tmp_path)!r}), arch={arch!r}, max_steps=5, epochs=10,
                                    conditional={conditional!r}, device="cpu"),
                        dataset=blob_digits(512),
                        run_dir=Path({str(tmp_path / "run")!r}),
                        emit=lambda e: steps.append(getattr(e, "step", None)))
        assert engine.run() == "max_steps"
        assert engine.batches.local == 16 and engine.current.step == 5
        # parameters: BatchNorm's running statistics are each rank's own on CPUs (no SyncBatchNorm)
        weights = {{name: p.detach() for name, p in engine.current.G.named_parameters()}}
        torch.save(weights, {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
    """)
    )
    done = torchrun(str(script))
    assert done.returncode == 0, done.stderr[-3000:]
    g0, g1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert g0.keys() == g1.keys()
    for key in g0:
        assert torch.equal(g0[key], g1[key]), key
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / arch / "latest.pt")
    assert saved["step"] == 5
    assert not any("module." in key for key in saved["generator"])  # plain weights: loadable without DDP
    for key in g0:  # rank 0 wrote its weights, and training moved them
        assert torch.equal(saved["generator"][key], g0[key])


@pytest.mark.timeout(300)  # torchrun has 240 s
@pytest.mark.slow
def test_nproc_run_resumes_in_one_process(tmp_path):
    runs = tmp_path / "runs"
    args = [
        "train",
        "--headless",
        "--device",
        "cpu",
        *SYNTHETIC_RUN,
        "--runs-dir",
        str(runs),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "tui_gan", *args, "--nproc", "2", "--max-steps", "6"],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    (run_dir,) = runs.iterdir()
    assert load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == 6
    assert logged_steps(run_dir) == (6, 6)  # rank 0 alone writes: each step once
    from tui_gan.cli import main

    assert main([*args, "--resume", str(run_dir), "--max-steps", "3"]) == 0
    assert load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == 9


@pytest.mark.timeout(300)  # torchrun has 240 s
@pytest.mark.slow
def test_commands_reach_every_rank(tmp_path):
    """A viewer of a 2-process job pauses it, switches architecture and stops it: every rank acts
    at the same step (or the collectives would hang), and rank 0 checkpoints both."""
    runs = tmp_path / "runs"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_gan",
            "train",
            "--detach",
            "--nproc",
            "2",
            "--device",
            "cpu",
            *SYNTHETIC_RUN,
            "--epochs",
            "1000",
            "--runs-dir",
            str(runs),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = runs.iterdir()
    job = registry.read_job(run_dir)
    viewer = Viewer(job)
    try:
        viewer.wait(
            lambda e: isinstance(e, ev.Stats) and e.step > 60 and e.rank_images_per_s, "per-rank rates"
        )
        viewer.client.send(cmd.Pause())
        paused = viewer.wait(lambda e: isinstance(e, ev.StateChanged) and e.state == "paused", "paused")
        viewer.client.send(cmd.SwitchArch("mlp"))  # the ranks switch while paused: simple trains no more
        viewer.wait(lambda e: isinstance(e, ev.ArchSwitched) and e.arch == "mlp", "the switch")
        viewer.client.send(cmd.Resume())
        viewer.wait(lambda e: isinstance(e, ev.Stats) and e.arch == "mlp" and e.step >= 5, "mlp training")
        viewer.client.send(cmd.Stop())
        finished = viewer.wait(lambda e: isinstance(e, ev.Finished), "the end", timeout=120)
    finally:
        viewer.client.detach()
    assert finished.reason == "stopped"
    assert load_checkpoint(run_dir / "checkpoints" / "simple" / "latest.pt")["step"] == paused.step
    assert load_checkpoint(run_dir / "checkpoints" / "mlp" / "latest.pt")["step"] >= 5
    wait_until(
        lambda: registry.read_job(run_dir).state != "running", "the job to record its end", 60, interval=0.1
    )
    assert registry.read_job(run_dir).exit_code == 0


def test_a_batch_that_does_not_split_is_a_one_line_error(tmp_path, capsys):
    from tui_gan.cli import main

    code = main(
        [
            "train",
            "--headless",
            "--nproc",
            "3",
            "--dataset",
            "synthetic",
            "--batch-size",
            "32",
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "does not split evenly over 3 processes" in err[0]
