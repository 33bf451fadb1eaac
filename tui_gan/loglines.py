"""Log lines of a headless or background job, in one place: what a line holds (a Record), how it
is written (a format: `text` or `json`, chosen once per job) and where it goes (a sink: a plain
stream, or a Rich console that keeps a progress bar below the lines).

A file or pipe gets one event a line, never wrapped or padded, so `grep`, `tail -f` and log
shippers read it as written; json lines carry the event's plain-valued fields. Torch-free."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

_STYLES = {"warning": "yellow", "error": "red"}  # a terminal's colour per level


@dataclass(frozen=True)
class Record:
    """One log line's content: `kind` names the event type ("Stats", "Notice", ...) or "log"."""

    text: str  # what a person reads
    kind: str = "log"
    arch: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    level: str = "info"
    when: float = field(default_factory=time.time)


def text_line(record: Record) -> str:
    """`2026-12-06 08:15:02 step 1200 ...`: local time to the second, then the text on one line."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.when))
    return f"{stamp} {' | '.join(record.text.splitlines())}".rstrip()


def json_line(record: Record) -> str:
    """One JSON object: time (ISO 8601 with the UTC offset), event, arch, the event's plain
    fields, and the text line."""
    when = datetime.datetime.fromtimestamp(record.when).astimezone()
    out: dict[str, Any] = {"time": when.isoformat(timespec="milliseconds"), "event": record.kind}
    if record.arch is not None:
        out["arch"] = record.arch
    out.update(record.fields)
    out["level"] = record.level
    out["text"] = record.text
    return json.dumps(out, allow_nan=False)  # strict JSON: plain_fields already made NaN null


FORMATS: dict[str, Callable[[Record], str]] = {"text": text_line, "json": json_line}


def plain_fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields that JSON holds as they are: numbers, strings, booleans, None, lists
    of those, and dataclasses of those (a QualityReport). Non-finite numbers become null;
    images, arrays and lists of records (a Stats' loss points) are left out."""
    out = {}
    for f in dataclasses.fields(obj):
        value = _plain(getattr(obj, f.name))
        if value is not _SKIP:
            out[f.name] = value
    return out


_SKIP = object()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        ok = all(v is not _SKIP and not isinstance(v, dict) for v in items)
        return items if ok else _SKIP
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_fields(value)
    return _SKIP


class StreamSink:
    """Whole lines to a file or pipe, flushed at once (`tail -f` sees each as it happens)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # the logging module writes from other threads too

    def write(self, line: str, level: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class ConsoleSink:
    """Lines above a Rich progress bar on a terminal, warnings and errors in colour."""

    def __init__(self, console) -> None:
        self.console = console

    def write(self, line: str, level: str) -> None:
        from rich.text import Text

        # Text, not markup: a message's own brackets stay as they are; soft_wrap: no newlines added
        self.console.print(Text(line, style=_STYLES.get(level, "")), soft_wrap=True)


class LogWriter:
    """The format chosen once, and the sink its lines go to."""

    def __init__(self, fmt: str, sink: StreamSink | ConsoleSink) -> None:
        self.format = FORMATS[fmt]
        self.sink = sink

    def write(self, record: Record) -> None:
        self.sink.write(self.format(record), record.level)


class RecordFormatter(logging.Formatter):
    """The logging module's records (viewers, dropped connections) in a job's log format."""

    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        self.line = FORMATS[fmt]

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        text = f"{record.name.rsplit('.', 1)[-1]} {level}: {record.getMessage()}"
        return self.line(Record(text, level=level, when=record.created))
