"""Real pixels in the terminal (pixels.py, `tui-gan sample --pixels`): which drawing a terminal
gets, from a real pseudo-terminal whose other end answers the query like kitty, like a sixel
terminal or not at all; what the kitty and sixel escapes hold, decoded back into pixels; and the
real command drawing a checkpoint's digits."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
import torch
from PIL import Image
from terminals import DA1_PLAIN, DA1_SIXEL, KITTY_OK, FakeTerminal

from tui_gan import pixels
from tui_gan.cli import main
from tui_gan.data.synthetic import make_synthetic_digits
from tui_gan.pixels import KITTY_CHUNK, LEVELS, Terminal, choose, encode, fit
from tui_gan.render import grid_image

TTY_ENV = {"TERM": "xterm-256color"}


@pytest.fixture
def fake_terminal():
    made: list[FakeTerminal] = []

    def make(answer, pixels_size=(0, 0)) -> FakeTerminal:
        made.append(FakeTerminal(answer, pixels_size))
        return made[-1]

    yield make
    for terminal in made:
        terminal.close()


# --- choosing the drawing -----------------------------------------------------------------------


def test_a_named_drawing_wins_and_a_pipe_is_never_asked():
    r, w = os.pipe()
    try:
        assert choose("sixel", r, w, TTY_ENV) == Terminal("sixel", pixels.DEFAULT_CELL)
        assert choose("kitty", r, w, {"TMUX": "/tmp/tmux-0/default,1,0"}).mode == "kitty"
        assert choose("halfblock", r, w, TTY_ENV).mode == "halfblock"
        assert choose("auto", r, w, TTY_ENV).mode == "halfblock"
        os.set_blocking(r, False)
        with pytest.raises(BlockingIOError):
            os.read(r, 100)  # not a byte of query went down the pipe
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(ValueError, match="auto, kitty, sixel, halfblock"):
        choose("png")


@pytest.mark.parametrize(
    "env",
    [
        {"TERM": "dumb"},
        {"TERM": "linux"},
        {"TERM": "xterm-256color", "NO_COLOR": "1"},
        {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"},
        {"TERM": "screen", "STY": "123.pts-0"},
        {},
    ],
)
def test_auto_does_not_ask_where_images_cannot_show(fake_terminal, env):
    term = fake_terminal(KITTY_OK + DA1_SIXEL)
    assert choose("auto", term.slave, term.slave, env).mode == "halfblock"
    time.sleep(0.1)
    assert term.seen == b""  # no query: tmux would pass it on only with passthrough


@pytest.mark.parametrize(
    "answer, mode",
    [(KITTY_OK + DA1_PLAIN, "kitty"), (DA1_SIXEL, "sixel"), (DA1_PLAIN, "halfblock")],
)
def test_auto_asks_the_terminal(fake_terminal, answer, mode):
    term = fake_terminal(answer, pixels_size=(800, 480))
    before = termios.tcgetattr(term.slave)
    start = time.monotonic()
    assert choose("auto", term.slave, term.slave, TTY_ENV, timeout=5.0) == Terminal(mode, (10, 20))
    assert time.monotonic() - start < 2.0  # DA1 ends the wait, long before the timeout
    assert term.seen.startswith(b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\") and b"\x1b[c" in term.seen
    assert termios.tcgetattr(term.slave) == before  # echo and line editing are back


def test_a_silent_terminal_gets_half_blocks_within_the_timeout(fake_terminal):
    term = fake_terminal(None)
    start = time.monotonic()
    assert choose("auto", term.slave, term.slave, TTY_ENV, timeout=0.3).mode == "halfblock"
    assert 0.25 < time.monotonic() - start < 1.5
    start = time.monotonic()  # a named protocol on a terminal that tells no cell size: assumed
    assert choose("sixel", term.slave, term.slave, TTY_ENV, timeout=0.3) == Terminal("sixel", (10, 20))
    assert time.monotonic() - start < 1.5


def test_the_cell_size_comes_from_the_window_or_the_answer(fake_terminal):
    term = fake_terminal(b"\x1b[6;13;6t" + DA1_SIXEL)
    assert choose("auto", term.slave, term.slave, TTY_ENV) == Terminal("sixel", (6, 13))
    term = fake_terminal(b"\x1b[6;13;6t" + DA1_SIXEL, pixels_size=(1600, 960))
    assert choose("kitty", term.slave, term.slave, TTY_ENV) == Terminal("kitty", (20, 40))
    time.sleep(0.1)
    assert term.seen == b""  # the window said it: nothing to ask when the protocol is named


def test_a_garbled_answer_is_half_blocks(fake_terminal):
    term = fake_terminal(b"\x1b_Gi=31;EINVAL:bad\x1b\\\x1b[?6xc\x1b[6;0;0t" + DA1_PLAIN)
    assert choose("auto", term.slave, term.slave, TTY_ENV, timeout=0.5) == Terminal("halfblock")


# --- encoding -----------------------------------------------------------------------------------


def quantised(a: np.ndarray) -> np.ndarray:
    step = 255 / (LEVELS - 1)
    return np.rint(np.rint(a / step) * step).astype(np.uint8)


def decode_sixel(data: str) -> tuple[np.ndarray, str]:
    """(the greys, as percentages, of every pixel; the body before its first pixel): a sixel
    reader for what encode writes, where a 0 bit leaves a pixel as it was."""
    head = re.match(r'\x1bP[\d;]*q"1;1;(\d+);(\d+)', data)
    assert head and data.endswith("\x1b\\")
    width, height = int(head.group(1)), int(head.group(2))
    out = np.full((height + 6, width), -1)
    registers: dict[int, int] = {}
    x = y = color = 0
    body = data[head.end() : -2]
    first_pixel = len(body)
    for tok in re.finditer(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?|!(\d+)([?-~])|([?-~])|(\$)|(-)", body):
        register, r, g, b, count, repeated, single, cr, nl = tok.groups()
        if register is not None:
            if r is not None:
                assert r == g == b  # grey
                registers[int(register)] = int(r)
            color = int(register)
        elif cr:
            x = 0
        elif nl:
            x, y = 0, y + 6
        else:
            first_pixel = min(first_pixel, tok.start())
            char = repeated or single
            for _ in range(int(count or 1)):
                bits = ord(char) - 63
                for row in range(6):
                    if bits >> row & 1:
                        out[y + row, x] = registers[color]
                x += 1
    return out[:height], body[:first_pixel]


def small_image() -> Image.Image:
    a = np.zeros((9, 7), np.uint8)
    a[1:8, 2:5] = np.arange(21, dtype=np.uint8).reshape(7, 3) * 12
    a[4, 0] = 255
    return Image.fromarray(a)


def test_sixel_decodes_to_the_image_scaled_crisply():
    img = small_image()
    data = encode(img, "sixel", (21, 27))  # 3x: every pixel a 3x3 square
    greys, before_pixels = decode_sixel(data)
    expected = quantised(np.asarray(img)).repeat(3, axis=0).repeat(3, axis=1).astype(int)
    assert greys.shape == (27, 21)
    assert (greys == np.rint(expected * 100 / 255)).all()
    assert len(np.unique(greys)) <= LEVELS
    # every grey defined before the first pixel: xterm does not select a register by defining it
    assert before_pixels.count(";2;") == len(np.unique(expected))


def test_kitty_chunks_decode_to_the_image_scaled_crisply():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 100), dtype=np.uint8))
    data = encode(img.convert("RGB"), "kitty", (200, 240))  # noise: a PNG of several chunks
    chunks = re.findall(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", data)
    assert "".join(f"\x1b_G{keys};{payload}\x1b\\" for keys, payload in chunks) == data
    assert len(chunks) > 1 and all(len(payload) <= KITTY_CHUNK for _, payload in chunks)
    assert [keys for keys, _ in chunks] == ["a=T,f=100,q=2,m=1"] + ["m=1"] * (len(chunks) - 2) + ["m=0"]
    png = Image.open(io.BytesIO(base64.b64decode("".join(p for _, p in chunks))))
    expected = quantised(np.asarray(img)).repeat(2, axis=0).repeat(2, axis=1)
    assert png.size == (200, 240) and (np.asarray(png.convert("L")) == expected).all()


def test_fit_scales_by_whole_pixels():
    assert fit((30, 20), (100, 100)) == (90, 60)
    assert fit((30, 20), (59, 1000)) == (30, 20)
    assert fit((300, 100), (150, 1000)) == (150, 50)  # too big even at 1x: shrunk to fit
    with pytest.raises(ValueError):
        fit((0, 5), (10, 10))
    with pytest.raises(ValueError, match="no pixel encoding"):
        encode(small_image(), "halfblock")


def test_a_ten_digit_grid_costs_a_few_kb():
    digits, _ = make_synthetic_digits(10, seed=0)
    grid = grid_image(digits.numpy(), columns=10)  # 302 x 32 pixels
    sizes = {
        (mode, scale): len(encode(grid, mode, (grid.width * scale, grid.height * scale)).encode())
        for mode in ("kitty", "sixel")
        for scale in (2, 4)
    }
    print("bytes of one 10-digit grid:", sizes)
    assert sizes["kitty", 2] < 3000 and sizes["kitty", 4] < 3000
    assert sizes["sixel", 2] < 5000 and sizes["sixel", 4] < 8000


# --- tui-gan sample -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained `simple` generator's checkpoint, as training writes one."""
    from tui_gan.models import get_arch
    from tui_gan.training.checkpoint import save_checkpoint

    spec = get_arch("simple")
    G, D = spec.build(100, 0, spec.knobs_of({}))
    payload = {
        "arch": "simple",
        "config": {"arch": "simple", "z_dim": 100},
        "step": 7,
        "epoch": 0,
        "generator": G.state_dict(),
        "discriminator": D.state_dict(),
        "opt_g": {},
        "opt_d": {},
        "fixed_noise": torch.zeros(1, 100),
    }
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "latest.pt", payload)


