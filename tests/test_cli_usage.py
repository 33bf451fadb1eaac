"""Usage as a new user meets it: one-line errors that say what would have worked, options made
from TrainConfig's fields, sample and eval on a run folder, `archs` in 80 columns."""

import argparse
import json
import os
import shutil

import numpy as np
import pytest
from test_cli import one_line_error, run_dirs, train_args

from tui_gan.cli import build_parser, main
from tui_gan.cli.checkpoints import find_checkpoint
from tui_gan.cli.parser import TRAIN_COMMAND_OPTIONS
from tui_gan.config import TrainConfig, option_fields
from tui_gan.errors import ConfigError

pytestmark = pytest.mark.usefixtures("private_cache")

COMMANDS = "commands: train, ls, runs, sweep, attach, serve, archs, sample, eval, stop, pause, resume"


def usage_error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return one_line_error(capsys, info.value.code)


def subparsers(parser):
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--arch", "dcgn"], "invalid choice 'dcgn' (did you mean dcgan?); choose from: mlp, dcgan, simple"),
        (["train", "-a", "foo"], "invalid choice 'foo'; choose from: mlp, dcgan, simple, relu-mlp"),
        (["--loss", "hingee"], "invalid choice 'hingee' (did you mean hinge?); choose from: bce, hinge"),
        (["--compile", "max"], "choose from: off, default, reduce-overhead, max-autotune"),
        (["attch"], f"unknown command 'attch' (did you mean attach?); {COMMANDS}"),
        (["trian", "--arch", "mlp"], "unknown command 'trian' (did you mean train?)"),
        (["whatever"], f"unknown command 'whatever'; {COMMANDS}"),
        (["--archh", "mlp"], "unrecognized option --archh (did you mean --arch?)"),
        (["train", "--lr-shedule=cosine"], "unrecognized option --lr-shedule (did you mean --lr-schedule?)"),
        (
            ["ls", "--runs-dri", "x"],
            "unrecognized option --runs-dri for tui-gan ls (did you mean --runs-dir?)",
        ),
        (["archs", "mlp"], "unexpected argument 'mlp' for tui-gan archs"),
        (["--epochs", "many"], "invalid int value: 'many'"),
        (["sample"], "the following arguments are required: CKPT|RUN_DIR"),
        (["pause"], "the following arguments are required: RUN"),
        (["stop", "--runs-dri", "x", "r"], "unrecognized option --runs-dri for tui-gan stop"),
        (["ls", "--watch", "soon"], "argument --watch: invalid float value: 'soon'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(capsys, argv, expected):
    line = usage_error(capsys, argv)
    assert expected in line, line
    assert "usage:" not in line and not line.startswith("tui-gan train:")


@pytest.mark.parametrize("name", ["", "two\nlines", "x" * 65])
def test_a_run_name_is_one_short_line(capsys, name):
    line = one_line_error(capsys, main(["train", "--headless", "--name", name]))
    assert "name must be 1 to 64 printable characters" in line


def test_config_files_get_the_near_choice_too():
    with pytest.raises(ConfigError, match=r"unknown loss 'hingee' \(did you mean hinge\?\); choose one of"):
        TrainConfig(loss="hingee").validate()


def test_train_options_are_exactly_the_config_fields_and_the_commands_own():
    train = subparsers(build_parser())["train"]
    dests = {a.dest for a in train._actions if a.option_strings and a.dest != "help"}
    fields = {f.name for f in option_fields()}
    assert dests == fields | set(TRAIN_COMMAND_OPTIONS)
    assert not fields & set(TRAIN_COMMAND_OPTIONS)
    flags = {s for a in train._actions for s in a.option_strings}
    for expected in ("--arch", "-a", "--dataset", "-d", "--no-tensorboard", "--conditional", "--lr-schedule"):
        assert expected in flags
    recipe_group = next(g for g in train._action_groups if g.title.startswith("how it trains"))
    assert {"recipe", "loss", "lr", "ema", "early_stop"} <= {a.dest for a in recipe_group._group_actions}


def test_every_option_has_help_and_a_metavar_or_choices():
    parser = build_parser()
    for name, sub in subparsers(parser).items():
        assert sub.description and "\n" not in sub.description, name
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help and "%" not in action.help.replace("%%", ""), (name, action.dest)
            if action.nargs != 0:
                assert action.metavar or action.choices, (name, action.dest)
            if action.metavar and action.choices:  # a metavar hides the choices: the help names them
                assert all(choice in action.help for choice in action.choices), (name, action.dest)
    sub = subparsers(parser)
    assert sub["sample"]._actions[1].metavar == sub["eval"]._actions[1].metavar == "CKPT|RUN_DIR"


def test_help_shows_the_field_defaults(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # one option per line
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    for option_name, default in (
        ("--epochs", 100),
        ("--batch-size", 128),
        ("--seed", 0),
        ("--eval-every", 30),
    ):
        (line,) = [line for line in lines if line.strip().startswith(option_name + " ")]
        assert f"(default {default})" in line


@pytest.mark.parametrize("columns", [None, "80", "200", "50"])
def test_archs_fits_80_columns(monkeypatch, capsys, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= min(80, int(columns or 80))
    for text in ("mlp-bn-dropout", "1,489,936", "Simplest_Gan.ipynb (seed 000)", "--recipe seed"):
        assert text in out


def test_sample_and_eval_take_a_run_folder(tmp_path, idx_dir, capsys):
    assert main(train_args(tmp_path, idx_dir, "--max-steps", "3", "--eval-every", "0")) == 0
    (run,) = run_dirs(tmp_path)
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "d.npy")]) == 0
    out = capsys.readouterr()
    assert "checkpoints/simple/latest.pt" in out.err and "from simple (step 3)" in out.out
    assert np.load(tmp_path / "d.npy").shape == (4, 28, 28)

    ckpts = run / "checkpoints" / "simple"
    shutil.copy(ckpts / "latest.pt", ckpts / "best.pt")  # a best.pt wins over latest.pt
    assert main(["eval", str(run), "--samples", "50"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(ckpts / "best.pt") and result["step"] == 3

    (ckpts / "best.pt").unlink()
    (ckpts / "latest.pt").unlink()
    assert "holds no checkpoints/<arch>/best.pt or latest.pt" in one_line_error(
        capsys, main(["sample", str(run), "-o", str(tmp_path / "e.png")])
    )


@pytest.mark.parametrize("command", [["sample", "-o", "x.png"], ["eval"]])
def test_a_folder_that_is_not_a_run_says_so(tmp_path, capsys, command):
    line = one_line_error(capsys, main([command[0], str(tmp_path), *command[1:]]))
    assert f"{tmp_path} is a folder but not a run folder (no config.json)" in line
    assert "does not exist" in one_line_error(
        capsys, main([command[0], str(tmp_path / "nothing.pt"), *command[1:]])
    )


def test_a_run_folder_gives_its_newest_architectures_checkpoint(tmp_path):
    for arch, age in (("mlp", 100), ("dcgan", 10), ("simple", 50)):
        folder = tmp_path / "checkpoints" / arch
        folder.mkdir(parents=True)
        for name in ("latest.pt", "best.pt") if arch != "dcgan" else ("latest.pt",):
            (folder / name).write_bytes(b"")
            os.utime(folder / name, (1e9 - age, 1e9 - age))
    assert find_checkpoint(tmp_path, ("best.pt", "latest.pt")) == tmp_path / "checkpoints/dcgan/latest.pt"
    assert find_checkpoint(tmp_path, ("best.pt", "latest.pt"), "mlp") == tmp_path / "checkpoints/mlp/best.pt"
    assert find_checkpoint(tmp_path, ("best.pt",)) == tmp_path / "checkpoints/simple/best.pt"
    assert find_checkpoint(tmp_path, ("latest.pt",), "relu-mlp") is None
