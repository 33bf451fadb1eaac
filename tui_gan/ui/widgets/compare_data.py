"""The numbers behind the compare pane, free of Textual: loss smoothing, thinning a series to what
a chart can show, tick positions with short labels, and the config differences between runs.

Plotext's own ticks are evenly spaced raw floats ("499.5", "1998.0"); runs compared on shared
axes read better at round values in the axis's unit (10k steps, 5m of training, FD 20)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tui_gan.config import TrainConfig

# Smoothing of the loss charts, as an EMA time constant in steps (0: raw). In steps rather than
# W&B's per-point factor: runs log at different rates (a row per 0.1 s of training), and the same
# factor would smooth a fast run over ten times as many steps as a slow one.
SMOOTHING_STEPS = (0, 10, 30, 100, 300, 1000, 3000, 10000)
DEFAULT_SMOOTHING = 300  # steps: about an epoch of MNIST at batch 128

# Keys of config.json that differ between runs without saying anything about how they train:
# where folders and data sat (runs_dir, data_dir, dataset_source: dataset, dataset_split and
# dataset_size say what the data was), the checkpoint a run resumed from, and the run's name,
# which already heads its column. config.json holds no timestamps; the folder name carries them.
IGNORED_CONFIG_KEYS = frozenset({"runs_dir", "data_dir", "dataset_source", "resumed_from", "name"})
NONE_VALUE = "—"  # a setting left to its default (null in config.json)
ABSENT_VALUE = "(absent)"  # a key one run's config.json lacks (written by an older version)

_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def ema(steps: np.ndarray, values: np.ndarray, tau: float) -> np.ndarray:
    """Exponential moving average with a time constant of `tau` steps over unevenly spaced points:
    each point weighs 1 - exp(-gap / tau), so a gap of many steps moves the average further.
    Starts at the first value (no zero bias). tau <= 0 returns the values unchanged."""
    if tau <= 0 or len(values) < 2:
        return values.astype(float, copy=True)
    gaps = np.diff(steps.astype(float), prepend=float(steps[0]))
    weights = (1.0 - np.exp(-np.maximum(gaps, 1.0) / tau)).tolist()
    out = np.empty(len(values))
    average = float(values[0])
    for i, (w, v) in enumerate(zip(weights, values.tolist())):
        average += w * (v - average)
        out[i] = average
    return out


def finite_points(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) as float arrays of equal length without the NaN/inf points (a diverged loss)."""
    n = min(len(x), len(y))
    xs, ys = np.asarray(x[:n], dtype=float), np.asarray(y[:n], dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    return xs[keep], ys[keep]


def thin(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `n` points drawing what all of them would: the lowest and highest point of each of
    n/2 runs of consecutive points, in their order. A chart 60 cells wide has 120 braille columns;
    plotting thousands of points costs plotext time and shows nothing more, while averaging them
    would hide a raw loss's noise (which is what turning the smoothing off is for)."""
    if len(x) <= n or n < 2:
        return x, y
    edges = np.linspace(0, len(x), n // 2 + 1).astype(int)
    keep = []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
        low, high = a + int(np.argmin(y[a:b])), a + int(np.argmax(y[a:b]))
        keep += sorted({low, high})
    return x[keep], y[keep]


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def linear_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """The most round values (multiples of 1, 2, 2.5 or 5 x 10^k) between lo and hi, up to
    max_ticks of them."""
    if not hi > lo:
        return [lo]
    max_ticks = max(2, max_ticks)
    magnitude = 10 ** math.floor(math.log10((hi - lo) / max_ticks))
    for step in (m * magnitude for m in (1, 2, 2.5, 5, 10, 20, 25, 50, 100)):
        ticks = _multiples(lo, hi, step)
        if len(ticks) <= max_ticks:
            return ticks
    return [lo, hi]


def time_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Seconds at round clock values (15 s, 5 min, 1 h, ...), at most max_ticks of them."""
    if not hi > lo:
        return [lo]
    for step in _TIME_STEPS:
        ticks = _multiples(lo, hi, step)
        if len(ticks) <= max(2, max_ticks):
            return ticks
    return [day * 86400 for day in linear_ticks(lo / 86400, hi / 86400, max_ticks)]


def log_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Values 1, 2, 5 x 10^k (or just the powers of ten, or every few) between lo > 0 and hi."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**d for d in decades for m in mantissas if lo <= m * 10.0**d <= hi]
        if 2 <= len(ticks) <= max_ticks:
            return ticks
    powers = [10.0**d for d in decades if lo <= 10.0**d <= hi]
    every = max(1, math.ceil(len(powers) / max(1, max_ticks)))
    return powers[::every] or [lo]


def format_count(v: float) -> str:
    """1500 -> "1.5k", 2_000_000 -> "2M": steps and images/s on an axis."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def format_value(v: float) -> str:
    """A loss or distance on an axis: three significant digits, thousands as k."""
    return format_count(v) if abs(v) >= 1e3 else f"{v:.3g}"  # 5000: "5k", not "5e+03"


def format_seconds(v: float) -> str:
    """Training time as the largest two units: "45s", "5m", "1h30m", "2d6h"."""
    s = int(round(v))
    if s == 0:
        return "0"
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (s, "s")) if n]
    return "".join(parts[:2])


def config_diff(configs: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """The keys whose values differ between the runs' configs, with each run's value as text (in
    the order of `configs`). Nested dicts compare key by key ("a.b"); IGNORED_CONFIG_KEYS never
    show. Keys come in TrainConfig's order (how a run trains first), then the others by name."""
    return diff_rows(list(configs.values()))


def diff_rows(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """config_diff over a list: two runs may share a name (the same --name in two sweeps)."""
    flat = [dict(_flatten(c)) for c in configs]
    if len(flat) < 2:
        return []
    keys = set().union(*flat) - IGNORED_CONFIG_KEYS
    missing = object()
    rows = []
    for key in _ordered(keys):
        values = [f.get(key, missing) for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, [ABSENT_VALUE if v is missing else format_setting(v) for v in values]))
    return rows


def format_setting(value: Any) -> str:
    """A config value as config.json spells it, but None as a dash and floats at full precision
    (two learning rates differing in the 4th digit must not read the same)."""
    if value is None:
        return NONE_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_setting(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _flatten(config: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in config.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _ordered(keys: set[str]) -> list[str]:
    order = {f.name: i for i, f in enumerate(dataclasses.fields(TrainConfig))}
    return sorted(keys, key=lambda k: (order.get(k.split(".")[0], len(order)), k))
