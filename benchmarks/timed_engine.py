"""The instrumented Engine that benchmarks/dashboard.py times. A module of its own because the
benchmark trains in a job (tui_gan/jobs: `start_job(engine_class="timed_engine:TimedEngine")`),
a process of its own that imports the engine class by name: a class defined in a script's
__main__ could not be found there."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path

from bench_data import load_images

from tui_gan.training import events as ev
from tui_gan.training.engine import Engine

GATE_TIMEOUT_S = 120.0


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
    """The real engine, plus a timestamp per step, when it emitted each StateChanged (and any
    Failed), this process's per-thread CPU at the end of step `warmup` + 1 and of the last step
    (config.max_steps), and when its full garbage collections ran and for how long; written as
    JSON to `timing_path` when run() returns.

    Loads its data in setup() (from `data`, as load_images takes it), so that the data loads in
    the job's process, as it does for a user. `start_gate`: a file whose appearance starts
    training (run() waits for it), so viewers can attach before the first step."""

    def __init__(
        self,
        config,
        emit=None,
        *,
        data: str = "auto",
        warmup: int = 10,
        timing_path: str | None = None,
        torch_threads: int | None = None,
        switch_interval_ms: float | None = None,
        start_gate: str | None = None,
        **kwargs,
    ):
        super().__init__(config, emit, **kwargs)
        self.data_choice, self.warmup, self.timing_path = data, warmup, timing_path
        self.torch_threads, self.switch_interval_ms = torch_threads, switch_interval_ms
        self.start_gate = start_gate
        self.step_times: list[float] = []
        self.cpu_marks: list[tuple[float, dict]] = []
        self.engine_thread = ""
        self.states: list[tuple[float, str, int]] = []  # (when emitted, state, step)
        self.failures: list[str] = []
        self.gate_opened: float | None = None
        self.gc_pauses: list[tuple[float, float]] = []  # (start, seconds) of this process's full collections
        self._gc_start: float | None = None
        gc.callbacks.append(self._on_gc)
        inner = self.emit

        def emit(event) -> None:  # the engine thread: note the moment, then hand it on
            if isinstance(event, ev.StateChanged):
                self.states.append((time.monotonic(), event.state, event.step))
            elif isinstance(event, ev.Failed):
                self.failures.append(event.message)
            inner(event)

        self.emit = emit

    def _on_gc(self, phase: str, info: dict) -> None:
        """Full (generation 2) collections stop every thread of the process: note when and how long."""
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_start = time.monotonic()
        elif self._gc_start is not None:
            self.gc_pauses.append((self._gc_start, time.monotonic() - self._gc_start))
            self._gc_start = None

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
            if self.start_gate:
                gate, end = Path(self.start_gate), time.monotonic() + GATE_TIMEOUT_S
                while not gate.exists():
                    if time.monotonic() > end:
                        self.failures.append(f"the start gate {gate} did not open in {GATE_TIMEOUT_S:.0f} s")
                        return "error"
                    time.sleep(0.005)
                self.gate_opened = time.monotonic()
            return super().run()
        finally:
            if self.timing_path:
                Path(self.timing_path).write_text(json.dumps(self.timing()))

    def timing(self) -> dict:
        return {
            "step_times": self.step_times,
            "cpu": self.cpu_marks,
            "engine_thread": self.engine_thread,
            "engine_states": self.states,
            "engine_failures": self.failures,
            "gate_opened": self.gate_opened,
            "gc_pauses": self.gc_pauses,
        }
