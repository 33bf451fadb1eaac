"""Helpers for driving the dashboard with Pilot against the real engine on tiny data.

No async test plugin is installed, so each test runs its coroutine with `run` (asyncio.run also
waits for the engine's worker thread to end: a test that leaves the engine running hangs)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

from rich.console import Console

from tui_gan.training.engine import Engine
from tui_gan.ui.app import TuiGanApp

from factories import blob_digits, tiny_config

SIZE = (120, 40)
DIGITS = blob_digits(512, seed=3)  # 16 steps per epoch at batch 32


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=90))


async def wait_for(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def press(pilot, *keys: str) -> None:
    """Pilot.press without its wait for the *process* to go idle, which never happens while the
    engine thread trains (each key would cost ~2 s). The key still goes through the bindings."""
    for key in keys:
        pilot.app.simulate_key(key)
        await pilot.pause(0.01)  # waits until every widget has processed its queue


async def pause_with_samples(pilot, app) -> None:
    """space, then wait until the engine is paused and the samples of the paused step are in."""
    await press(pilot, "space")
    await wait_for(pilot, lambda: app.state == "paused" and app.images_step == app.engine.current.step,
                   "the paused samples")


def log_text(app) -> str:
    return "\n".join(text for _, text in app.event_log.entries)


def screen_text(app) -> str:
    """What the terminal shows now, as plain text."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def widget_text(widget) -> str:
    """A widget's content area (inside the border) as plain text."""
    region = widget.content_region
    lines = screen_text(widget.app).splitlines()
    return "\n".join(line[region.x : region.right] for line in lines[region.y : region.bottom])


def notes(app) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


class Harness:
    """Builds apps whose engine factory wraps the real Engine with tiny data and a fixed run folder."""

    def __init__(self, tmp_path: Path, monitor_factory):
        self.run_dir = tmp_path / "run"
        self.tmp_path = tmp_path
        self.monitor_factory = monitor_factory
        self.engines: list = []
        self.configs: list = []

    def app(self, engine_cls=Engine, data=DIGITS, **changes) -> TuiGanApp:
        changes = {"epochs": 1000, "checkpoint_every": 0, **changes}
        config = tiny_config(self.tmp_path, **changes)

        def factory(config, emit, **kwargs):
            self.configs.append(config)
            data_ = data(config) if callable(data) else data
            engine = engine_cls(config, emit, dataset=data_, run_dir=self.run_dir, **kwargs)
            self.engines.append(engine)
            return engine

        return TuiGanApp(config, engine_factory=factory, monitor_factory=self.monitor_factory, system_interval=0.2)


async def until_training(pilot, app, steps: int = 5) -> None:
    await wait_for(pilot, lambda: app.engine.current is not None and app.engine.current.step >= steps
                   and app.state == "running", "training to start")
