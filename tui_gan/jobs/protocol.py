"""What a training job and its viewers say to each other over the job's Unix socket.

Framing: a 4-byte big-endian length, then one msgpack map. Nothing read from a socket is ever
unpickled: events and commands are rebuilt field by field from plain values, and only the
types named here are accepted. A viewer's frames are tiny (commands); the job drops a viewer
whose frame is larger than MAX_VIEWER_FRAME or does not decode, and goes on training.

Viewer -> job:  {"op": "hello", "v": 1, "role": "viewer" | "status"}
                {"op": "hello", "v": 1, "role": "control", "command": {...}}  (one command, no attach)
                {"op": "command", "command": {"type": "Pause"}}      (see COMMAND_FIELDS)
                {"op": "bye"}                                          (detach)
Job -> viewer:  {"op": "welcome", "v": 1, "replay": {...}}            (viewers: the run so far)
                {"op": "event", "event": {"type": "Stats", ...}}
                {"op": "status", ...}                                  (for `tui-gan ls`)
                {"op": "ok"}                                           (a control command taken)
This module imports no torch: the dashboard's process uses it.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from tui_gan.quality.report import QualityReport
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev

VERSION = 1
HEADER = struct.Struct(">I")
MAX_VIEWER_FRAME = 64 * 1024  # a command is a few dozen bytes
MAX_JOB_FRAME = 256 * 1024 * 1024  # the attach replay holds up to ~120 sample grids per architecture


class ProtocolError(Exception):
    """A frame that is too large, does not decode, or names an unknown type or field."""


# --- events the job sends besides the engine's ------------------------------------------------
@dataclass(frozen=True)
class Viewers(ev.Event):
    """How many viewers are attached now (sent to all of them whenever it changes)."""

    count: int


@dataclass(frozen=True, kw_only=True)
class Replay(ev.Event):
    """The run so far, sent once on attach (bounded: downsampled losses, thinned sample grids).

    histories: arch -> loss points, oldest first; samples: arch -> Samples events, oldest first;
    qualities: arch -> Quality events; log: the recent events worth an event-log line;
    checkpoints: arch -> its last CheckpointSaved but best.pt (routine ones are not in the log)."""

    histories: dict = field(repr=False)
    samples: dict = field(repr=False)
    qualities: dict = field(repr=False)
    log: tuple = field(repr=False)
    checkpoints: dict = field(default_factory=dict, repr=False)
    viewers: int = 1
    read_only: bool = False  # a finished run opened from its folder: commands do nothing


EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ev.Started,
        ev.Stats,
        ev.Samples,
        ev.Quality,
        ev.StateChanged,
        ev.CheckpointSaved,
        ev.ArchSwitched,
        ev.Notice,
        ev.Failed,
        ev.Finished,
        Viewers,
        Replay,
    )
}
# The commands a viewer may send, with the type of each field: anything else is refused here,
# before it could reach the engine thread.
COMMAND_FIELDS: dict[str, tuple[type, dict[str, type]]] = {
    "Pause": (cmd.Pause, {}),
    "Resume": (cmd.Resume, {}),
    "TogglePause": (cmd.TogglePause, {}),
    "SaveCheckpoint": (cmd.SaveCheckpoint, {}),
    "SwitchArch": (cmd.SwitchArch, {"name": str}),
    "EvaluateNow": (cmd.EvaluateNow, {}),
    "RollbackToBest": (cmd.RollbackToBest, {}),
    "ToggleRawSamples": (cmd.ToggleRawSamples, {}),
    "Stop": (cmd.Stop, {"checkpoint": bool}),
}


# --- framing ------------------------------------------------------------------------------------
def pack(message: dict) -> bytes:
    body = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def unpack(body: bytes) -> dict:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several types on garbage
        raise ProtocolError(f"undecodable frame ({type(exc).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a frame that is not a message")
    return message


def frame_length(header: bytes, limit: int) -> int:
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length:,} bytes (limit {limit:,})")
    return length


def read_frame(sock, limit: int = MAX_JOB_FRAME) -> dict:
    """One message from a blocking socket; EOFError when it closes between frames."""
    header = _recv_exactly(sock, HEADER.size, eof_ok=True)
    return unpack(_recv_exactly(sock, frame_length(header, limit)))


def _recv_exactly(sock, n: int, eof_ok: bool = False) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            if eof_ok and got == 0:
                raise EOFError
            raise ProtocolError("the connection closed in the middle of a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# --- commands -------------------------------------------------------------------------------------
def encode_command(command: cmd.Command) -> dict:
    return {"type": type(command).__name__, **dataclasses.asdict(command)}


def decode_command(data: Any) -> cmd.Command:
    if not isinstance(data, dict) or data.get("type") not in COMMAND_FIELDS:
        raise ProtocolError(f"unknown command {data.get('type') if isinstance(data, dict) else data!r}"[:120])
    cls, fields = COMMAND_FIELDS[data["type"]]
    kwargs = {}
    for name, kind in fields.items():
        if name in data:
            if type(data[name]) is not kind or (kind is str and len(data[name]) > 100):
                raise ProtocolError(f"command {data['type']}: bad {name}")
            kwargs[name] = data[name]
    return cls(**kwargs)


# --- events ---------------------------------------------------------------------------------------
def encode_event(event: ev.Event) -> dict:
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        out[f.name] = _encode_value(getattr(event, f.name))
    return out


def _encode_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__nd__": [value.dtype.str, list(value.shape), value.tobytes()]}
    if isinstance(value, ev.StepPoint):
        return list(value.row())
    if isinstance(value, QualityReport):
        return {"__quality__": value.to_dict()}
    if isinstance(value, ev.Event):
        return {"__event__": encode_event(value)}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode_value(v) for k, v in value.items()}
    return value


def decode_event(data: Any) -> ev.Event:
    if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES:
        raise ProtocolError("unknown event")
    cls = EVENT_TYPES[data["type"]]
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode_field(cls, f.name, data[f.name])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"event {data['type']}: {exc}") from None


def _decode_field(cls: type, name: str, value: Any) -> Any:
    if cls is ev.Stats and name == "points":
        return tuple(_point(row) for row in value)
    if cls is Replay and name == "histories":
        return {arch: tuple(_point(row) for row in rows) for arch, rows in value.items()}
    if cls is Replay and name in ("samples", "qualities"):
        return {arch: tuple(_decode_value(e) for e in events) for arch, events in value.items()}
    return _decode_value(value)


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "__nd__" in value:
            dtype, shape, raw = value["__nd__"]
            if np.dtype(dtype).kind not in "uif":
                raise ProtocolError("an array of a type that is not numbers")
            return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
        if "__quality__" in value:
            try:
                return QualityReport.from_dict(dict(value["__quality__"]))
            except TypeError as exc:
                raise ProtocolError(f"quality report: {exc}") from None
        if "__event__" in value:
            return decode_event(value["__event__"])
        return {k: _decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_decode_value(v) for v in value)
    return value


def _point(row: Any) -> ev.StepPoint:
    if len(row) != len(ev.STEP_FIELDS):
        raise ValueError(f"a step point has {len(ev.STEP_FIELDS)} values, not {len(row)}")
    return ev.StepPoint.from_row(row)
