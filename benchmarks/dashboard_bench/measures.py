"""The figures made from a run's timestamps: images/s over the timed steps with the pauses left
out, bytes/s, and the cores each thread kept busy. All times are time.monotonic(), shared by
every process, so the job's, the app's and this process's compare directly."""

from __future__ import annotations

import statistics

from . import machine_load
from .common import BATCH, BenchError


def pause_windows(states: list) -> list[tuple[float, float]]:
    """(paused, resumed) times from the engine's StateChanged events."""
    windows, since = [], None
    for t, state, _ in states:
        if state == "paused" and since is None:
            since = t
        elif state != "paused" and since is not None:
            windows.append((since, t))
            since = None
    if since is not None:
        windows.append((since, float("inf")))
    return windows


def overlap(a: float, b: float, windows) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for start, end in windows)


def training_window(result: dict, warmup: int) -> tuple[float, float, float, int]:
    """(start, end, seconds trained, steps timed) for the steps after the first `warmup`."""
    times = result["step_times"]
    if len(times) < warmup + 2:
        raise BenchError(
            f"{result['mode']} {result['arch']}: only {len(times)} steps ran (need > {warmup + 1})"
        )
    start, end = times[warmup], times[-1]
    seconds = end - start - overlap(start, end, pause_windows(result["engine_states"]))
    return start, end, seconds, len(times) - 1 - warmup


def images_per_s(result: dict, warmup: int) -> float:
    _, _, seconds, steps = training_window(result, warmup)
    return steps * BATCH / seconds


def bytes_per_s(chunks: list, start: float, end: float) -> float:
    return sum(n for t, n in chunks if start <= t <= end) / max(end - start, 1e-9)


def load_note(result: dict, warmup: int) -> str:
    """How busy other processes kept the machine while this run trained (see machine_load)."""
    if machine_load.LOAD is None:
        return ""
    start, end, _, _ = training_window(result, warmup)
    return machine_load.note(start, end)


def thread_cores(marks: list | None) -> dict[str, float] | None:
    """Cores each thread kept busy from the first CPU mark to the last (None without two)."""
    if len(marks or []) < 2:
        return None
    (t0, a), (t1, b) = marks[0], marks[-1]
    return {name: (b[name] - a.get(name, 0.0)) / (t1 - t0) for name in b}


def cpu_use(result: dict) -> str:
    """Cores each thread kept busy over the timed training (wall time, pauses included): the
    job's process, and for the dashboard the UI's process too."""

    def one(marks: list, names: dict[str, str]) -> str:
        use = thread_cores(marks)
        if use is None:
            return "-"
        parts = [
            f"{names.get(name, name)} {v:.2f}"
            for name, v in sorted(use.items(), key=lambda kv: -kv[1])
            if v >= 0.01
        ]
        return f"{sum(use.values()):.2f} cores (" + ", ".join(parts) + ")"

    job = one(
        result.get("cpu"),
        {result.get("engine_thread"): "engine", "native": "torch pool", "MainThread": "job loop"},
    )
    if result["mode"] != "dashboard":
        return f"job process {job}"
    return f"job process {job}; UI process {one(result.get('ui_cpu'), {'MainThread': 'ui'})}"


def job_loop_cores(result: dict) -> float:
    use = thread_cores(result.get("cpu"))
    return float("nan") if use is None else use.get("MainThread", 0.0)


def ms(values: list[float]) -> str:
    if not values:
        return "     -     -"
    return f"{statistics.median(values) * 1000:6.0f}{max(values) * 1000:6.0f}"
