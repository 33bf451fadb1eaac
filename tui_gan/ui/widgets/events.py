"""A short, bounded log of what happened: checkpoints, switches, warnings, errors."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

LEVEL_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}
MAX_LINES = 200


class EventLog(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=20, **kwargs
        )
        self.entries: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)  # (level, text), for tests and help
        self._lines: deque[Text] = deque(maxlen=MAX_LINES)  # as written, to wrap again at a new width
        self._width = 0

    def on_mount(self) -> None:
        self.border_title = "events"

    def add(self, message: str, level: str = "info", where: str = "") -> None:
        self.entries.append((level, message))
        line = Text()
        if where and not message.startswith((f"{where} ", f"{where}:")):  # not "mlp mlp: ..."
            line.append(f"{where} ", style="dim")
        line.append(message, style=LEVEL_STYLES.get(level, ""))
        self._lines.append(line)
        self.write(line)

    def on_resize(self, event: Resize) -> None:
        """RichLog wraps a line once, at the width the log has then: lines written while the
        layout settles, or before a terminal or tmux pane was resized, would keep that width.
        Wrap them all again at the new one. (RichLog's own handler runs after this one.)"""
        width, self._width = self._width, event.size.width
        if self._size_known and width and event.size.width != width:
            self.clear()
            for line in self._lines:
                self.write(line)
