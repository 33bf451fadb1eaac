"""Regenerate the README screenshots from the real app and engine on synthetic digits.

    python screenshots/make_screenshots.py [--seconds 8] [--arch mlp] [--size 120x40]

Writes main.svg (training), paused.svg and help.svg next to this script. Runs are written to
a temporary folder, so nothing is left in ./runs."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tui_gan.config import TrainConfig
from tui_gan.ui.app import TuiGanApp
from tui_gan.ui.screens.help import HelpScreen

HERE = Path(__file__).resolve().parent


async def wait_until(pilot, predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        await pilot.pause(0.1)


async def shoot(config: TrainConfig, seconds: float, size: tuple[int, int], out: Path) -> list[Path]:
    app = TuiGanApp(config)
    written = []

    def save(name: str) -> None:
        written.append(Path(app.save_screenshot(f"{name}.svg", str(out))))

    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.state == "running", "training to start")
        await pilot.pause(seconds)
        await wait_until(pilot, lambda: app.images_step > 0, "the first trained samples")
        await pilot.pause(0.5)
        save("main")
        await pilot.press("space")
        await wait_until(pilot, lambda: app.state == "paused" and app.images_step == app.engine.current.step,
                         "the paused samples")
        await pilot.pause(0.3)
        save("paused")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause(0.3)
        save("help")
        await pilot.press("escape", "q")
        await wait_until(pilot, lambda: app._exit, "the app to stop")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="training time before the first shot")
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--size", default="120x40", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="tui-gan-shots-") as runs:
        config = TrainConfig(arch=args.arch, dataset="synthetic", synthetic_size=8192, runs_dir=runs).validate()
        for path in asyncio.run(shoot(config, args.seconds, (width, height), HERE)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
