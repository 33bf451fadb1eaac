"""Whether other processes shared the cores while a run trained: on a shared 2-core machine
another process taking a core can slow training several times over, so each run is marked."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .processes import descendants


class MachineLoad:
    """How many cores processes that are not ours kept busy, sampled twice a second in a thread:
    on a shared machine another process taking a core slows training (torch's OpenMP pool
    most of all), and this tells a contended run from a slow one. Ours: this process and every
    process below it."""

    CONTENDED = 0.25  # cores taken by others while training that mark a run as contended

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (when, others' CPU seconds so far)
        self.runs = self.contended = 0  # runs noted, and how many of them were contended
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine load", daemon=True)
        self._thread.start()

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields)) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours() -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for pid in [os.getpid(), *descendants()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def _run(self) -> None:
        try:
            busy, ours, others = self._busy(), self._ours(), 0.0
            self.samples.append((time.monotonic(), 0.0))
            while not self._stop.wait(self.interval):
                now_busy, now_ours = self._busy(), self._ours()
                mine = sum(v - ours.get(pid, 0.0) for pid, v in now_ours.items())
                others += max(0.0, now_busy - busy - mine)
                busy, ours = now_busy, now_ours
                self.samples.append((time.monotonic(), others))
        except OSError:
            pass  # no /proc: no figure

    def _at(self, t: float) -> float | None:
        before = [s for s in self.samples if s[0] <= t]
        after = [s for s in self.samples if s[0] >= t]
        if not before or not after:
            return None
        (t0, a), (t1, b) = before[-1], after[0]
        return a if t1 == t0 else a + (b - a) * (t - t0) / (t1 - t0)

    def others(self, start: float, end: float) -> float | None:
        """Cores others kept busy between two monotonic times (None when not sampled)."""
        a, b = self._at(start), self._at(end)
        return None if a is None or b is None or end <= start else (b - a) / (end - start)

    def note(self, start: float, end: float) -> str:
        cores = self.others(start, end)
        if cores is None:
            return ""
        self.runs += 1
        self.contended += cores >= self.CONTENDED
        return f"; other processes {cores:.2f} cores" + (" (CONTENDED)" if cores >= self.CONTENDED else "")

    def stop(self) -> None:
        self._stop.set()


LOAD: MachineLoad | None = None  # the benchmark's one sampler, once start() has run


def start() -> MachineLoad:
    global LOAD
    LOAD = MachineLoad()
    return LOAD


def note(start: float, end: float) -> str:
    """What a run's line ends with ("; other processes N cores"), "" when nothing was sampled."""
    return "" if LOAD is None else LOAD.note(start, end)
