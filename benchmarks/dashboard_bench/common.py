"""What every part of the benchmark shares: its settings, its one error, and the JSON result file
each child process leaves for this one."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "dashboard.py"  # the children run it again with --child

BATCH = 128
COLUMNS, LINES = 120, 40
DEFAULT_STEPS = {"simple": 1000, "mlp": 360, "relu-mlp": 500, "mlp-bn-dropout": 360, "dcgan": 40}
ENGINE_CLASS = "timed_engine:TimedEngine"


class BenchError(Exception):
    """Something the benchmark cannot measure through: reported in one line, exit status 1."""


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def write_child_result(path: str, result: dict) -> int:
    """A child's last act: its results (or the "error" that stopped it) for the parent; its exit status."""
    Path(path).write_text(json.dumps(result))
    return 1 if "error" in result else 0


def read_child_result(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{what}: the child wrote no results") from None
