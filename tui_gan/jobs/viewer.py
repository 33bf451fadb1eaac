"""One viewer attached to a job: its queue and writer, reading its frames, and who may attach.

A slow viewer never slows training: each has its own queue (oldest events dropped past
VIEWER_QUEUE, only the newest sample grid per architecture kept), and only its writer waits
for its socket."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections import deque

from tui_gan.jobs import protocol as proto
from tui_gan.training import events as ev

VIEWER_QUEUE = 1000  # events waiting for one viewer before the oldest are dropped
HELLO_TIMEOUT_S = 10.0


class Viewer:
    """One attached viewer's queue and writer."""

    def __init__(self, writer: asyncio.StreamWriter, number: int) -> None:
        self.writer = writer
        self.number = number
        self.queue: deque[bytes] = deque(maxlen=VIEWER_QUEUE)
        self.samples: dict[str, bytes] = {}  # the newest grid per architecture
        self.wake = asyncio.Event()

    def push(self, event: ev.Event, frame: bytes) -> None:
        if isinstance(event, ev.Samples):
            self.samples[event.arch] = frame
        else:
            self.queue.append(frame)
        self.wake.set()

    async def pump(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.queue or self.samples:
                    frame = self.queue.popleft() if self.queue else self.samples.pop(next(iter(self.samples)))
                    self.writer.write(frame)
                    await self.writer.drain()  # only this viewer waits for its socket
        except (ConnectionError, OSError):
            self.queue.clear()  # gone: the reading side notices and says goodbye
            self.samples.clear()


async def read_frame(reader: asyncio.StreamReader) -> dict:
    try:
        header = await reader.readexactly(proto.HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EOFError from None
        raise
    return proto.unpack(await reader.readexactly(proto.frame_length(header, proto.MAX_VIEWER_FRAME)))


def same_user(sock: socket.socket | None) -> bool:
    """The peer runs as this user (Linux SO_PEERCRED; elsewhere the owner-only socket file decides)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True
    _pid, uid, _gid = struct.unpack(
        "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return uid == os.getuid()
