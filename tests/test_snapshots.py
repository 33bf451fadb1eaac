"""SVG snapshots of the dashboard at 80x24 and 120x40 (pytest-textual-snapshot).

A scripted engine replays a fixed sequence of events and a fake monitor returns fixed readings,
so nothing in the picture depends on a clock, a GPU or training speed.
Update after an intended change: pytest tests/test_snapshots.py --snapshot-update"""

from __future__ import annotations

import queue
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from factories import blob_digits
from waiting import wait_for

from tui_gan.config import TrainConfig
from tui_gan.errors import DataUnavailable
from tui_gan.quality import QualityReport
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.ui.app import TuiGanApp

RUN = "runs/20260101-120000-mlp"
STEPS = 1200
STEPS_PER_EPOCH = 468


def scripted_points(n: int = STEPS) -> tuple[ev.StepPoint, ...]:
    """Loss curves with the usual shape: D falls from 2*ln2 and settles, G rises, both noisy."""
    rng = np.random.default_rng(7)
    i = np.arange(1, n + 1)
    d = 1.38 - 0.5 * (1 - np.exp(-i / 150)) + 0.08 * np.sin(i / 37) + rng.normal(0, 0.05, n)
    g = 0.69 + 0.9 * (1 - np.exp(-i / 200)) + 0.12 * np.sin(i / 53) + rng.normal(0, 0.08, n)
    d_real = np.clip(0.5 + 0.25 * (1 - np.exp(-i / 150)) + rng.normal(0, 0.03, n), 0, 1)
    d_fake = np.clip(0.5 - 0.2 * (1 - np.exp(-i / 150)) + rng.normal(0, 0.03, n), 0, 1)
    return tuple(
        ev.StepPoint(int(s), int((s - 1) // STEPS_PER_EPOCH), float(a), float(b), float(c), float(e))
        for s, a, b, c, e in zip(i, d, g, d_real, d_fake)
    )


SAMPLE_IMAGES = blob_digits(64, seed=11).images.numpy()
INTERPOLATION = blob_digits(16, seed=12).images.numpy()
PER_CLASS = 7


def class_major_images() -> np.ndarray:
    """A conditional grid: PER_CLASS blobs of class 0, then of class 1, ..."""
    blobs = blob_digits(400, seed=11)
    labels = blobs.labels.numpy()
    return np.concatenate([blobs.images.numpy()[labels == c][:PER_CLASS] for c in range(10)])


CLASS_IMAGES = class_major_images()
CLASS_ACCURACY = (0.99, 1.0, 0.93, 0.95, 0.97, 0.88, 0.96, 0.62, 0.91, 0.94)  # 7 and 5 short of 90%


def scripted_report(fd: float, histogram: list[float], conditional: bool = False) -> QualityReport:
    covered = sum(h >= 0.02 for h in histogram)
    return QualityReport(
        1000, tuple(histogram), covered, 0.12, 0.91, 7.4, fd, CLASS_ACCURACY if conditional else ()
    )


class ScriptedEngine:
    """The Engine interface the dashboard uses (setup, run, send, current), replaying a script."""

    def __init__(
        self, config: TrainConfig, emit, *, resume=None, exit_when_done=True, device="cpu", **_timing
    ):
        self.config = config
        self.emit = emit
        self.device = device
        self.commands: queue.Queue = queue.Queue()
        self.current = SimpleNamespace(name=config.arch, step=0)
        self.scripted = threading.Event()

    def send(self, command) -> None:
        self.commands.put(command)

    def setup(self) -> None:
        if self.config.dataset == "mnist" and self.config.data_dir == "/offline":
            raise DataUnavailable(
                "MNIST is not on this machine and could not be downloaded (<urlopen error [Errno -3] "
                "Temporary failure in name resolution>). Fix: put the IDX files in a folder and pass "
                "--data-dir DIR, or train offline with --dataset synthetic."
            )

    def run(self) -> str:
        a = self.config.arch
        e = self.emit
        conditional = self.config.conditional
        images, per_class = (CLASS_IMAGES, PER_CLASS) if conditional else (SAMPLE_IMAGES, 0)
        last_samples = ev.Samples(
            a,
            step=STEPS,
            images=images,
            interpolation=INTERPOLATION,
            per_class=per_class,
            interp_class=8 if conditional else -1,
        )
        e(
            ev.Started(
                a,
                dataset="MNIST",
                device=self.device,
                run_dir=RUN,
                steps_per_epoch=STEPS_PER_EPOCH,
                epochs=100,
                step=0,
                epoch=0,
                params_g=1_489_936,
                params_d=1_460_225,
            )
        )
        e(ev.StateChanged(a, "running", 0))
        e(ev.Samples(a, step=0, images=np.zeros_like(images), per_class=per_class))
        points = scripted_points()
        for chunk in range(0, STEPS, 300):  # several Stats batches, as the engine sends them
            part = points[chunk : chunk + 300]
            last = part[-1].step
            e(
                ev.Stats(
                    a,
                    points=part,
                    step=last,
                    epoch=last // STEPS_PER_EPOCH,
                    epoch_progress=(last % STEPS_PER_EPOCH) / STEPS_PER_EPOCH,
                    images_per_s=48_213.0,
                    elapsed_s=last / 14.4,
                )
            )
            if last >= STEPS_PER_EPOCH and chunk < STEPS_PER_EPOCH <= last:  # routine: the status line's
                path = f"{RUN}/checkpoints/{a}/latest.pt"
                e(
                    ev.CheckpointSaved(
                        a, path, STEPS_PER_EPOCH, routine=True, train_time=STEPS_PER_EPOCH / 14.4
                    )
                )
            fd = 160.0 * 0.6 ** (chunk // 300)  # improving: the trend sparkline falls
            share = [0.13, 0.12, 0.09, 0.1, 0.11, 0.08, 0.1, 0.01, 0.14, 0.12]  # class 7 missing
            e(
                ev.Quality(
                    a,
                    step=last,
                    epoch=last // STEPS_PER_EPOCH,
                    report=scripted_report(fd, share, conditional),
                    real_floor=9.8,
                    classifier_accuracy=0.984,
                    seconds=0.041,
                )
            )
        self.current.step = STEPS
        e(last_samples)
        self.scripted.set()
        while True:
            command = self.commands.get()
            if isinstance(command, (cmd.TogglePause, cmd.Pause)):
                e(ev.StateChanged(a, "paused", STEPS))
                e(last_samples)
            elif isinstance(command, cmd.Stop):
                e(ev.StateChanged(a, "stopped", STEPS))
                e(ev.Finished(a, "stopped", STEPS, RUN))
                return "stopped"


def make_app(monitor_factory, device="cpu", **config) -> TuiGanApp:
    def factory(config, emit, **kwargs):
        return ScriptedEngine(config, emit, device=device, **kwargs)

    return TuiGanApp(TrainConfig(**config), engine_factory=factory, monitor_factory=monitor_factory)


async def settled(pilot) -> None:
    """Wait until the whole script and a system reading are on screen."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            app.dashboard.engine is not None
            and app.dashboard.engine.scripted.is_set()
            and app.dashboard.samples_panel.step == STEPS
            and app.dashboard.system_panel.status is not None
            and app.dashboard.views.get("mlp") is not None
            and app.dashboard.views["mlp"].losses.steps_seen == STEPS
            # the event log scrolls to its end after a refresh: under load the shot could beat it
            and app.dashboard.event_log.scroll_offset.y == app.dashboard.event_log.max_scroll_y
        ),
        "the scripted events to all arrive",
        timeout=20,
    )
    await pilot.pause()


def test_dashboard_80x24(snap_compare, cpu_monitor):
    assert snap_compare(make_app(cpu_monitor), terminal_size=(80, 24), run_before=settled)


def test_dashboard_120x40_gpu(snap_compare, gpu_monitor):
    assert snap_compare(make_app(gpu_monitor, device="cuda:0"), terminal_size=(120, 40), run_before=settled)


@pytest.mark.parametrize("size", [(160, 50), (80, 24)], ids=["160x50", "80x24"])
def test_dashboard_conditional(snap_compare, cpu_monitor, size):
    """--conditional: a row of digits per class, labelled (at 80x24 at a quarter of the size);
    the quality bars are per-class accuracy."""
    assert snap_compare(make_app(cpu_monitor, conditional=True), terminal_size=size, run_before=settled)


def test_paused_with_interpolation_120x40(snap_compare, cpu_monitor):
    async def pause(pilot):
        await settled(pilot)
        await pilot.press("space", "i")
        await wait_for(
            pilot, lambda: pilot.app.dashboard.run_state == "paused", "the paused state", timeout=10
        )
        await pilot.pause()

    assert snap_compare(make_app(cpu_monitor), terminal_size=(120, 40), run_before=pause)


def test_help_80x24(snap_compare, cpu_monitor):
    async def help_(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(cpu_monitor), terminal_size=(80, 24), run_before=help_)


def test_missing_data_dialog_80x24(snap_compare, cpu_monitor):
    async def dialog(pilot):
        from textual.widgets._footer import FooterKey

        def pause_key_dimmed() -> bool:  # the engine stopped: the footer dims the keys that need it
            keys = pilot.app.dashboard.query(FooterKey)
            return any(k.action == "toggle_pause" and k.has_class("-disabled") for k in keys)

        await wait_for(
            pilot, lambda: pilot.app.screen.query("#dialog-buttons"), "the dialog's buttons", timeout=10
        )
        await wait_for(pilot, pause_key_dimmed, "the footer's dimmed keys", timeout=10)
        await pilot.pause()

    app = make_app(cpu_monitor, dataset="mnist", data_dir="/offline")
    assert snap_compare(app, terminal_size=(80, 24), run_before=dialog)


@pytest.mark.parametrize("width", [80, 120])
async def test_the_footer_fits_whole(cpu_monitor, width):
    """Every footer key (actions.ACTIONS with show=True) is on screen whole, none cut at the edge."""
    from textual.widgets._footer import FooterKey

    from tui_gan.ui.actions import ACTIONS

    app = make_app(cpu_monitor)
    async with app.run_test(size=(width, 24)) as pilot:
        await settled(pilot)
        keys = list(app.screen.query(FooterKey))
        shown = [k for k in keys if k.region.width]
        assert {k.description for k in shown} >= {a.label for a in ACTIONS if a.show}
        assert all(k.region.right <= width for k in shown)
