"""The dashboard driven by Pilot against the real engine on a tiny in-memory dataset (helpers in
pilot.py): the keys, panels and failure paths of the dashboard issue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from factories import DIGITS, gpu_status
from PIL import Image
from pilot import (
    Harness,
    exited,
    log_text,
    notes,
    pause_with_samples,
    press,
    running,
    samples_step,
    screen_text,
    until_training,
    widget_text,
)
from textual.app import App
from waiting import wait_for

from tui_gan.models import ARCH_NAMES
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.engine import Engine
from tui_gan.ui.screens.data_dialog import DataUnavailableScreen
from tui_gan.ui.screens.help import HelpScreen
from tui_gan.ui.widgets.events import EventLog


def digits_shown(panel) -> int:
    """From the samples panel's subtitle: "24 of 64" (· half size)."""
    return int(panel.border_subtitle.split(" of ")[0])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- keys --------------------------------------------------------------------------------------


async def test_space_pauses_and_resumes_the_engine(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", "the paused state")
        engine = app.dashboard.engine
        paused_at = engine.current.step
        # the UI stays responsive while paused
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        # samples are refreshed on pause (the last thing the engine does for it)
        await wait_for(pilot, lambda: samples_step(app) == paused_at, "samples of the paused step")
        # two commands: the paused engine answers the second after going round its loop once more
        for written in (1, 2):
            await press(pilot, "c")
            await wait_for(
                pilot, lambda n=written: log_text(app).count("checkpoint written") == n, "a checkpoint"
            )
        assert engine.current.step == paused_at  # stopped within a step
        assert (
            app.dashboard.status_bar.info.state == "paused"
            and app.dashboard.status_bar.info.step == paused_at
        )
        await press(pilot, "space")
        await wait_for(pilot, lambda: engine.current.step > paused_at + 5, "training to resume")
        assert app.dashboard.run_state == "running"


async def test_c_writes_a_checkpoint_that_loads(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await press(pilot, "c")
        await wait_for(pilot, lambda: "checkpoint written" in log_text(app), "the checkpoint event")
        line = next(t for _, t in app.dashboard.event_log.entries if "checkpoint written" in t)
        shown = line.split("checkpoint written: ", 1)[1]  # inside the run folder the status line names
        path = str(harness.run_dir / shown)
        assert Path(shown).parent == Path("checkpoints") / "simple"
        assert Path(path).name.startswith("step_")
        # the toast (its Notify message is handled a moment after the log line) has the whole path
        await wait_for(pilot, lambda: any(path in n for n in notes(app)), "the toast")
        data = load_checkpoint(path, expected_arch="simple")
        assert data["step"] > 0 and data["arch"] == "simple"


async def test_arch_keys_switch_what_trains_and_switching_back_continues(harness):
    app = harness.app()
    order = ARCH_NAMES

    async def switch(pilot, key: str, name: str) -> None:
        await press(pilot, key)
        await wait_for(
            pilot,
            lambda: app.dashboard.engine.current.name == name and app.dashboard.arch == name,
            f"switch to {name}",
        )
        await wait_for(pilot, lambda: app.dashboard.engine.current.step >= 2, f"{name} to train")

    async with running(app) as pilot:
        await until_training(pilot, app, steps=20)
        start = order.index("simple")
        await press(pilot, "space")  # freeze simple's state to compare it later
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", "pause")
        before_step = app.dashboard.engine.current.step
        before_seen = app.dashboard.views["simple"].losses.steps_seen
        assert before_seen == before_step  # every step's losses reached the UI
        await press(pilot, "space")

        following = order[(start + 1) % len(order)]
        await switch(pilot, "a", following)
        left_at = app.dashboard.engine.archs["simple"].step
        simple = app.dashboard.views["simple"].losses
        # each of simple's steps, up to the switch, in its own history; none of the next one's
        assert simple.steps_seen == simple.last_step == left_at
        assert app.dashboard.loss_panel.history is app.dashboard.views[following].losses

        await switch(pilot, "A", "simple")  # shift+a: back to where we were
        assert app.dashboard.engine.current.step >= before_step
        await wait_for(pilot, lambda: simple.last_step > left_at, "simple's next steps")
        panel = app.dashboard.loss_panel
        # the same history goes on: every step from the first, none twice, none of the other's
        assert panel.history is simple and simple.steps_seen == simple.last_step
        assert app.dashboard.status_bar.info.arch == "simple"

        await switch(pilot, "A", order[(start - 1) % len(order)])  # previous from simple
        for number, name in enumerate(order, 1):
            if name != app.dashboard.arch:
                await switch(pilot, str(number), name)
        assert set(app.dashboard.engine.archs) == set(order)


async def test_s_saves_the_sample_grid_as_png(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await pause_with_samples(pilot, app)  # a fixed step makes the file name predictable
        step = samples_step(app)
        await press(pilot, "s")
        await wait_for(pilot, lambda: "sample grid saved" in log_text(app), "the saved grid")
        path = harness.run_dir / "samples" / "simple" / f"step_{step:07d}.png"
        assert path.is_file()
        await wait_for(pilot, lambda: any(str(path) in n for n in notes(app)), "the toast")
        image = Image.open(path)
        assert image.mode == "L" and image.size == (
            2 * (4 * 30 + 2),
            2 * (4 * 30 + 2),
        )  # 16 digits, 4x4, scale 2


async def test_question_mark_opens_help_and_escape_closes_it(harness):
    app = harness.app()

    async with running(app, (80, 24)) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause(0.2)  # its first layout and paint
        text = screen_text(app)
        for key in ("space", "c", "a / A", f"1-{len(ARCH_NAMES)}", "s", "q, ctrl+c", "ctrl+p"):
            assert key in text
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_stops_the_engine_and_writes_the_final_checkpoint(harness, key):
    app = harness.app()
    seen_states = []

    async with running(app) as pilot:
        await until_training(pilot, app)
        await press(pilot, key)
        seen_states.append(app.dashboard.status_bar.info.state)
        await wait_for(pilot, lambda: exited(app), "the app to exit")

    assert seen_states[0] in ("stopping...", "stopped")  # the engine may already have stopped
    assert "stopping: writing final checkpoints" in log_text(app)
    engine = harness.engines[-1]
    assert not app.dashboard.engine_running and app.return_code == 0
    final = harness.run_dir / "checkpoints" / "simple" / "latest.pt"
    assert load_checkpoint(final)["step"] == engine.current.step > 0


class SlowFinalCheckpoint(Engine):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writing = threading.Event()  # set once the final checkpoints have begun

    def checkpoint_all_dirty(self):
        self.writing.set()
        time.sleep(1.5)
        super().checkpoint_all_dirty()


async def test_second_quit_forces_exit(harness):
    app = harness.app(engine_cls=SlowFinalCheckpoint)

    async with running(app) as pilot:
        await until_training(pilot, app)
        await press(pilot, "q")
        await wait_for(
            pilot, app.dashboard.engine.writing.is_set, "the engine to write its final checkpoints"
        )
        assert app.dashboard.run_state == "stopping..." and not exited(app)  # the first q waits for them
        await press(pilot, "q")
        assert exited(app) and app.dashboard.engine_running  # left without waiting for the engine
        assert "forced exit" in log_text(app)
    # leaving `running` waited for the engine thread (and its slow final checkpoint) to end


# --- command palette -------------------------------------------------------------------------


async def test_command_palette_lists_every_action_and_architecture_and_runs_them(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for name in ARCH_NAMES:
            assert any(t.startswith(f"Switch to {name} - ") for t in titles)
        for title in (
            "Pause / resume training",
            "Write checkpoint",
            "Next architecture",
            "Previous architecture",
            "Save sample grid",
            "Help",
            "Quit",
            "Theme",
        ):
            assert title in titles
        await press(pilot, "space")  # Pilot.press waits for the process to idle: let it
        await wait_for(pilot, lambda: app.dashboard.run_state == "paused", "pause")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"dcgan")  # typing needs real characters: Pilot.press
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.dashboard.engine.current.name == "dcgan", "the palette's switch")


# --- data and failures -----------------------------------------------------------------------


def _mnist_missing(config):
    if config.dataset == "synthetic":
        return DIGITS
    return None  # the engine loads it itself: from an empty data dir, offline -> DataUnavailable


class OfflineEngine(Engine):
    def __init__(self, config, emit, **kwargs):
        super().__init__(config, emit, download=False, **kwargs)


@pytest.mark.parametrize("choice", ["s", "enter", "q"])
async def test_missing_mnist_offers_synthetic_digits_or_quit(harness, tmp_path, choice):
    (tmp_path / "empty").mkdir()
    app = harness.app(
        engine_cls=OfflineEngine, data=_mnist_missing, dataset="mnist", data_dir=str(tmp_path / "empty")
    )

    async with running(app, (80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DataUnavailableScreen), "the dialog")
        await pilot.pause(0.1)
        message = " ".join(widget_text(app.screen.query_one("#dialog-message")).split())
        assert "--dataset synthetic" in message and "MNIST" in message
        await press(pilot, choice)
        if choice == "q":
            await wait_for(pilot, lambda: exited(app), "exit")
        else:
            await until_training(pilot, app)
            assert app.dashboard.status_bar.info.dataset != "MNIST"
            assert [c.dataset for c in harness.configs] == ["mnist", "synthetic"]
            assert app.dashboard.effective_config.dataset == "synthetic"  # remembered for later engines

    if choice == "q":
        assert app.return_code == 1 and len(harness.engines) == 1


class CrashingEngine(Engine):
    def train_step(self, state=None):
        if self.current.step >= 5:
            raise RuntimeError("simulated CUDA error: device-side assert triggered")
        super().train_step(state)


async def test_an_engine_exception_shows_error_and_the_app_survives(harness):
    app = harness.app(engine_cls=CrashingEngine)

    async with running(app) as pilot:
        await wait_for(
            pilot,
            lambda: app.dashboard.run_state == "error" and not app.dashboard.engine_running,
            "the error state",
        )
        text = log_text(app)
        assert "RuntimeError: simulated CUDA error" in text
        assert str(harness.run_dir / "error.log") in text
        assert (harness.run_dir / "error.log").read_text().count("simulated CUDA error") >= 1
        assert app.dashboard.status_bar.info.state == "error"
        # keys that need the engine are dimmed in the footer and do nothing; the others work
        assert (
            app.dashboard.check_action("toggle_pause", ()) is None
            and app.dashboard.check_action("help", ()) is True
        )
        await press(pilot, "space")
        assert app.dashboard.run_state == "error" and app.dashboard.engine is not None
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        await press(pilot, "q")  # nothing to stop: exits at once
        await wait_for(pilot, lambda: exited(app), "exit")

    assert app.return_code == 1


async def test_a_setup_error_is_shown_not_raised(harness):
    app = harness.app(batch_size=1024)  # more than the 512 images: ConfigError in setup

    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.dashboard.run_state == "error", "the error state")
        assert "could not start: batch size 1024 is larger than the dataset" in log_text(app)
        await wait_for(pilot, lambda: any("batch size 1024" in n for n in notes(app)), "the toast")
        assert not isinstance(app.screen, DataUnavailableScreen)


# --- panels ----------------------------------------------------------------------------------


class CommandLog(Engine):
    """The engine, keeping every command the dashboard sends it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def send(self, command):
        self.sent.append(command)
        super().send(command)


async def test_resize_rerenders_samples_from_the_last_images(harness):
    app = harness.app(engine_cls=CommandLog, sample_count=64)

    async with running(app, (200, 60)) as pilot:
        await until_training(pilot, app)
        await press(pilot, "space")
        await wait_for(
            pilot,
            lambda: app.dashboard.run_state == "paused" and samples_step(app) is not None,
            "paused samples",
        )
        await pilot.pause(0.3)
        panel = app.dashboard.samples_panel
        snapshot = panel.snapshot
        big = digits_shown(panel)
        sent = list(app.dashboard.engine.sent)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: digits_shown(panel) < big, "the samples drawn again, smaller")
        small = digits_shown(panel)
        assert panel.snapshot is snapshot and app.dashboard.engine.sent == sent  # nothing asked of the engine
        assert 1 <= small < big
        await press(pilot, "space")


async def test_the_event_log_wraps_its_lines_again_at_a_new_width():
    """A resized tmux pane, or a layout still settling when the first lines come: RichLog alone
    would keep each line wrapped at the width it had when written."""

    class LogApp(App):
        def compose(self):
            yield EventLog()

    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        log = app.query_one(EventLog)
        log.add(
            "checkpoint written: runs/20260101-120000-mlp/checkpoints/mlp/latest.pt", "success", "mlp @468"
        )
        await pilot.pause()
        narrow = len(log.lines)
        await pilot.resize_terminal(120, 10)
        await pilot.pause()
        assert len(log.lines) == 1 < narrow
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        assert len(log.lines) == narrow and log.entries[-1][0] == "success"


async def test_no_color_draws_digits_with_characters(harness, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = harness.app()

    async with running(app) as pilot:
        await wait_for(pilot, lambda: samples_step(app) is not None, "samples")
        await pilot.pause(0.1)
        content = widget_text(app.dashboard.samples_panel)
        assert "▀" not in content and set(content) - set(" \n")  # ramp characters, not half blocks
        await press(pilot, "q")
        await wait_for(pilot, lambda: exited(app), "exit")


async def test_system_panel_shows_gpu_readings(tmp_path, gpu_monitor):
    app = Harness(tmp_path, gpu_monitor).app()

    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.dashboard.system_panel.status is not None, "a reading")
        text = widget_text(app.dashboard.system_panel)
        assert "NVIDIA H100 80GB HBM3" in text and "87%" in text and "61 °C" in text and "412 / 700 W" in text
        assert gpu_monitor.made[0].polls >= 1

    assert gpu_monitor.made[0].closed  # the poller closes its monitor when the app ends


# --- widgets on their own ------------------------------------------------------------------


def test_status_line_shows_each_ranks_rate():
    from tui_gan.ui.widgets.status import StatusBar, StatusInfo

    bar = StatusBar()
    bar.info = StatusInfo(arch="mlp", run_dir="/r", rank_rates=(640.4, 655.0))
    assert "2 ranks: 640, 655 img/s" in bar.render_info(160).plain
    bar.info = StatusInfo(arch="mlp", run_dir="/r")
    assert "ranks" not in bar.render_info(160).plain


async def test_system_panel_shows_every_ranks_gpu():
    """A multi-GPU run's panel: a line per rank's GPU."""
    import dataclasses

    from textual.app import App

    from tui_gan.ui.widgets.system import SystemPanel

    class One(App):
        def compose(self):
            yield SystemPanel()

    app = One()

    async with running(app, (70, 8)) as pilot:
        panel = app.query_one(SystemPanel)
        first = gpu_status()
        panel.show((first, dataclasses.replace(first, index=1, util_percent=12.0, mig=True)))
        await pilot.pause()
        lines = panel.render().plain.splitlines()

    assert lines[0].startswith("#0 GPU 87%") and lines[1].startswith("#1 GPU 12%")
