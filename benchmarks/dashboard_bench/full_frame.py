"""When `tui-gan attach` has drawn a full frame, read from its terminal output (escape sequences
stripped): (1) the status line's "step N ... img/s" with N at least the job's step as `tui-gan
ls` reported it just before the attach, (2) the loss panel's "D <loss> <value> ema <value> range"
(the history is in), and (3) the samples panel's title "samples · ARCH · step S" with S at least
the newest prepared grid's step, its "n of m" subtitle and at least FULL_FRAME_BLOCKS half-block
digit cells."""

from __future__ import annotations

import re

from .terminal import ANSI

STATUS_STEP = re.compile(r"step ([\d,]+) +[\d,]+ img/s")
LOSS_LINE = re.compile(r"\bD [\w()-]+ +-?[\d.]+ +ema +-?[\d.]+ +range")  # "D loss", "D hinge", ...
SAMPLES_SUBTITLE = re.compile(r"\d+ of \d+(?: · half size)? ─")
HALF_BLOCK = "\u2580"
FULL_FRAME_BLOCKS = 500


def reaches(pattern: re.Pattern, text: str, least: int) -> bool:
    """Whether `pattern` shows a step ("12,345") of at least `least` in `text`."""
    return any(int(m.replace(",", "")) >= least for m in pattern.findall(text))


class FullFrame:
    """Watches a dashboard's terminal output for the parts of its first full frame."""

    PARTS = ("status", "losses", "samples")

    def __init__(self, arch: str, min_step: int, min_grid: int) -> None:
        self.arch, self.min_step, self.min_grid = arch, min_step, min_grid
        self.title = re.compile(rf"samples · {re.escape(arch)} ·(?: EMA ·| raw ·)? step ([\d,]+)")
        self.at: dict[str, float] = {}
        self.scanned = 0
        self.blocks = 0
        self.subtitle = False
        self.grid_title = False

    def feed(self, output: bytearray, t: float) -> bool:
        """Scan what arrived since the last call (from a little before: a chunk may split a
        line); True once every part has been seen."""
        start = max(0, self.scanned - 4096)
        text = ANSI.sub(b"", bytes(output[start:])).decode("utf-8", "replace")
        fresh = ANSI.sub(b"", bytes(output[self.scanned :])).decode("utf-8", "replace")
        self.scanned = len(output)
        if "status" not in self.at and reaches(STATUS_STEP, text, self.min_step):
            self.at["status"] = t
        if "losses" not in self.at and LOSS_LINE.search(text):
            self.at["losses"] = t
        self.blocks += fresh.count(HALF_BLOCK)
        self.grid_title = self.grid_title or reaches(self.title, text, self.min_grid)
        self.subtitle = self.subtitle or bool(SAMPLES_SUBTITLE.search(text))
        if (
            "samples" not in self.at
            and self.grid_title
            and self.subtitle
            and self.blocks >= FULL_FRAME_BLOCKS
        ):
            self.at["samples"] = t
        return len(self.at) == len(self.PARTS)

    def missing(self) -> str:
        return ", ".join(p for p in self.PARTS if p not in self.at) or "nothing"
