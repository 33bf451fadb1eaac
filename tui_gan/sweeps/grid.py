"""A sweep's cells from `tui-gan sweep`'s train options: a value with commas is swept
(`--arch mlp,dcgan --lr 2e-4,5e-4`), every combination times every seed is a cell, and each
cell is an ordinary `tui-gan train` command line whose run folder is inside the sweep folder.
Every cell is checked as `train` would check it before anything starts."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from tui_gan.errors import ConfigError

# train options a sweep sets itself for each cell, so they cannot be given to it
SWEEP_SETS = ("--headless", "--detach", "--resume", "--run-dir", "--nproc", "--runs-dir", "--name")
NAME_MAX = 64  # what --name allows


@dataclass
class Cell:
    """One run of the sweep: its swept values (option -> value, in the grid's order) and seed."""

    index: int
    values: dict[str, str]
    seed: int
    folder: str  # its run folder's name inside the sweep folder
    state: str = "pending"  # pending, running, finished, collapsed, failed, stopped
    detail: str = ""  # why it failed, or how it ended, in a line
    extra: dict = field(default_factory=dict)  # the launcher's job id, when it started and ended

    @property
    def config_key(self) -> str:
        """What the cell's runs over seeds share: `arch=mlp lr=2e-4` ("base" with no swept option)."""
        return " ".join(f"{k}={v}" for k, v in self.values.items()) or "base"

    @property
    def label(self) -> str:
        return f"{self.config_key} seed={self.seed}"

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "values": self.values,
            "seed": self.seed,
            "folder": self.folder,
            "state": self.state,
            "detail": self.detail,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        known = ("index", "values", "seed", "folder", "state", "detail")
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(
            int(data["index"]),
            {str(k): str(v) for k, v in data["values"].items()},
            int(data["seed"]),
            str(data["folder"]),
            str(data.get("state", "pending")),
            str(data.get("detail", "")),
            extra,
        )


def split_options(tokens: list[str], takes_value: dict[str, bool]) -> tuple[list[str], dict[str, list[str]]]:
    """train options -> (the fixed ones, as argv; the swept ones: option -> its values).
    `takes_value`: each train option string -> whether it takes a value."""
    fixed: list[str] = []
    swept: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, inline = token.partition("=")
        if not name.startswith("--") or name not in takes_value:
            raise ConfigError(f"{token!r} is not a train option (tui-gan train --help lists them)")
        if name in SWEEP_SETS:
            raise ConfigError(f"{name} is set by the sweep for each run; it cannot be given to tui-gan sweep")
        if not takes_value[name]:
            fixed.append(token)
            i += 1
            continue
        if eq:
            value = inline
        elif i + 1 < len(tokens):
            value = tokens[i + 1]
            i += 1
        else:
            raise ConfigError(f"{name} needs a value")
        i += 1
        values = [v.strip() for v in value.split(",")]
        if len(values) == 1:
            fixed += [name, value]
        elif "" in values:
            raise ConfigError(f"{name} {value!r} has an empty value between its commas")
        elif name in swept:
            raise ConfigError(f"{name} is given twice")
        else:
            swept[name] = values
    return fixed, swept


def make_cells(swept: dict[str, list[str]], seeds: list[int]) -> list[Cell]:
    """Every combination of the swept values (the first option varying slowest), each seed."""
    cells = []
    combos = itertools.product(*swept.values()) if swept else [()]
    for combo in combos:
        values = {name.lstrip("-"): value for name, value in zip(swept, combo)}
        for seed in seeds:
            index = len(cells)
            cells.append(Cell(index, values, seed, folder_name(index, values, seed)))
    return cells


def folder_name(index: int, values: dict[str, str], seed: int) -> str:
    words = [re.sub(r"[^A-Za-z0-9.+-]+", "_", v) for v in values.values()]
    return "-".join([f"{index:03d}", *words, f"s{seed}"])[:120]


def cell_argv(fixed: list[str], cell: Cell, run_dir: str, name: str) -> list[str]:
    """The cell's `tui-gan train` command line (argv after the program)."""
    swept = [token for option, value in cell.values.items() for token in (f"--{option}", value)]
    run_name = f"{name}/{cell.label}"
    if len(run_name) > NAME_MAX:
        run_name = f"{name[:20]}/{cell.folder}"[:NAME_MAX]
    return [
        "train",
        "--headless",
        "--run-dir",
        run_dir,
        "--resume",
        "auto",
        "--name",
        run_name,
        *fixed,
        *swept,
        "--seed",
        str(cell.seed),
    ]
