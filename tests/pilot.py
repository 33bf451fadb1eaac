"""Helpers for driving the dashboard with Pilot against the real engine on tiny data.

Pilot tests are `async def` tests (pytest-asyncio, asyncio_mode = "auto") that run their app with
`async with running(app, size) as pilot:`; pytest-timeout bounds each one like any test."""

from __future__ import annotations

import asyncio
import io
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from factories import DIGITS, endless_config
from rich.console import Console
from textual.notifications import Notification, Notify
from waiting import wait_for

from tui_gan.training.engine import Engine
from tui_gan.ui.app import TuiGanApp

SIZE = (120, 40)

_notifications: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # app -> every Notification it raised


@asynccontextmanager
async def running(app, size: tuple[int, int] = SIZE):
    """`app.run_test(size=size)`, and once the block is left the app's worker threads (the engine's
    among them) have ended too, so what follows sees all they did and a next app starts afresh.
    Textual runs thread workers in the event loop's default executor: each app gets its own here,
    and leaving waits for it. The app's notifications are recorded for `notes`."""
    loop = asyncio.get_running_loop()
    workers = ThreadPoolExecutor(thread_name_prefix="app-worker")
    loop.set_default_executor(workers)
    raised = _notifications[app] = []

    def record(message) -> None:  # run_test's message hook sees every message any widget handles
        if isinstance(message, Notify):
            raised.append(message.notification)

    async with app.run_test(size=size, message_hook=record) as pilot:
        yield pilot
    await _shut_down(workers)
    loop.set_default_executor(ThreadPoolExecutor())  # for whatever runs in this loop next


async def _shut_down(executor: ThreadPoolExecutor) -> None:
    """executor.shutdown(wait=True) without blocking the event loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def shut_down() -> None:
        executor.shutdown(wait=True)
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    threading.Thread(target=shut_down, name="app-worker-shutdown", daemon=True).start()
    await done


def exited(app) -> bool:
    """App.exit has been called: the return code is None until then."""
    return app.return_code is not None


async def press(pilot, *keys: str) -> None:
    """Pilot.press without its wait for the *process* to go idle, which never happens while the
    engine thread trains (each key would cost ~2 s). The key still goes through the bindings."""
    for key in keys:
        pilot.app.simulate_key(key)
        # Each pause first waits until the app and every widget on the screen have handled what
        # was queued for them. The app handles the key in the first (its priority bindings, e.g.
        # ctrl+c) and forwards it to the focused widget, where the other bindings run: handled by
        # the end of the second. One pause, as before, left that to its 10 ms and failed under load.
        await pilot.pause(0.01)
        await pilot.pause(0.01)


async def pause_with_samples(pilot, app) -> None:
    """space, then wait until the engine is paused and the samples of the paused step are in."""
    await press(pilot, "space")
    await wait_for(
        pilot,
        lambda: (
            app.dashboard.run_state == "paused" and samples_step(app) == app.dashboard.engine.current.step
        ),
        "the paused samples",
    )


def log_text(app) -> str:
    return "\n".join(text for _, text in app.dashboard.event_log.entries)


def screen_text(app) -> str:
    """What the terminal shows now, as plain text: composed the way App.export_screenshot composes
    its SVG. Textual has no public API for the composed screen as text, hence its compositor here."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def widget_text(widget) -> str:
    """A widget's content area (inside border and padding) as it renders itself, as plain text
    (what a toast or dialog above it covers does not matter)."""
    content = widget.content_region.translate(-widget.region.offset)
    return "\n".join(strip.text for strip in widget.render_lines(content))


def notes(app) -> list[str]:
    """Every notification the app has raised, "title message", including ones that have expired."""
    notifications: list[Notification] = _notifications[app]
    return [f"{n.title} {n.message}" for n in notifications]


class Harness:
    """Builds apps whose engine factory wraps the real Engine with tiny data and a fixed run folder."""

    def __init__(self, tmp_path: Path, monitor_factory):
        self.run_dir = tmp_path / "run"
        self.tmp_path = tmp_path
        self.monitor_factory = monitor_factory
        self.engines: list = []
        self.configs: list = []

    def app(self, engine_cls=Engine, data=DIGITS, **changes) -> TuiGanApp:
        config = endless_config(self.tmp_path, **changes)

        def factory(config, emit, **kwargs):
            self.configs.append(config)
            data_ = data(config) if callable(data) else data
            engine = engine_cls(config, emit, dataset=data_, run_dir=self.run_dir, **kwargs)
            self.engines.append(engine)
            return engine

        return TuiGanApp(
            config, engine_factory=factory, monitor_factory=self.monitor_factory, system_interval=0.2
        )


async def until_training(pilot, app, steps: int = 5) -> None:
    await wait_for(
        pilot,
        lambda: (
            app.dashboard.engine.current is not None
            and app.dashboard.engine.current.step >= steps
            and app.dashboard.run_state == "running"
        ),
        "training to start",
    )


def samples_step(app) -> int | None:
    """The step of the newest sample grid of the architecture the dashboard shows (None: none yet)."""
    view = app.dashboard.views.get(app.dashboard.arch)
    return view.samples[-1].step if view is not None and view.samples else None
