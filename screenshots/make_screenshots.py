"""Regenerate the README screenshots from the real app and engine on synthetic digits.

    python screenshots/make_screenshots.py [--seconds 60] [--arch mlp] [--size 120x40] [--out DIR]
                                           [--conditional]

Writes main.svg (training, after a quality evaluation), paused.svg (with the interpolation row)
and help.svg next to this script (or in --out); with --conditional, conditional.svg alone (a
class-conditional run after a quality evaluation); with --workspace, workspace.svg alone (three
runs trained --seconds each, one after the other, then compared in `tui-gan runs`). Runs are
written to a temporary folder, so nothing is left in ./runs. The quality classifier trains in
the background on first use."""

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


def newest_step(app: TuiGanApp) -> int | None:
    samples = app.dashboard.view(app.dashboard.arch).samples
    return samples[-1].step if samples else None


async def shoot(config: TrainConfig, seconds: float, size: tuple[int, int], out: Path) -> list[Path]:
    app = TuiGanApp(config)
    written = []

    def save(name: str) -> None:
        written.append(Path(app.save_screenshot(f"{name}.svg", str(out))))

    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.dashboard.run_state == "running", "training to start")
        await pilot.pause(seconds)
        await wait_until(pilot, lambda: newest_step(app) is not None, "the first trained samples")
        # The engine trains in its own process: ask for an evaluation until the classifier is ready.
        deadline = time.monotonic() + 120.0
        while not app.dashboard.view(app.dashboard.arch).qualities.count:
            if time.monotonic() > deadline:
                raise SystemExit("gave up waiting for a quality evaluation")
            app.dashboard.action_evaluate()
            await pilot.pause(3.0)
        app.clear_notifications()  # the "evaluating..." toasts
        await pilot.pause(1.5)
        if config.conditional:
            save("conditional")
            await pilot.press("q")
            await wait_until(pilot, lambda: app.return_code is not None, "the app to stop")
            return written
        save("main")
        await pilot.press("space", "i")
        await wait_until(
            pilot,
            lambda: (
                app.dashboard.run_state == "paused" and newest_step(app) == app.dashboard.status_bar.info.step
            ),
            "the paused samples",
        )
        await pilot.pause(0.3)
        save("paused")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause(0.3)
        save("help")
        await pilot.press("escape", "q")
        await wait_until(pilot, lambda: app.return_code is not None, "the app to stop")
    return written


WORKSPACE_RUNS = (  # three runs worth comparing: the seed recipe, the default, another loss
    {"arch": "mlp", "recipe": "seed", "name": "mlp-seed"},
    {"arch": "mlp", "name": "mlp-default"},
    {"arch": "simple", "loss": "lsgan", "name": "simple-lsgan"},
)


async def shoot_workspace(runs: Path, seconds: float, size: tuple[int, int], out: Path) -> list[Path]:
    """Train WORKSPACE_RUNS for `seconds` each (evaluated every 10 s), then the workspace on them."""
    import os

    from tui_gan.jobs.client import send_command
    from tui_gan.jobs.launch import start_job
    from tui_gan.training.commands import Stop
    from tui_gan.ui.app import WorkspaceApp

    for changes in WORKSPACE_RUNS:  # real jobs, as a user's runs are: their sample history too
        config = TrainConfig(
            dataset="synthetic", synthetic_size=8192, runs_dir=str(runs), eval_every=10.0, **changes
        )
        job = start_job(config.validate())
        time.sleep(seconds)
        send_command(job, Stop(checkpoint=True))
        os.waitpid(job.pid, 0)
    app = WorkspaceApp(runs)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: len(app.workspace.rows) == len(WORKSPACE_RUNS), "the runs list")
        await pilot.press(*["space", "down"] * len(WORKSPACE_RUNS))
        charts = app.workspace.query_one("CompareCharts")
        await wait_until(pilot, lambda: len(charts.series) == len(WORKSPACE_RUNS), "the charts")
        await pilot.pause(1.0)
        return [Path(app.save_screenshot("workspace.svg", str(out)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training time before the first shot")
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--size", default="120x40", help="terminal WIDTHxHEIGHT")
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder for the SVGs (default: next to this script)"
    )
    parser.add_argument("--conditional", action="store_true", help="conditional.svg: a --conditional run")
    parser.add_argument("--workspace", action="store_true", help="workspace.svg: three runs compared")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="tui-gan-shots-") as runs:
        config = TrainConfig(
            arch=args.arch,
            dataset="synthetic",
            synthetic_size=8192,
            runs_dir=runs,
            conditional=args.conditional,
        ).validate()
        args.out.mkdir(parents=True, exist_ok=True)
        if args.workspace:
            shots = shoot_workspace(Path(runs), args.seconds, (width, height), args.out)
        else:
            shots = shoot(config, args.seconds, (width, height), args.out)
        for path in asyncio.run(shots):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
