"""Text helpers the panels share: durations, eighth-block bars, lines that drop parts to fit."""

from __future__ import annotations

from textual.content import Content


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_age(seconds: float) -> str:
    """How long ago, shortly: now, 45s ago, 4m ago, 2h05m ago (rounded down)."""
    seconds = max(0, int(seconds))
    if seconds < 1:
        return "now"
    if seconds < 3600:
        return f"{seconds}s ago" if seconds < 60 else f"{seconds // 60}m ago"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m ago"


def progress_bar(fraction: float, width: int) -> str:
    """A bar in eighth blocks: finer than the cell grid, plain characters for any terminal."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return bar.ljust(width)


def fit_line(width: int, first: Content, *parts: Content | str) -> Content:
    """One line: `first`, then as many of `parts` (most important first) as fit in `width` cells."""
    line = first
    for part in parts:
        longer = Content.assemble(line, " · ", part)
        if longer.cell_length > width:
            break
        line = longer
    return line
