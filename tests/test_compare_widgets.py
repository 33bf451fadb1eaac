"""The workspace's compare pane on its own: CompareCharts, SampleStrip and ConfigDiff in a small host
app fed with three runs' synthetic series, as the workspace screen feeds them.

Snapshots at 80x24 (one chart) and 120x40 (several). Update after an intended change:
pytest tests/test_compare_widgets.py --snapshot-update"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from factories import blob_digits
from pilot import widget_text
from textual.app import App, ComposeResult
from textual.containers import Horizontal

from tui_gan.ui.widgets.compare import CHARTS, CompareCharts, ConfigDiff, SampleStrip, config_diff
from tui_gan.ui.widgets.compare_data import (
    ABSENT_VALUE,
    DEFAULT_SMOOTHING,
    NONE_VALUE,
    SMOOTHING_STEPS,
    ema,
    format_count,
    format_seconds,
    linear_ticks,
    log_ticks,
    thin,
    time_ticks,
)
from tui_gan.ui.widgets.compare_side import strip_layout
from tui_gan.workspace.model import RunSeries

# Three runs of a comparison: folder names picked for three distinct palette colours.
RUNS = (  # name, FD it settles at, steps trained, images/s, D loss level, seed
    ("baseline", 9.0, 60_000, 9_000.0, 1.2, 1),
    ("ttur", 5.5, 40_000, 6_500.0, 1.0, 2),
    ("hinge-ema", 14.0, 90_000, 14_000.0, 0.7, 3),
)
BATCH = 128


def synthetic_series(name: str, fd_end: float, steps: int, rate: float, d_level: float, seed: int):
    """A plausible run: FD falls from ~250 towards fd_end, an evaluation every 30 s of training;
    noisy losses a point per 25 steps; images/s wobbling around `rate`."""
    rng = np.random.default_rng(seed)
    seconds = steps * BATCH / rate
    fd_time = np.arange(30.0, seconds, 30.0)
    fd_step = (fd_time * rate / BATCH).astype(int)
    fd = fd_end + 240 * np.exp(-fd_time / (seconds / 6)) * rng.uniform(0.9, 1.1, len(fd_time))
    step = np.arange(25, steps + 1, 25)
    d = d_level + 0.4 * np.exp(-step / 9000) + rng.normal(0, 0.15, len(step))
    g = 2.2 - d_level + 0.6 * (1 - np.exp(-step / 12000)) + rng.normal(0, 0.25, len(step))
    rate_step = np.arange(1000, steps + 1, 1000)
    images = rate * (1 + rng.normal(0, 0.03, len(rate_step)))
    return RunSeries(
        Path("runs") / name,
        name,
        fd_time=tuple(fd_time.tolist()),
        fd_step=tuple(fd_step.tolist()),
        fd=tuple(fd.tolist()),
        loss_step=tuple(step.astype(float).tolist()),
        d_loss=tuple(d.tolist()),
        g_loss=tuple(g.tolist()),
        rate_step=tuple(rate_step.astype(float).tolist()),
        images_per_s=tuple(images.tolist()),
    )


SERIES = [synthetic_series(*run) for run in RUNS]
SAMPLES = [blob_digits(64, seed=run[-1]).images.numpy() for run in RUNS]
CONFIGS = {
    "baseline": {"arch": "dcgan", "loss": None, "lr": 0.0002, "lr_d": None, "ema": None, "seed": 0},
    "ttur": {"arch": "dcgan", "loss": None, "lr": None, "lr_d": 0.0004, "ema": None, "seed": 0},
    "hinge-ema": {"arch": "dcgan", "loss": "hinge", "lr": 0.0002, "lr_d": None, "ema": 0.999, "seed": 0},
}


class ComparePane(App):
    """The compare pane as the workspace would mount it: charts on top, samples and the config
    differences below; keys as the screen might bind them."""

    CSS = """
    CompareCharts { height: 1fr; }
    #below { height: 10; }
    SampleStrip { width: 2fr; border-top: solid $primary; }
    ConfigDiff { width: 1fr; border-top: solid $primary; }
    Screen.-tall #below { height: 16; }
    """
    BINDINGS = [("n", "next_chart"), ("plus", "smoother"), ("minus", "rougher")]

    def __init__(self, series=(), samples=(), configs=None) -> None:
        super().__init__()
        self.series, self.samples, self.configs = series, samples, configs or {}

    def compose(self) -> ComposeResult:
        yield CompareCharts()
        with Horizontal(id="below"):
            yield SampleStrip()
            yield ConfigDiff()

    def on_mount(self) -> None:
        self.screen.set_class(self.size.height >= 40, "-tall")
        self.feed(self.series, self.samples, self.configs)

    def feed(self, series, samples, configs) -> None:
        self.query_one(CompareCharts).set_series(series)
        self.query_one(SampleStrip).set_samples(
            [(s.name, s.colour, images, s.fd_step[-1]) for s, images in zip(series, samples)]
        )
        colours = {s.name: s.colour for s in series}
        self.query_one(ConfigDiff).set_configs([(n, colours[n], c) for n, c in configs.items()])

    def action_next_chart(self) -> None:
        self.query_one(CompareCharts).next_chart()

    def action_smoother(self) -> None:
        self.query_one(CompareCharts).smoother()

    def action_rougher(self) -> None:
        self.query_one(CompareCharts).rougher()


def three_runs() -> ComparePane:
    return ComparePane(SERIES, SAMPLES, CONFIGS)


# --- snapshots -----------------------------------------------------------------------------------


def test_compare_pane_80x24(snap_compare):
    """One chart at a time, its place among the five in its title; digits at quarter size."""
    assert snap_compare(three_runs(), terminal_size=(80, 24))


def test_compare_pane_80x24_next_chart(snap_compare):
    assert snap_compare(three_runs(), terminal_size=(80, 24), press=["n", "n"])


def test_compare_pane_120x40(snap_compare):
    assert snap_compare(three_runs(), terminal_size=(120, 40))


def test_compare_pane_no_color_80x24(snap_compare, monkeypatch):
    """NO_COLOR: a marker per run on the curves and in the legend, ASCII digits."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(three_runs(), terminal_size=(80, 24), press=["n", "n"])


