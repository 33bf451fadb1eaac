"""benchmarks/workspace.py's parts: screen.py reads what the workspace drew, live.py times jobs
with and without it, first_frame.py times its start over many finished runs."""

from __future__ import annotations

import time

from dashboard_bench import machine_load


def load_note(start: float, end: float) -> str:
    """machine_load.note, once the sampler has a sample after `end` (it samples every 0.5 s)."""
    if machine_load.LOAD is not None:
        time.sleep(max(0.0, end + 2 * machine_load.LOAD.interval - time.monotonic()))
    return machine_load.note(start, end)
