"""The command line as a user meets it: bad input gets one line and exit code 2."""

import os
import subprocess
import sys

import numpy as np
import pytest
from factories import logged_steps, one_line_error, run_dirs, train_args

from tui_gan.cli import main
from tui_gan.models import ARCH_NAMES

pytestmark = pytest.mark.usefixtures("classifier_cache")


@pytest.mark.slow
def test_headless_train_then_resume_then_sample(tmp_path, idx_dir, capsys):
    assert main(train_args(tmp_path, idx_dir, "--epochs", "2")) == 0
    out = capsys.readouterr().out
    assert "completed: simple at step 16" in out
    (run,) = run_dirs(tmp_path)
    for name in (
        "config.json",
        "metrics.csv",
        "samples/simple/epoch_001.png",
        "checkpoints/simple/latest.pt",
        "loss_simple.png",
        "progress_simple.gif",
    ):
        assert (run / name).exists(), name
    assert not (run / "samples/simple/epoch_002.png").exists()  # epoch grids: one per 30 s at most
    assert logged_steps(run) == (16, 16)  # rows by time, each standing for its steps
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))

    ckpt = run / "checkpoints" / "simple" / "latest.pt"
    assert (
        main(
            [
                "train",
                "--headless",
                "--data-dir",
                str(idx_dir),
                "--runs-dir",
                str(tmp_path / "runs"),
                "--resume",
                str(ckpt),
                "--epochs",
                "3",
            ]
        )
        == 0
    )
    assert "completed: simple at step 24" in capsys.readouterr().out
    assert logged_steps(run) == (24, 24)  # resumed in place: steps 17-24 appended once

    assert main(["sample", str(ckpt), "-n", "10", "-o", str(tmp_path / "d.npy")]) == 0
    digits = np.load(tmp_path / "d.npy")
    assert digits.shape == (10, 28, 28) and digits.dtype == np.uint8
    assert main(["sample", str(ckpt), "-n", "9", "-o", str(tmp_path / "d.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "d.png").size[0] > 28
    capsys.readouterr()
    assert main(["sample", str(ckpt), "-n", "3", "--seed", "1"]) == 0  # no -o: in the terminal
    title, *lines = capsys.readouterr().out.splitlines()
    assert title == "simple (step 24)"  # a pipe: characters, two digits a row in 80 columns
    assert len(lines) == 14 + 1 + 14 and {len(line) for line in lines[:14]} == {28 + 1 + 28}
    ramp = set(" .:-=+*#%@")
    assert set("".join(lines)) <= ramp and len(set("".join(lines))) > 3


@pytest.mark.slow
def test_eval_prints_quality_as_json(tmp_path, idx_dir, capsys):
    import json

    assert (
        main(train_args(tmp_path, idx_dir, "--max-steps", "3", "--eval-every", "0", "--no-tensorboard")) == 0
    )
    (run,) = run_dirs(tmp_path)
    assert not (run / "tensorboard").exists()
    capsys.readouterr()
    (ckpt,) = (tmp_path / "runs").glob("*/checkpoints/simple/latest.pt")
    assert main(["eval", str(ckpt), "--samples", "100"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["arch"] == "simple" and result["step"] == 3 and result["n"] == 100
    for key in (
        "classes_covered",
        "kl_to_uniform",
        "mean_confidence",
        "classifier_score",
        "frechet_distance",
        "real_floor",
    ):
        assert isinstance(result[key], (int, float))
    assert len(result["histogram"]) == 10 and abs(sum(result["histogram"]) - 1) < 1e-6


def test_archs_lists_names_and_sizes(capsys):
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    for name in ARCH_NAMES:
        assert name in out
    assert "1,489,936" in out  # mlp generator parameters


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-size", "0"], "batch size must be a whole number of at least 1"),
        (["--lr", "-1"], "learning rate must be a positive number"),
        (["--epochs", "0"], "epochs must be a whole number of at least 1"),
        (["--beta1", "1.5"], "beta1 must be in [0, 1)"),
        (["--batch-size", "100000"], "larger than the dataset"),
        (["--device", "tpu"], "unknown device"),
        (["--device", "cuda:x"], "unknown device"),
        (["--device", "cuda:-1"], "unknown device"),
    ],
)
def test_impossible_numbers(tmp_path, idx_dir, capsys, extra, message):
    line = one_line_error(capsys, main(train_args(tmp_path, idx_dir, *extra)))
    assert message in line
    assert run_dirs(tmp_path) == []  # nothing was created for a run that never started


def test_unknown_arch_and_dataset_list_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--arch", "resnet"])
    assert info.value.code == 2
    assert "mlp" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "cifar"])
    assert "synthetic" in capsys.readouterr().err


def test_config_file(tmp_path, idx_dir, capsys):
    (tmp_path / "bad.json").write_text('{"learning_rate": 1}')
    assert "unknown setting(s) learning_rate" in one_line_error(
        capsys, main(train_args(tmp_path, idx_dir, "--config", str(tmp_path / "bad.json")))
    )
    (tmp_path / "good.toml").write_text("epochs = 1\nbatch-size = 64\n")
    assert (
        main(train_args(tmp_path, idx_dir, "--config", str(tmp_path / "good.toml"), "--batch-size", "32"))
        == 0
    )
    assert "completed: simple at step 8" in capsys.readouterr().out  # the command line beat the file's 64
    (tmp_path / "broken.toml").write_text("epochs = ")
    assert "not valid toml" in one_line_error(
        capsys, main(train_args(tmp_path, idx_dir, "--config", str(tmp_path / "broken.toml")))
    )


def test_missing_and_corrupt_idx(tmp_path, idx_dir, capsys):
    line = one_line_error(capsys, main(train_args(tmp_path, tmp_path / "nowhere")))
    assert "--dataset synthetic" in line
    raw = (idx_dir / "train-images-idx3-ubyte.gz").read_bytes()
    (idx_dir / "train-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 3])
    assert "cannot read" in one_line_error(capsys, main(train_args(tmp_path, idx_dir)))


def test_bad_checkpoints(tmp_path, idx_dir, capsys):
    assert main(train_args(tmp_path, idx_dir, "--max-steps", "3")) == 0
    capsys.readouterr()
    (ckpt,) = (tmp_path / "runs").glob("*/checkpoints/simple/latest.pt")
    before = ckpt.read_bytes()
    line = one_line_error(
        capsys, main(train_args(tmp_path, idx_dir, "--resume", str(ckpt), "--arch", "dcgan"))
    )
    assert "architecture 'simple', not 'dcgan'" in line
    (tmp_path / "trunc.pt").write_bytes(before[:1000])
    assert "truncated" in one_line_error(
        capsys, main(train_args(tmp_path, idx_dir, "--resume", str(tmp_path / "trunc.pt")))
    )
    assert "truncated" in one_line_error(
        capsys, main(["sample", str(tmp_path / "trunc.pt"), "-o", str(tmp_path / "x.png")])
    )
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert "not a readable" in one_line_error(
        capsys, main(["sample", str(tmp_path / "notes.pt"), "-o", str(tmp_path / "x.png")])
    )
    assert "must end in .png or .npy" in one_line_error(
        capsys, main(["sample", str(ckpt), "-o", str(tmp_path / "x.jpg")])
    )
    assert "-n must be at least 1" in one_line_error(
        capsys, main(["sample", str(ckpt), "-n", "0", "-o", str(tmp_path / "x.png")])
    )
    assert ckpt.read_bytes() == before  # nothing on disk was harmed


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_runs_dir_non_root(tmp_path, idx_dir, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert "cannot create run folder" in one_line_error(
        capsys, main(train_args(tmp_path, idx_dir, "--runs-dir", str(locked)))
    )


def test_unwritable_runs_dir(tmp_path, idx_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("runs dir cannot live under a file")
    line = one_line_error(capsys, main(train_args(tmp_path, idx_dir, "--runs-dir", str(blocker / "runs"))))
    assert "cannot create run folder" in line
    assert blocker.read_text() == "runs dir cannot live under a file"


@pytest.mark.timeout(180)  # the subprocess has 120 s
@pytest.mark.slow
def test_piped_output_runs_headless(tmp_path, idx_dir):
    # `tui-gan` with stdout piped: no dashboard, no traceback, a normal headless run
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_gan",
            "--data-dir",
            str(idx_dir),
            "--arch",
            "simple",
            "--batch-size",
            "32",
            "--max-steps",
            "4",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not a terminal" in proc.stderr and "max_steps: simple at step 4" in proc.stdout
