"""The workspace opened on a sweep folder: the sweep's leaderboard above its runs, each config
ranked by its best Frechet distance as mean and spread over its seeds (sweeps/results.py)."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from tui_gan.sweeps.results import HEAD


class Leaderboard(Static):
    def show(self, lines: list[tuple[str, ...]] | None) -> None:
        """The leaderboard's rows (results.board_lines), or None: not a sweep, nothing to show."""
        self.display = lines is not None
        if not lines:
            return
        table = Table(box=None, padding=(0, 1), header_style="bold", expand=False)
        for name in HEAD:
            table.add_column(
                name, no_wrap=True, justify="right" if name in ("rank", "classes", "img/s") else "left"
            )
        for line in lines:
            table.add_row(*line)
        self.update(table)
