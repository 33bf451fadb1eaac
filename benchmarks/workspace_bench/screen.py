"""A terminal screen just good enough to read what Textual drew on a pseudo-terminal: absolute
cursor moves, carriage returns and text, colours ignored. Counting bytes says that something was
drawn; only the cells say *which rows* are on screen, which is what a full frame is."""

from __future__ import annotations

import re

from rich.cells import get_character_cell_size

TOKEN = re.compile(
    rb"\x1b\[([0-?]*)[ -/]*([@-~])"  # CSI: cursor moves (kept), colours and modes (ignored)
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    rb"|\x1b[@-Z\\-_]"  # other escapes (not "[" or "]": those start the two above)
    rb"|([\r\n])"
    rb"|([^\x1b\r\n]+)"
)
MARK = re.compile(r"^ [○●] ")  # a runs-list row: its selection mark in the first cell


class Screen:
    """feed() the child's output as it arrives; lines() is what the terminal shows now."""

    def __init__(self, columns: int, lines: int) -> None:
        self.columns, self.height = columns, lines
        self.cells = [[" "] * columns for _ in range(lines)]
        self.y = self.x = 0
        self.pending = b""  # an escape or UTF-8 character cut by the end of a read

    def feed(self, data: bytes) -> None:
        data, pos = self.pending + data, 0
        for m in TOKEN.finditer(data):
            if m.start() != pos:
                break
            params, final, control, text = m.group(1), m.group(2), m.group(3), m.group(4)
            if m.group(0).startswith(b"\x1b") and m.end() == len(data) and final is None:
                break  # "\x1b" or "\x1b]..." at the very end: wait for the rest
            if final is not None:
                self._csi(params.decode("ascii", "replace"), final)
            elif control == b"\r":
                self.x = 0
            elif control == b"\n":
                self.y = min(self.y + 1, self.height - 1)
            elif text is not None:
                try:
                    self._write(text.decode())
                except UnicodeDecodeError as exc:
                    if exc.start < len(text) - 3:
                        raise
                    self._write(text[: exc.start].decode())
                    pos = m.start() + exc.start
                    break
            pos = m.end()
        self.pending = data[pos:]

    def _csi(self, params: str, final: bytes) -> None:
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        if final in (b"H", b"f"):
            self.y = max(0, (numbers[0] if numbers and numbers[0] else 1) - 1)
            self.x = max(0, (numbers[1] if len(numbers) > 1 and numbers[1] else 1) - 1)
        elif final == b"J" and numbers[:1] == [2]:
            self.cells = [[" "] * self.columns for _ in range(self.height)]

    def _write(self, text: str) -> None:
        for ch in text:
            width = get_character_cell_size(ch)
            if 0 <= self.y < self.height and 0 <= self.x < self.columns:
                self.cells[self.y][self.x] = ch
                if width == 2 and self.x + 1 < self.columns:
                    self.cells[self.y][self.x + 1] = ""
            self.x += width

    def lines(self) -> list[str]:
        return ["".join(row) for row in self.cells]


def runs_list_drawn(lines: list[str], runs: int, live: int | None = None) -> bool:
    """Whether the workspace's first full frame is on screen: the status line counts `runs` runs
    (`live` of them live, when given), and every line of the list between its header and the
    compare pane's hint shows a run, down to the last one the list has room for (a list of
    fewer runs: all of them, then blank lines). The rows further down are the list's to scroll to."""
    said = f"{runs} runs ({live} live)" if live is not None else f"{runs} runs ("
    if not lines or said not in lines[0]:
        return False
    header = next((i for i, line in enumerate(lines) if " Run " in line and " State " in line), None)
    if header is None:
        return False
    hint = next((i for i in range(header + 1, len(lines)) if "Select runs (space)" in lines[i]), None)
    if hint is None:
        return False
    region = lines[header + 1 : hint]
    if region and region[-1].strip() and not any(ch.isalnum() for ch in region[-1]):
        region.pop()  # the list's horizontal scrollbar
    expected = min(runs, len(region))  # the rows the list has room for
    return expected > 0 and all(MARK.match(line) for line in region[:expected])


def count_rows(lines: list[str]) -> int:
    return sum(bool(MARK.match(line)) for line in lines)