# --- behaviour -----------------------------------------------------------------------------------


async def test_an_empty_selection_shows_a_hint_not_an_axis():
    app = ComparePane()
    async with app.run_test(size=(80, 24)) as pilot:
        charts = app.query_one(CompareCharts)
        assert charts.hint.display and not charts.query_one("#compare-charts").display
        assert charts.shown_charts == ()
        assert "Select runs" in widget_text(charts.hint)
        assert "┤" not in widget_text(charts)  # no axis drawn
        app.feed(SERIES, SAMPLES, CONFIGS)
        await pilot.pause()
        assert not charts.hint.display and charts.shown_charts == ("fd_time",)
        app.feed([], [], {})
        await pilot.pause()
        assert charts.hint.display and charts.shown_charts == ()
        assert "Select runs" in widget_text(app.query_one(SampleStrip))
        assert "two or more" in widget_text(app.query_one(ConfigDiff).hint)


async def test_smoothing_changes_the_drawn_loss():
    app = three_runs()
    async with app.run_test(size=(80, 24)) as pilot:
        charts = app.query_one(CompareCharts)
        charts.chart = "d_loss"
        await pilot.pause()
        view = charts.views[0]
        smoothed = widget_text(view)
        assert "EMA over 300 steps" in smoothed
        await pilot.press(*["minus"] * SMOOTHING_STEPS.index(DEFAULT_SMOOTHING))
        assert charts.smoothing == 0
        raw = widget_text(view)
        assert ", raw" in raw
        # The same axes' frame, different curves: the raw loss spreads over more of the plot.
        assert raw != smoothed
        assert sum(c != " " for c in raw) > sum(c != " " for c in smoothed)
        await pilot.press("minus")
        assert charts.smoothing == 0  # no rougher than raw
        await pilot.press(*["plus"] * 5)
        assert charts.smoothing == 1000 and "EMA over 1,000 steps" in widget_text(view)
        await pilot.press(*["plus"] * len(SMOOTHING_STEPS))
        assert charts.smoothing == SMOOTHING_STEPS[-1]


async def test_more_room_shows_more_charts_and_next_chart_cycles():
    async with three_runs().run_test(size=(80, 24)) as pilot:
        charts = pilot.app.query_one(CompareCharts)
        seen = []
        for _ in CHARTS:
            seen += charts.shown_charts
            await pilot.press("n")
        assert seen == [spec.key for spec in CHARTS]
        assert charts.shown_charts == ("fd_time",)  # round again
    async with three_runs().run_test(size=(200, 60)) as pilot:
        charts = pilot.app.query_one(CompareCharts)
        assert len(charts.shown_charts) == len(CHARTS)


