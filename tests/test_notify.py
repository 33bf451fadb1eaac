"""Notifications (notify.py): a dashboard in a real terminal rings it when its run finishes, and a
job runs its --on-event command with the event in its environment."""

from __future__ import annotations

import pytest
from factories import SYNTHETIC_RUN
from terminals import FakeTerminal

from tui_gan.cli import main
from tui_gan.notify import Happening, happening, terminal_mode, terminal_signal
from tui_gan.training import events as ev

FINISHED = Happening("finished", "dcgan", "dcgan finished at step 1,000")


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
        ({"TERM": "xterm-kitty"}, "osc99"),
        ({"VTE_VERSION": "7600", "TERM": "xterm-256color"}, "osc777"),
        ({"TERM_PROGRAM": "WezTerm"}, "osc777"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"}, "bell"),  # tmux swallows OSC
        ({"TERM": "xterm-256color"}, "bell"),  # over SSH, where only TERM arrives
        ({}, "bell"),
    ],
)
def test_auto_picks_what_the_terminal_shows(env, mode):
    assert terminal_mode(env) == mode


def test_each_mode_writes_its_sequence_and_messages_cannot_break_out():
    assert (
        terminal_signal(FINISHED, "osc9", "run-1")
        == "\x1b]9;tui-gan: run-1 finished: dcgan finished at step 1,000\x07"
    )
    assert terminal_signal(FINISHED, "osc777").startswith("\x1b]777;notify;tui-gan: dcgan finished;dcgan")
    assert terminal_signal(FINISHED, "osc99").count("\x1b]99;i=1:") == 2
    assert terminal_signal(FINISHED, "bell") == "\x07" and terminal_signal(FINISHED, "off") == ""
    hostile = Happening("crashed", "mlp", "bad\x07\x1b]0;owned\x07; x")
    signal = terminal_signal(hostile, "osc777")
    assert signal.count("\x07") == 1 and signal.count("\x1b") == 1 and signal.count(";") == 3


def test_what_counts_as_worth_a_ring():
    assert happening(ev.StateChanged("mlp", "finished", step=1200)).kind == "finished"
    assert happening(ev.StateChanged("mlp", "paused", step=3)) is None
    assert happening(ev.Failed("mlp", "mlp: non-finite loss at step 7 (D nan, G nan)")).kind == "diverged"
    assert happening(ev.Failed("mlp", "RuntimeError: boom")).kind == "crashed"
    collapse = ev.Notice("mlp", "mlp: mode collapse: ...", "warning", topic="collapse")
    assert happening(collapse).kind == "collapsed"
    assert happening(ev.Notice("mlp", "checkpoint written", "info")) is None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_dashboard_in_a_real_terminal_rings_when_its_run_finishes(tmp_path):
    term = FakeTerminal(None, size=(40, 120))
    argv = ["train", *SYNTHETIC_RUN, "--max-steps", "3", "--notify", "osc9"]
    argv += ["--runs-dir", str(tmp_path / "runs")]
    with term.running(argv, tmp_path / "rt") as child:
        term.wait_for(b"\x1b]9;tui-gan: ")
        term.wait_for(b"at step 3\x07", 10)  # the whole notification
        note = term.seen.split(b"\x1b]9;tui-gan: ", 1)[1].split(b"\x07", 1)[0].decode()
        assert note.endswith("finished: simple finished at step 3"), note
        term.quit(child)


@pytest.mark.slow
def test_a_job_runs_its_on_event_command(tmp_path):
    run = tmp_path / "run"
    hook = 'echo "$TUI_GAN_EVENT|$TUI_GAN_ARCH|$TUI_GAN_RUN_DIR|$TUI_GAN_MESSAGE" >> events.txt; exit 3'
    argv = ["train", "--headless", *SYNTHETIC_RUN, "--run-dir", str(run), "--max-steps", "2"]
    assert main([*argv, "--on-event", hook]) == 0  # a failing hook is logged, never the run's failure
    (line,) = (run / "events.txt").read_text().splitlines()  # run in the run folder
    assert line == f"finished|simple|{run.resolve()}|simple finished at step 2"
