"""The sample grids the workspace shows side by side: each selected run's newest, or each run's
grid at a step chosen for all of them, so runs are compared at the same point of training.
Torch-free; reads one kept grid per run (jobs/runfiles.py keeps them as step_N.npz)."""

from __future__ import annotations

import bisect

import numpy as np

from tui_gan.jobs.runfiles import read_snapshot, snapshot_files
from tui_gan.workspace.model import RunRow

Grid = tuple[str, str, np.ndarray | None, int]  # name, colour, images (None: none kept), step


def grids_at(rows: list[RunRow], step: int | None) -> tuple[list[Grid], list[int]]:
    """Each run's newest grid at or before `step` (None: its newest), and every step some run
    kept a grid at (what the step keys move through)."""
    grids, steps = [], set()
    for row in rows:
        files = snapshot_files(row.run_dir, row.arch)
        steps.update(s for s, _ in files)
        earlier = [f for f in files if step is None or f[0] <= step]
        snapshot = next(filter(None, (read_snapshot(*f) for f in reversed(earlier))), None)
        if snapshot is None:
            grids.append((row.name, row.colour, None, row.step if step is None else step))
        else:
            grids.append((row.name, row.colour, snapshot.images, snapshot.step))
    return grids, sorted(steps)


def step_after(steps: list[int], current: int | None, direction: int) -> int | None:
    """The chosen step `direction` (+1/-1) from `current` among `steps` (sorted); past the newest
    is None (each run's newest again)."""
    if not steps:
        return None
    index = len(steps) if current is None else bisect.bisect_right(steps, current) - 1
    index = min(max(index + direction, 0), len(steps))
    return None if index == len(steps) else steps[index]