async def test_new_data_redraws_the_same_widgets():
    """set_series redraws in place: no widget is mounted or removed, so nothing flickers."""
    app = three_runs()
    async with app.run_test(size=(120, 40)) as pilot:
        charts = app.query_one(CompareCharts)
        views = list(charts.query("ChartView"))
        before = widget_text(charts.views[0])
        longer = [synthetic_series(*RUNS[0][:2], 40_000, *RUNS[0][3:]), *SERIES[1:]]
        charts.set_series(longer)
        await pilot.pause()
        assert list(charts.query("ChartView")) == views
        assert widget_text(charts.views[0]) != before


async def test_a_chart_without_data_says_so_and_one_point_is_drawn():
    no_fd = [RunSeries(s.run_dir, s.name, loss_step=s.loss_step, d_loss=s.d_loss) for s in SERIES[:2]]
    no_fd.append(RunSeries(Path("runs/new"), "new", fd_time=(31.0,), fd_step=(200,), fd=(250.0,)))
    async with ComparePane(no_fd).run_test(size=(80, 24)) as pilot:
        charts = pilot.app.query_one(CompareCharts)
        assert "1 of 3 runs" in widget_text(charts.views[0])  # the one evaluation there is
        charts.set_series(no_fd[:2])
        await pilot.pause()
        assert "no evaluations yet" in widget_text(charts.views[0])
        charts.chart = "d_loss"
        await pilot.pause()
        assert "D loss" in widget_text(charts.views[0]) and "┤" in widget_text(charts.views[0])


async def test_no_color_gives_each_run_a_marker(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    async with three_runs().run_test(size=(80, 24)) as pilot:
        charts = pilot.app.query_one(CompareCharts)
        assert widget_text(charts.legend).split() == ["•", "baseline", "x", "ttur", "+", "hinge-ema"]
        charts.chart = "d_loss"
        await pilot.pause()
        drawn = widget_text(charts.views[0])
        assert all(marker in drawn for marker in "•x+")


async def test_fed_before_mount():
    """The screen may hand data over before the pane is on screen."""
    charts, strip = CompareCharts(), SampleStrip()
    charts.set_series(SERIES)
    strip.set_samples([(s.name, s.colour, images, 100) for s, images in zip(SERIES, SAMPLES)])

    class Host(App):
        def compose(self) -> ComposeResult:
            yield charts
            yield strip

    async with Host().run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        assert charts.shown_charts and "baseline" in widget_text(charts.legend)
        assert "baseline · step 100" in widget_text(strip)


# --- sample strip --------------------------------------------------------------------------------


def test_strip_layout_picks_the_size_that_shows_enough_digits():
    # room for full-size digits: 6 of them at full size
    assert strip_layout(200, 40, 2, 64) == (2, 98, 0, 3, 2)
    # 3 runs in 52 cells: one half-size digit each, or 3 quarter-size ones: quarter wins
    assert strip_layout(52, 9, 3, 64) == (3, 15, 2, 2, 1)
    # too narrow for all ten runs: the first ones that fit
    assert strip_layout(40, 10, 10, 64)[0] == 4
    assert strip_layout(5, 10, 3, 64) == (0, 0, 0, 0, 0)


async def test_sample_strip_captions_each_run_and_says_what_is_missing():
    runs = [(s.name, s.colour, images, 5000) for s, images in zip(SERIES, SAMPLES)]
    runs[1] = ("ttur", SERIES[1].colour, None, 0)
    strip = SampleStrip()

    class Host(App):
        def compose(self) -> ComposeResult:
            yield strip

    async with Host().run_test(size=(120, 30)) as pilot:
        strip.set_samples(runs)
        await pilot.pause()
        first = widget_text(strip).splitlines()[0]
        assert " ".join(first.split()) == "baseline · step 5,000 ttur · step 0 hinge-ema · step 5,000"
        baseline_digits, rest = widget_text(strip).splitlines()[1].split("no samples yet")
        assert len(baseline_digits.split()) > 1  # ttur having none does not hold the others back
        strip.set_samples(runs * 7)  # 21 runs do not fit side by side
        await pilot.pause()
        assert strip.border_subtitle == "12 of 21 runs"


# --- config differences --------------------------------------------------------------------------


def test_config_diff_keeps_only_the_keys_that_differ():
    rows = config_diff(CONFIGS)
    assert rows == [
        ("loss", [NONE_VALUE, NONE_VALUE, "hinge"]),
        ("lr", ["0.0002", NONE_VALUE, "0.0002"]),
        ("lr_d", [NONE_VALUE, "0.0004", NONE_VALUE]),
        ("ema", [NONE_VALUE, NONE_VALUE, "0.999"]),
    ]


def test_config_diff_ignores_paths_and_names_and_marks_absent_keys():
    a = {"arch": "mlp", "runs_dir": "/a", "resumed_from": "/a/c.pt", "dataset_source": "/d", "torch": "2.4"}
    b = {"arch": "mlp", "runs_dir": "/b", "resumed_from": None, "dataset_source": "/mnt/d", "name": "b"}
    assert config_diff({"a": a, "b": b}) == [("torch", ["2.4", ABSENT_VALUE])]
    assert config_diff({"a": a}) == []
    assert config_diff({"a": a, "b": dict(a)}) == []


def test_config_diff_orders_like_the_config_and_flattens_nested_dicts():
    a = {"zeta": 1, "seed": 1, "arch": "mlp", "recipe": {"loss": "bce", "lr": 2e-4}, "tensorboard": True}
    b = {"zeta": 2, "seed": 2, "arch": "dcgan", "recipe": {"loss": "bce", "lr": 1e-4}, "tensorboard": False}
    rows = config_diff({"a": a, "b": b})
    assert [key for key, _ in rows] == ["arch", "recipe.lr", "seed", "tensorboard", "zeta"]
    assert dict(rows)["tensorboard"] == ["true", "false"]
    assert dict(rows)["recipe.lr"] == ["0.0002", "0.0001"]


async def test_config_diff_widget_heads_columns_with_run_names():
    app = three_runs()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ConfigDiff).table
        headers = [str(column.label) for column in table.columns.values()]
        assert headers == ["setting", "baseline", "ttur", "hinge-ema"]
        assert table.row_count == 4
        assert app.query_one(ConfigDiff).hint.display is False


