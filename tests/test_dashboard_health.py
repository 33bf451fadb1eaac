"""The dashboard's GAN-health features (the quality issue) against the real engine: the quality
panel and `e`, sample-history scrubbing with left/right, `g` GIF export, the `i` interpolation
row; plus the quality panel's drawing. The histories behind them: test_history.py."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from pilot import (
    log_text,
    notes,
    pause_with_samples,
    press,
    running,
    samples_step,
    until_training,
    widget_text,
)
from waiting import wait_for

from tui_gan.ui.widgets.quality import histogram_lines, sparkline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


async def test_e_evaluates_now_and_the_quality_panel_shows_the_figures(harness, classifier_cache):
    app = harness.app(eval_every=3600, eval_samples=200)  # only `e` triggers an evaluation

    async with running(app) as pilot:
        await until_training(pilot, app)
        assert "quality" in app.dashboard.quality_panel.border_title and not any(
            v.qualities.count for v in app.dashboard.views.values()
        )
        # the engine announces its classifier once it has adopted it (training one takes a while)
        await wait_for(
            pilot,
            lambda: "classifier ready" in widget_text(app.dashboard.quality_panel),
            "the ready note",
            timeout=60,
        )
        await press(pilot, "e")
        await wait_for(
            pilot,
            lambda: "simple" in app.dashboard.views and app.dashboard.views["simple"].qualities.count,
            "an evaluation",
        )
        q = app.dashboard.views["simple"].qualities.latest
        await pilot.pause(0.1)
        text = widget_text(app.dashboard.quality_panel)
        assert "0 1 2 3 4 5 6 7 8 9" in text  # the per-class bars' labels
        assert f"{q.report.classes_covered}/10 classes" in text
        fd = q.report.frechet_distance
        assert f"FD {fd:.1f}" in text if fd < 1000 else f"FD {fd:.0f}" in text
        assert f"real {q.real_floor:.1f}" in text
        assert f"step {q.step:,}" in app.dashboard.quality_panel.border_title
        await press(pilot, "e")
        await wait_for(
            pilot, lambda: app.dashboard.views["simple"].qualities.count == 2, "a second evaluation"
        )
        assert len(app.dashboard.views["simple"].qualities.frechet.values()) == 2  # the FD sparkline's points


async def test_quality_panel_says_when_metrics_are_off(harness):
    app = harness.app()  # tiny_config: eval_every=0

    async with running(app, (80, 24)) as pilot:
        await until_training(pilot, app)
        await wait_for(
            pilot, lambda: "--eval-every 0" in widget_text(app.dashboard.quality_panel), "the off note"
        )
        await press(pilot, "e")
        await wait_for(pilot, lambda: any("quality metrics are off" in n for n in notes(app)), "a warning")


async def test_left_right_scrub_through_the_sample_history(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await wait_for(pilot, lambda: len(app.dashboard.view("simple").samples) >= 4, "four sample refreshes")
        history = app.dashboard.views["simple"].samples
        panel = app.dashboard.samples_panel
        await pause_with_samples(pilot, app)  # no new samples while we count
        await press(pilot, "left", "left")
        count = len(history)
        target = history[count - 3]
        assert panel.snapshot is target and panel.position == (count - 3, count)
        assert f"step {target.step:,}" in panel.border_title and "history" in panel.border_title
        # training goes on, but the panel stays where the user scrubbed to
        await press(pilot, "space")
        await wait_for(pilot, lambda: len(history) > count, "another refresh")
        assert panel.snapshot is target
        await press(pilot, "left")
        assert panel.snapshot is history[count - 4]
        for _ in range(len(history)):
            await press(pilot, "right")
        assert panel.position is None and app.dashboard.scrub_step is None  # live again
        await wait_for(
            pilot, lambda: panel.snapshot is history[-1] and len(history) > count + 1, "live updates"
        )
        await press(pilot, *["left"] * (len(history) + 5))  # stops at the oldest
        assert panel.snapshot is history[0] and panel.position[0] == 0


async def test_g_exports_the_sample_history_as_gif(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await wait_for(
            pilot, lambda: len(app.dashboard.view("simple").samples) >= 3, "three sample refreshes"
        )
        await press(pilot, "g")
        await wait_for(pilot, lambda: "history GIF" in log_text(app), "the GIF")
        line = next(t for _, t in app.dashboard.event_log.entries if "history GIF" in t)
        path = line.split("saved: ", 1)[1]
        await wait_for(pilot, lambda: any(path in n for n in notes(app)), "the toast")
        gif = Image.open(path)
        assert gif.format == "GIF" and gif.n_frames >= 3
        assert gif.size == (2 * (8 * 30 + 2), 2 * (2 * 30 + 2) + 14)  # 16 digits 8 across, caption strip


async def test_i_toggles_the_interpolation_row(harness):
    app = harness.app()

    async with running(app) as pilot:
        await until_training(pilot, app)
        await wait_for(pilot, lambda: samples_step(app) is not None, "samples")
        panel = app.dashboard.samples_panel
        assert "interpolation" not in widget_text(panel)
        await press(pilot, "i")
        snap = panel.snapshot
        assert snap.interpolation is not None and snap.interpolation.shape[1:] == (28, 28)
        caption = re.search(r"interpolation z₀ → z₁ \((\d+) of 16 points\)", widget_text(panel))
        assert caption and int(caption[1]) >= 2  # digits along the row
        await press(pilot, "i")
        assert "interpolation" not in widget_text(panel)


# --- the quality panel's drawing ----------------------------------------------------------------


def test_quality_panel_drawing():
    line = sparkline([90.0, 40.0, 20.0], 10)
    assert len(line) == 3 and line[0] == "█" and line[-1] == "▁"  # falling distance, falling line
    assert len(sparkline(list(range(100)), 10)) == 10  # squeezed into the width
    collapsed = histogram_lines((0.0,) * 3 + (1.0,) + (0.0,) * 6)
    assert len(collapsed) == 3 and collapsed[2].plain == "0 1 2 3 4 5 6 7 8 9 "
    assert collapsed[0].plain[6] == "█" and collapsed[0].plain[0] == " "  # one full-height bar
    balanced = histogram_lines((0.1,) * 10)
    assert set(balanced[0].plain) == {" "} and set(balanced[1].plain) == {"█", " "}  # half height each
