"""sweep.json: what a sweep is (its fixed options, the swept values, seeds, budget) and where
each cell is, rewritten atomically at every change so a killed coordinator loses nothing and
`tui-gan sweep --resume` goes on from it. The workspace groups the run folders beside it."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui_gan.errors import ConfigError
from tui_gan.fileio import atomic_write_bytes
from tui_gan.sweeps.grid import Cell

SWEEP_FILE = "sweep.json"
DONE = ("finished", "collapsed", "pruned", "failed")  # a resume leaves these as they are


@dataclass
class Sweep:
    folder: Path
    name: str
    fixed: list[str]  # train options every cell gets
    grid: dict[str, list[str]]  # swept option -> its values
    seeds: list[int]
    parallel: int
    cells: list[Cell]
    budget: str | None = None  # --max-time of each cell
    search: dict | None = None  # a search's sampler, trials and space (sweeps/search.py); None: the grid
    launcher: dict | None = None  # where runs go (sweeps/launchers.py); None: this machine
    created: float = field(default_factory=time.time)
    coordinator: dict = field(default_factory=dict)  # pid and host of the job running it

    @property
    def path(self) -> Path:
        return self.folder / SWEEP_FILE

    def run_dir(self, cell: Cell) -> Path:
        return self.folder / cell.folder

    def save(self) -> None:
        data = {
            "name": self.name,
            "fixed": self.fixed,
            "grid": self.grid,
            "seeds": self.seeds,
            "parallel": self.parallel,
            "budget": self.budget,
            "search": self.search,
            "launcher": self.launcher,
            "created": self.created,
            "coordinator": self.coordinator,
            "cells": [c.to_dict() for c in self.cells],
        }
        atomic_write_bytes(self.path, (json.dumps(data, indent=1) + "\n").encode())

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Sweep:
        """ConfigError, in a line, when `folder` holds no readable sweep."""
        folder = Path(folder).absolute()
        try:
            data = json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
            return cls(
                folder,
                str(data["name"]),
                [str(t) for t in data["fixed"]],
                {str(k): [str(v) for v in vs] for k, vs in data["grid"].items()},
                [int(s) for s in data["seeds"]],
                int(data["parallel"]),
                [Cell.from_dict(c) for c in data["cells"]],
                data.get("budget"),
                data.get("search"),
                data.get("launcher"),
                float(data.get("created", 0.0)),
                dict(data.get("coordinator") or {}),
            )
        except FileNotFoundError:
            raise ConfigError(f"{folder} is not a sweep folder (no {SWEEP_FILE})") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{folder / SWEEP_FILE} is not readable: {type(exc).__name__}: {exc}") from None

    def check_free(self) -> None:
        """ConfigError while another coordinator runs the sweep (one that ended has "ended")."""
        from tui_gan.jobs.registry import pid_alive

        pid, host = self.coordinator.get("pid"), self.coordinator.get("host")
        if not pid or pid == os.getpid() or self.coordinator.get("ended"):
            return
        here = socket.gethostname()
        if host != here:
            raise ConfigError(f"{self.folder} is run by a coordinator on {host} (pid {pid}): resume it there")
        if pid_alive(int(pid)):
            raise ConfigError(f"{self.folder} is already run by its coordinator (pid {pid})")

    def claim(self) -> None:
        """This process coordinates the sweep from now; refused while another live one does."""
        self.check_free()
        self.coordinator = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.save()

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for cell in self.cells:
            found[cell.state] = found.get(cell.state, 0) + 1
        return found