# --- the numbers behind the charts ---------------------------------------------------------------


def test_ema_in_steps_weighs_gaps():
    steps = np.array([0.0, 10, 20, 1000])
    values = np.array([1.0, 0.0, 0.0, 0.0])
    out = ema(steps, values, tau=100)
    assert out[0] == 1.0 and 0.8 < out[2] < 0.9  # two short gaps: still near the start
    assert out[3] < 0.01  # a gap of ten time constants forgets it
    assert np.array_equal(ema(steps, values, 0), values)


def test_thin_keeps_the_extremes_in_fewer_points():
    x = np.arange(1000.0)
    y = np.sin(x)
    tx, ty = thin(x, y, 100)
    assert len(tx) == 100 and np.all(np.diff(tx) > 0)
    assert np.array_equal(ty, np.sin(tx))  # real points, not averages
    assert ty.min() == y.min() and ty.max() == y.max()
    assert len(thin(x, y, 2000)[0]) == 1000


@pytest.mark.parametrize(
    "ticks, expected",
    [
        (linear_ticks(0, 23_000, 6), [0, 5000, 10_000, 15_000, 20_000]),
        (linear_ticks(0.61, 1.93, 5), [0.75, 1.0, 1.25, 1.5, 1.75]),
        (linear_ticks(0, 90_000, 8), [0, 20_000, 40_000, 60_000, 80_000]),
        (time_ticks(30, 1500, 6), [300, 600, 900, 1200, 1500]),
        (time_ticks(0, 7 * 3600, 5), [0, 7200, 14400, 21600]),
        (log_ticks(4.2, 280, 6), [5, 10, 20, 50, 100, 200]),
        (log_ticks(4.2, 280, 4), [10, 30, 100]),
    ],
)
def test_ticks_are_round(ticks, expected):
    assert ticks == pytest.approx(expected)


def test_tick_labels_are_short():
    assert [format_count(v) for v in (0, 500, 1500, 20_000, 2_500_000)] == ["0", "500", "1.5k", "20k", "2.5M"]
    assert [format_seconds(v) for v in (0, 45, 300, 5400, 90_000)] == ["0", "45s", "5m", "1h30m", "1d1h"]
