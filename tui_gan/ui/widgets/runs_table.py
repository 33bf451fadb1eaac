"""The workspace's runs list: a row per run, sortable by any column, filtered by typing, with a
selection for comparing and acting on several runs. Rows keep their place (and the cursor its
run) when new figures come in."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tui_gan.ui.widgets.formatting import format_duration
from tui_gan.ui.widgets.spark import bar_rows
from tui_gan.workspace.model import RunRow

LIVE_STATES = ("running", "paused", "starting", "stopping")
TREND_CELLS = 8


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[RunRow], str | Text]
    order: Callable[[RunRow], object] | None = None  # sort key; None: not a sort column


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def _missing_last(value: float | None) -> tuple[bool, float]:
    return (value is None or not math.isfinite(value), value if value is not None else 0.0)


def _state(row: RunRow) -> Text:
    styles = {"running": "green", "paused": "yellow", "died": "bold red", "damaged": "red"}
    return Text(row.state, style=styles.get(row.state, "dim" if not row.live else ""))


def _trend(row: RunRow) -> str:
    history = [v for v in row.fd_history if math.isfinite(v)]
    return bar_rows(history, TREND_CELLS, 1)[0] if len(history) > 1 else ""


def _where(row: RunRow) -> str:
    return " ".join(part for part in (row.host, row.device) if part) or "-"


COLUMNS: list[Column] = [
    Column("mark", " ", lambda r: Text("●", style=r.colour)),
    Column("name", "Run", lambda r: Text(r.name, style=r.colour), lambda r: r.name.lower()),
    Column("state", "State", _state, lambda r: (r.state not in LIVE_STATES, r.state)),
    Column("fd", "FD", lambda r: _num(r.fd, ".1f"), lambda r: _missing_last(r.fd)),
    Column("trend", "trend", _trend),
    Column("best", "best", lambda r: _num(r.best_fd, ".1f"), lambda r: _missing_last(r.best_fd)),
    Column("step", "Step", lambda r: f"{r.step:,}", lambda r: -r.step),
    Column("epoch", "Ep", lambda r: f"{r.epoch}/{r.epochs}" if r.epochs else str(r.epoch)),
    Column("rate", "img/s", lambda r: _num(r.images_per_s, ",.0f"), lambda r: -(r.images_per_s or 0)),
    Column("arch", "Arch", lambda r: r.arch, lambda r: r.arch),
    Column("recipe", "Recipe", lambda r: r.recipe, lambda r: r.recipe),
    Column("d", "D", lambda r: _num(r.d_loss, ".3f"), lambda r: _missing_last(r.d_loss)),
    Column("g", "G", lambda r: _num(r.g_loss, ".3f"), lambda r: _missing_last(r.g_loss)),
    Column(
        "classes", "Cls", lambda r: "-" if r.classes is None else str(r.classes), lambda r: -(r.classes or 0)
    ),
    Column(
        "eta",
        "ETA",
        lambda r: "-" if r.eta_s is None else format_duration(r.eta_s),
        lambda r: _missing_last(r.eta_s),
    ),
    Column("where", "Where", _where, _where),
    Column("viewers", "Eyes", lambda r: "-" if r.viewers is None else str(r.viewers)),
]
SORT_COLUMNS = [c for c in COLUMNS if c.order is not None]
_BY_KEY = {c.key: c for c in COLUMNS}


class RunsTable(DataTable):
    """Call show(rows) with each scan; read highlighted() and targets() for the actions."""

    class SelectionChanged(Message):
        def __init__(self, rows: list[RunRow]) -> None:
            super().__init__()
            self.rows = rows

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_key: dict[str, RunRow] = {}
        self.selected: list[str] = []  # run folders, in the order they were selected
        self.sort_column = "fd"
        self.reverse = False
        self.filter_text = ""
        self._all: list[RunRow] = []
        self._order: list[str] = []  # row keys as shown
        self._drawn: dict[str, list] = {}  # each shown row's cells, to redraw only what changed

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, key=column.key)

    # --- data ------------------------------------------------------------------------------
    def show(self, rows: list[RunRow]) -> None:
        self._all = rows
        self._redraw()
        known = {str(r.run_dir) for r in rows}
        if any(key not in known for key in self.selected):  # a selected run's folder went away
            self.selected = [key for key in self.selected if key in known]
            self.post_message(self.SelectionChanged(self.selected_rows()))

    def _visible(self) -> list[RunRow]:
        needle = self.filter_text.lower()
        rows = [r for r in self._all if not needle or needle in _haystack(r)]
        order = _BY_KEY[self.sort_column].order
        return sorted(rows, key=order, reverse=self.reverse)

    def _redraw(self) -> None:
        rows = self._visible()
        keys = [str(r.run_dir) for r in rows]
        self.rows_by_key = {str(r.run_dir): r for r in self._all}
        if keys != self._order:  # new runs, gone runs, another order: rebuild, the cursor kept on its run
            current = self.highlighted()
            self.clear()
            self._drawn = {}
            for row in rows:
                self._drawn[str(row.run_dir)] = cells = self._cells(row)
                self.add_row(*cells, key=str(row.run_dir))
            self._order = keys
            if current is not None and str(current.run_dir) in keys:
                self.move_cursor(row=keys.index(str(current.run_dir)), animate=False)
            return
        for row in rows:  # the same rows in the same order: only changed cells are redrawn
            key = str(row.run_dir)
            old = self._drawn.get(key, [])
            for i, (column, value) in enumerate(zip(COLUMNS, cells := self._cells(row))):
                if i >= len(old) or old[i] != value:
                    self.update_cell(key, column.key, value, update_width=True)
            self._drawn[key] = cells

    def _cells(self, row: RunRow) -> list[str | Text]:
        cells = [column.cell(row) for column in COLUMNS]
        cells[0] = Text("●" if str(row.run_dir) in self.selected else "○", style=row.colour)
        return cells

    # --- what the keys act on --------------------------------------------------------------
    def highlighted(self) -> RunRow | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self.rows_by_key.get(self._order[self.cursor_row])

    def selected_rows(self) -> list[RunRow]:
        return [self.rows_by_key[key] for key in self.selected if key in self.rows_by_key]

    def targets(self) -> list[RunRow]:
        """The selected runs, or the highlighted one."""
        chosen = self.selected_rows()
        if chosen:
            return chosen
        row = self.highlighted()
        return [row] if row else []

    def toggle_selected(self) -> None:
        row = self.highlighted()
        if row is None:
            return
        key = str(row.run_dir)
        if key in self.selected:
            self.selected.remove(key)
        else:
            self.selected.append(key)
        mark = self._cells(row)[0]
        self.update_cell(key, "mark", mark, update_width=True)
        if key in self._drawn:
            self._drawn[key][0] = mark
        self.post_message(self.SelectionChanged(self.selected_rows()))

    def sort_by(self, step: int) -> str:
        """The next (step 1) or previous (-1) sort column; returns its label."""
        keys = [c.key for c in SORT_COLUMNS]
        self.sort_column = keys[(keys.index(self.sort_column) + step) % len(keys)]
        self.reverse = False
        self._redraw()
        return _BY_KEY[self.sort_column].label

    def flip(self) -> None:
        self.reverse = not self.reverse
        self._redraw()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._redraw()

    @property
    def shown(self) -> int:
        return len(self._order)

    def describe_sort(self) -> str:
        return f"{_BY_KEY[self.sort_column].label} {'↓' if self.reverse else '↑'}"


def _haystack(row: RunRow) -> str:
    return " ".join(
        (row.name, row.arch, row.recipe, row.state, row.sweep or "", str(Path(row.run_dir).name))
    ).lower()