@pytest.mark.parametrize("mode", ["sixel", "kitty"])
def test_sample_draws_pixels_when_asked(checkpoint, capsys, mode):
    assert main(["sample", str(checkpoint), "-n", "10", "--pixels", mode]) == 0
    out = capsys.readouterr().out
    title, escape = out.split("\n", 1)
    assert title == "simple (step 7)"
    assert escape.startswith("\x1bP" if mode == "sixel" else "\x1b_Ga=T,f=100")
    assert escape.endswith("\x1b\\\n") and "\u2580" not in escape
    if mode == "sixel":  # a pipe's assumed 80x24 cells of 10x20 pixels: 4 digits a row, at 4x
        assert decode_sixel(escape[:-1])[0].shape == (4 * (2 + 3 * 30), 4 * (2 + 4 * 30))


def test_sample_in_a_pipe_is_characters(checkpoint, capsys):
    assert main(["sample", str(checkpoint), "-n", "2"]) == 0
    title, *lines = capsys.readouterr().out.splitlines()
    assert title == "simple (step 7)" and len(lines) == 14 and "\x1b" not in "".join(lines)
    with pytest.raises(SystemExit) as exited:
        main(["sample", str(checkpoint), "--pixels", "sixle"])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "invalid choice 'sixle'" in line and "sixel" in line


@pytest.mark.slow
@pytest.mark.parametrize("answer", [DA1_SIXEL, None])
def test_sample_on_a_terminal_asks_it(checkpoint, fake_terminal, answer):
    """The real command on a pty: sixel where the terminal says it has them, half blocks (soon)
    where it says nothing."""
    term = fake_terminal(answer, pixels_size=(800, 480))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    env.pop("TMUX", None)
    cmd = [sys.executable, "-m", "tui_gan", "sample", str(checkpoint), "-n", "4"]
    proc = subprocess.run(
        cmd, stdin=term.slave, stdout=term.slave, stderr=subprocess.PIPE, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.2)
    drawn = term.seen.split(b"\x1b[c", 1)[1]
    assert (b"\x1bPq" in drawn or b"\x1bP0;0;0q" in drawn) == (answer is not None)
    assert (b"\xe2\x96\x80" in drawn) == (answer is None)  # half blocks
