"""A run's state: one enum and the table of its transitions.

The engine moves through it (Engine.enter is the only place that changes it), StateChanged
events and job.json carry its value over the wire and to disk, and `tui-gan ls` and the
dashboard show that value. Torch-free: the dashboard's process imports it."""

from __future__ import annotations

from enum import Enum


class RunState(str, Enum):
    """Where the run is. The values are what the wire, job.json and the status line say."""

    STARTING = "starting"  # loading data, building the models
    RUNNING = "running"
    PAUSED = "paused"  # space: no steps until resumed
    FINISHED = "finished"  # this architecture reached --epochs or --max-steps, or --early-stop ended it
    FAILED = "error"  # a non-finite loss (the weights are kept; b rolls back) or a crash
    STOPPING = "stopping"  # asked to stop: final checkpoints, then STOPPED
    STOPPED = "stopped"

    @property
    def ended(self) -> bool:
        """Training of the current architecture is over (another may still be switched to)."""
        return self in (RunState.FINISHED, RunState.FAILED)

    def __str__(self) -> str:
        return self.value


_ANY_LIVE = {RunState.RUNNING, RunState.PAUSED, RunState.FINISHED, RunState.FAILED, RunState.STOPPING}
# Every state a state may move to. Switching architecture or rolling back to best.pt moves a
# finished or failed run back to running (or paused); a stop goes through STOPPING, which
# only ends.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.STARTING: frozenset(_ANY_LIVE),
    RunState.RUNNING: frozenset(_ANY_LIVE - {RunState.RUNNING}),
    RunState.PAUSED: frozenset(_ANY_LIVE - {RunState.PAUSED}),
    RunState.FINISHED: frozenset(_ANY_LIVE - {RunState.FINISHED}),
    RunState.FAILED: frozenset(_ANY_LIVE - {RunState.FAILED}),
    RunState.STOPPING: frozenset({RunState.STOPPED, RunState.FAILED}),  # FAILED: a crash on the way out
    RunState.STOPPED: frozenset(),
}


def can_move(old: RunState, new: RunState) -> bool:
    return new in TRANSITIONS[old]
