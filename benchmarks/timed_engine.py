"""The instrumented Engine that benchmarks/dashboard.py times. A module of its own because the
dashboard runs its engine in a child process (tui_gan/training/process.py), which imports the
engine class by name: a class defined in a script's __main__ could not be found there."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from bench_data import load_images
from tui_gan.training.engine import Engine


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each thread of this process, by Python thread name (threads
    Python did not start, e.g. torch's OpenMP pool, are summed as "native")."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        name = names.get(int(tid), "native")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


class TimedEngine(Engine):
    """The real engine, plus a timestamp per step and this process's per-thread CPU at the end of
    step `warmup` + 1 and of the last step (config.max_steps); written as JSON to `timing_path` when run() returns.

    Loads its data in setup() (from `data`, as load_images takes it), so that in the dashboard
    the data loads in the engine's process, as it does for a user."""

    def __init__(self, config, emit=None, *, data: str = "auto", warmup: int = 10, timing_path: str | None = None,
                 torch_threads: int | None = None, switch_interval_ms: float | None = None, **kwargs):
        super().__init__(config, emit, **kwargs)
        self.data_choice, self.warmup, self.timing_path = data, warmup, timing_path
        self.torch_threads, self.switch_interval_ms = torch_threads, switch_interval_ms
        self.step_times: list[float] = []
        self.cpu_marks: list[tuple[float, dict]] = []
        self.engine_thread = ""

    def setup(self) -> None:
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        if self.switch_interval_ms:
            import sys

            sys.setswitchinterval(self.switch_interval_ms / 1000)
        if self.dataset is None:
            self.dataset = load_images(self.data_choice)
        super().setup()

    def train_step(self, state=None) -> None:
        super().train_step(state)
        self.step_times.append(time.monotonic())
        if len(self.step_times) in (self.warmup + 1, self.config.max_steps):
            self.cpu_marks.append((self.step_times[-1], thread_cpu()))
        if len(self.step_times) == 1:
            self.engine_thread = threading.current_thread().name

    def run(self) -> str:
        try:
            return super().run()
        finally:
            if self.timing_path:
                Path(self.timing_path).write_text(json.dumps(self.timing()))

    def timing(self) -> dict:
        return {"step_times": self.step_times, "cpu": self.cpu_marks, "engine_thread": self.engine_thread}
