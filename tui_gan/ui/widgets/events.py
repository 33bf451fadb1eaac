"""A short, bounded log of what happened: checkpoints, switches, warnings, errors."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

LEVEL_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}
MAX_LINES = 200


class EventLog(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=20, **kwargs)
        self.entries: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)  # (level, text), for tests and help

    def on_mount(self) -> None:
        self.border_title = "events"

    def add(self, message: str, level: str = "info", where: str = "") -> None:
        self.entries.append((level, message))
        line = Text()
        if where:
            line.append(f"{where} ", style="dim")
        line.append(message, style=LEVEL_STYLES.get(level, ""))
        self.write(line)
