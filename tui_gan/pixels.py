"""Real pixels where the terminal can show them: the kitty graphics protocol or sixel, else the
half blocks of render.py.

`choose` decides from `--pixels` and what the terminal answers to one short query (a kitty
graphics query, then DA1, which every terminal answers, so a capable one replies at once and a
silent one costs only the timeout); `encode` turns a grid image into the escape sequence that
draws it, scaled by whole pixels so the digits stay crisp. Torch- and textual-free, cheap to
import: the command line's parser takes PIXEL_MODES from here.
"""

from __future__ import annotations

import base64
import io
import os
import re
import select
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

PIXEL_MODES = ("auto", "kitty", "sixel", "halfblock")
QUERY_TIMEOUT = 0.3  # seconds a silent terminal may take before it gets half blocks
DEFAULT_CELL = (10, 20)  # pixels of a cell when the terminal does not say (a VT340's)
LEVELS = 8  # greys sent: as smooth to the eye as 16 on a digit, and a quarter fewer bytes of sixel
KITTY_CHUNK = 4096  # the protocol's limit on base64 bytes per escape

# The kitty query (id 31, a 1x1 RGB image, "query only": nothing is stored or shown), then the
# cell size in pixels (CSI 16 t), then DA1, whose answer ends the wait.
QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\" + "\x1b[16t" + "\x1b[c"
_KITTY_REPLY = re.compile(rb"\x1b_Gi=31;([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_DA1_REPLY = re.compile(rb"\x1b\[\?([\d;]*)c")
_SIXEL_HEAD = re.compile(r'\x1bP[\d;]*q"[\d;]*')  # DCS, then the raster attributes
_SIXEL_COLOR = re.compile(r"#(\d+);2;\d+;\d+;\d+")  # a register defined as RGB percentages


@dataclass(frozen=True)
class Terminal:
    """How to draw on this terminal: `mode` is kitty, sixel or halfblock; `cell` the (width,
    height) of a character cell in pixels, for sizing an image in cells."""

    mode: str
    cell: tuple[int, int] = DEFAULT_CELL


def choose(
    requested: str = "auto",
    fd_in: int | None = None,
    fd_out: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = QUERY_TIMEOUT,
) -> Terminal:
    """The drawing for `--pixels requested` on the terminal at fd_in/fd_out (default stdin and
    stdout). A named protocol wins; auto asks the terminal, but never a pipe, a dumb or NO_COLOR
    terminal, or tmux and screen (which swallow images unless passthrough is on)."""
    if requested not in PIXEL_MODES:
        raise ValueError(f"pixels must be one of {', '.join(PIXEL_MODES)}, got {requested!r}")
    if requested == "halfblock":
        return Terminal("halfblock")
    env = os.environ if env is None else env
    fd_in = 0 if fd_in is None else fd_in
    fd_out = 1 if fd_out is None else fd_out
    tty = _isatty(fd_in) and _isatty(fd_out)
    if requested == "auto" and (not tty or not _may_ask(env)):
        return Terminal("halfblock")
    cell = _window_cell(fd_out)
    reply = ask(fd_in, fd_out, timeout) if tty and (requested == "auto" or cell is None) else b""
    if cell is None:
        cell = _reply_cell(reply) or DEFAULT_CELL
    if requested != "auto":
        return Terminal(requested, cell)
    return Terminal(_reply_mode(reply), cell)


def _may_ask(env: Mapping[str, str]) -> bool:
    term = env.get("TERM", "")
    if term in ("", "dumb", "linux") or "NO_COLOR" in env:  # the Linux console would print the query
        return False
    return not (env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")))


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:  # a closed descriptor
        return False


def ask(fd_in: int, fd_out: int, timeout: float = QUERY_TIMEOUT) -> bytes:
    """What the terminal answers to QUERY within `timeout` seconds (b"" if nothing, or if it
    is no terminal). Input is read unechoed and unbuffered meanwhile, and restored after."""
    import termios
    import tty

    try:
        saved = termios.tcgetattr(fd_in)
    except (termios.error, OSError):
        return b""
    reply = b""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)
        os.write(fd_out, QUERY.encode())
        deadline = time.monotonic() + timeout
        while not _DA1_REPLY.search(reply):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 1024)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    finally:
        try:
            termios.tcsetattr(fd_in, termios.TCSANOW, saved)
        except (termios.error, OSError):
            pass
    return reply


def _reply_mode(reply: bytes) -> str:
    kitty = _KITTY_REPLY.search(reply)
    if kitty and kitty.group(1).startswith(b"OK"):
        return "kitty"
    da1 = _DA1_REPLY.search(reply)
    if da1 and b"4" in da1.group(1).split(b";"):
        return "sixel"
    return "halfblock"


def _reply_cell(reply: bytes) -> tuple[int, int] | None:
    found = _CELL_REPLY.search(reply)
    if not found:
        return None
    height, width = int(found.group(1)), int(found.group(2))
    return (width, height) if width > 0 and height > 0 else None


def _window_cell(fd: int) -> tuple[int, int] | None:
    """The cell size from the window size in pixels the terminal told the kernel, if it did."""
    import fcntl
    import termios

    try:
        rows, cols, width, height = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    except OSError:
        return None
    if not (rows and cols and width and height):
        return None
    return (width // cols, height // rows) if width >= cols and height >= rows else None


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The pixel size `size` is drawn at in a `box` of pixels: the largest whole multiple that
    fits (crisp: every source pixel the same square), or shrunk to fit when not even 1x does."""
    w, h = size
    if w < 1 or h < 1:
        raise ValueError(f"an image of {w}x{h} pixels has nothing to draw")
    scale = min(box[0] // w, box[1] // h)
    if scale >= 1:
        return w * scale, h * scale
    shrink = min(box[0] / w, box[1] / h)
    return max(1, int(w * shrink)), max(1, int(h * shrink))


def encode(image: Image.Image, mode: str, size: tuple[int, int] | None = None, kitty_keys: str = "") -> str:
    """The escape sequence drawing `image` (a grid_image: "L", or RGB made grey) at `size`
    pixels (see `fit`; default its own), nearest-neighbour, in `LEVELS` greys. The cursor ends
    after the image, as after text. kitty_keys: more keys for kitty's first chunk (an image id,
    a placement, C=1 to leave the cursor where it is)."""
    grey = image.convert("L")
    if size is not None and size != grey.size:
        grey = grey.resize(size, Image.Resampling.NEAREST)
    steps = np.rint(np.arange(256) * (LEVELS - 1) / 255) * (255 / (LEVELS - 1))
    grey = grey.point(np.rint(steps).astype(np.uint8).tolist())
    if mode == "kitty":
        return kitty_escape(grey, kitty_keys)
    if mode == "sixel":
        return sixel_escape(grey)
    raise ValueError(f"no pixel encoding {mode!r} (kitty or sixel)")


def kitty_escape(grey: Image.Image, keys: str = "") -> str:
    """A kitty graphics "transmit and show" of the image as PNG, in chunks of at most
    KITTY_CHUNK base64 bytes; q=2: the terminal sends no reply that could land in the shell."""
    first = "a=T,f=100,q=2" + (f",{keys}" if keys else "")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    chunks = [data[i : i + KITTY_CHUNK] for i in range(0, len(data), KITTY_CHUNK)]
    parts = []
    for i, chunk in enumerate(chunks):
        head = f"{first}," if i == 0 else ""
        parts.append(f"\x1b_G{head}m={int(i < len(chunks) - 1)};{chunk}\x1b\\")
    return "".join(parts)


def kitty_delete(image_id: int) -> str:
    """Removes every placement of kitty image `image_id` (and frees its data)."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


def sixel_escape(grey: Image.Image) -> str:
    """The image as sixel, by textual-image's encoder (run-length coded, fill passes), with its
    colour definitions moved to the front: it defines each grey where first drawn, and xterm
    does not select a register by defining it, so those strokes came out in the previous grey.

    Its private module, imported alone: the package's renderables query the terminal on import,
    which a pipe or a running dashboard must not see."""
    from textual_image._sixel import image_to_sixels

    data = image_to_sixels(grey)
    head = _SIXEL_HEAD.match(data)
    if head is None:  # not the layout this was written against: leave it as it is
        return data
    body = data[head.end() :]
    defined = "".join(m.group(0) for m in _SIXEL_COLOR.finditer(body))
    return head.group(0) + defined + _SIXEL_COLOR.sub(r"#\1", body)
