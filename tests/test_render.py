import math
import os

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from rich.text import Text

from tui_gan.render import HALF_BLOCK, fit_grid, grid_image, grid_to_segments, save_grid_png, to_uint8

CONSOLE = Console(color_system="truecolor", width=500, force_terminal=True)


def grid_to_text(images, columns, **kwargs) -> Text:
    """grid_to_segments' lines as one Text: a span per styled segment (one per run of equal cells)."""
    text = Text(no_wrap=True)
    for i, line in enumerate(grid_to_segments(images, columns, **kwargs)):
        if i:
            text.append("\n")
        for segment in line:
            text.append(segment.text, segment.style)
    return text


def digit_to_text(img, **kwargs) -> Text:
    return grid_to_text(np.asarray(img)[None], 1, **kwargs)


def grey_of(color):
    r, g, b = color.get_truecolor()
    assert r == g == b
    return r


def cell_style(text, line, col):
    offset = sum(len(row) + 1 for row in text.plain.split("\n")[:line]) + col
    return text.get_style_at_offset(CONSOLE, offset)


def lines_of(text):
    return text.split("\n", allow_blank=True)


def test_digit_cell_uses_top_pixel_as_foreground_and_bottom_as_background():
    img = np.zeros((28, 28), np.uint8)
    img[0, 0], img[1, 0] = 200, 50
    img[26, 27], img[27, 27] = 7, 255
    text = digit_to_text(img)

    lines = lines_of(text)
    assert len(lines) == 14
    assert all(line.cell_len == 28 for line in lines)
    assert set(text.plain) == {HALF_BLOCK, "\n"}

    first = cell_style(text, 0, 0)
    assert (grey_of(first.color), grey_of(first.bgcolor)) == (200, 50)
    last = cell_style(text, 13, 27)
    assert (grey_of(last.color), grey_of(last.bgcolor)) == (7, 255)
    black = cell_style(text, 5, 5)
    assert (grey_of(black.color), grey_of(black.bgcolor)) == (0, 0)


def test_identical_neighbouring_cells_share_one_span():
    img = np.zeros((28, 28), np.uint8)
    img[0:2, 0] = 200
    text = digit_to_text(img)
    first_line_spans = [s for s in text.spans if s.start < 28]
    # cell 0 alone, then cells 1..27 (all black) merged into a single span
    assert [(s.start, s.end) for s in first_line_spans] == [(0, 1), (1, 28)]
    assert len(text.spans) == 2 + 13  # every other line is one all-black run


def test_odd_height_pads_bottom_with_black():
    img = np.full((27, 28), 90, np.uint8)
    text = digit_to_text(img)
    assert len(lines_of(text)) == 14
    style = cell_style(text, 13, 3)
    assert (grey_of(style.color), grey_of(style.bgcolor)) == (90, 0)


@pytest.mark.parametrize(
    "n, columns, gap", [(1, 1, 1), (5, 2, 1), (6, 3, 2), (64, 8, 1), (3, 5, 1), (4, 4, 0)]
)
def test_grid_dimensions(n, columns, gap):
    images = np.full((n, 28, 28), 255, np.uint8)
    text = grid_to_text(images, columns, gap=gap)
    rows = math.ceil(n / columns)
    lines = lines_of(text)
    assert len(lines) == rows * 14 + rows - 1
    for r in range(rows):
        k = min(columns, n - r * columns)
        digit_lines = lines[r * 15 : r * 15 + 14]
        assert [row.cell_len for row in digit_lines] == [k * 28 + (k - 1) * gap] * 14
        if r < rows - 1:
            assert lines[r * 15 + 14].cell_len == 0
    assert text.plain.count(HALF_BLOCK) == n * 28 * 14


def test_gap_cells_are_blank_and_unstyled():
    images = np.full((2, 28, 28), 255, np.uint8)
    text = grid_to_text(images, 2, gap=3)
    assert text.plain.split("\n")[0][28:31] == "   "
    for offset in range(28, 31):
        assert not any(s.start <= offset < s.end for s in text.spans)


def test_levels_quantise_greys_and_merge_runs():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 3, (4, 28, 28), dtype=np.uint8)  # near-black generator noise
    exact = grid_to_text(images, 2)
    coarse = grid_to_text(images, 2, levels=64)
    assert len(exact.spans) > 10 * len(coarse.spans)
    two = grid_to_text(np.array([[[0], [100]], [[200], [255]]], np.uint8), 2, levels=2)
    greys = {grey_of(c) for s in two.spans for c in (s.style.color, s.style.bgcolor)}
    assert greys == {0, 255}


def test_monochrome_uses_ramp_without_colour():
    img = np.zeros((28, 28), np.uint8)
    img[4:8, 10:14] = 255  # bright block
    img[10:12, 0:2] = 128  # mid grey
    text = digit_to_text(img, color=False)
    assert text.spans == [] and not text.style
    rows = text.plain.split("\n")
    assert len(rows) == 14 and all(len(r) == 28 for r in rows)
    assert rows[2][10:14] == "@@@@" and rows[3][10:14] == "@@@@"
    assert rows[5][0:2] == "++"  # mean 128 -> index 5 of " .:-=+*#%@"
    assert set(rows[0]) == {" "}
    # one bright pixel over black averages to the middle of the ramp, not to '@' or ' '
    half = np.zeros((2, 1), np.uint8)
    half[0, 0] = 255
    assert digit_to_text(half, color=False).plain == "="


def test_monochrome_grid_layout_matches_colour_layout():
    images = np.full((5, 28, 28), 255, np.uint8)
    mono, colour = grid_to_text(images, 2, color=False), grid_to_text(images, 2)
    assert [row.cell_len for row in lines_of(mono)] == [row.cell_len for row in lines_of(colour)]
    assert mono.plain.replace("@", HALF_BLOCK) == colour.plain


def test_empty_grid_and_bad_input():
    assert grid_to_text(np.zeros((0, 28, 28), np.uint8), 4).plain == ""
    assert grid_to_segments(np.zeros((0, 28, 28), np.uint8), 4) == []
    with pytest.raises(TypeError):
        grid_to_text(np.zeros((1, 28, 28), np.float32), 1)
    with pytest.raises(ValueError):
        grid_to_text(np.zeros((1, 28, 28), np.uint8), 0)


def test_grid_text_accepts_channel_dimension():
    images = np.full((3, 1, 28, 28), 255, np.uint8)
    assert grid_to_text(images, 3).plain == grid_to_text(images[:, 0], 3).plain


@pytest.mark.parametrize(
    "width, height, n, gap, expected",
    [
        (27, 100, 10, 1, (0, 0)),  # too narrow for one digit
        (100, 13, 10, 1, (0, 0)),  # too short
        (28, 14, 10, 1, (1, 1)),  # exactly one digit
        (86, 29, 100, 1, (3, 2)),  # exact fit: 3*28 + 2 gaps, 2*14 + 1 blank line
        (85, 29, 100, 1, (2, 2)),  # one cell short of a third column
        (86, 28, 100, 1, (3, 1)),  # one line short of a second row
        (84, 14, 100, 0, (3, 1)),  # no gap
        (86, 29, 3, 1, (3, 1)),  # capped at n
        (86, 29, 4, 1, (2, 2)),  # 2x2 shows 4, a 3-wide row only 3
        (86, 29, 0, 1, (0, 0)),
        (-5, -5, 10, 1, (0, 0)),
    ],
)
def test_fit_grid(width, height, n, gap, expected):
    assert fit_grid(width, height, n, gap) == expected


def test_fit_grid_shows_as_many_digits_as_fit():
    for width in range(0, 200, 7):
        for height in range(0, 80, 5):
            for n in (1, 5, 7, 12, 64):
                cols, rows = fit_grid(width, height, n)
                max_c = max(0, (width + 1) // 29)
                max_r = max(0, (height + 1) // 15)
                best = max(
                    (c * r for c in range(max_c + 1) for r in range(max_r + 1) if c * r <= n),
                    default=0,
                )
                assert cols <= max_c and rows <= max_r and cols * rows <= n
                assert cols * rows == best


def test_grid_image_size_and_placement():
    images = np.stack([np.full((28, 28), 10 + 40 * i, np.uint8) for i in range(5)])
    img = grid_image(images)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert img.mode == "L"
    assert img.size == (3 * 30 + 2, 2 * 30 + 2)
    a = np.asarray(img)
    for i in range(5):
        r, c = divmod(i, 3)
        y, x = 2 + 30 * r, 2 + 30 * c
        assert (a[y : y + 28, x : x + 28] == 10 + 40 * i).all()
    assert a[0, 0] == 0 and a[5, 30] == 0 and a[5, 31] == 0  # padding stays black
    assert (a[32:, 62:] == 0).all()  # missing sixth slot is empty

    big = np.asarray(grid_image(images[:2], columns=1, padding=1, scale=3))
    assert big.shape == (3 * (2 * 29 + 1), 3 * 30)
    assert (big[3:87, 3:87] == 10).all() and (big[:3] == 0).all()


def test_grid_image_rejects_empty():
    with pytest.raises(ValueError):
        grid_image(np.zeros((0, 28, 28), np.uint8))


def test_save_grid_png_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    path = save_grid_png(images, tmp_path / "a" / "b" / "grid.png", columns=2, scale=2)
    assert path == tmp_path / "a" / "b" / "grid.png"
    with Image.open(path) as saved:
        assert saved.format == "PNG"
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(grid_image(images, columns=2, scale=2)))
    assert os.listdir(path.parent) == ["grid.png"]


def test_save_grid_png_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    save_grid_png(np.zeros((1, 28, 28), np.uint8), path)
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        save_grid_png(np.full((1, 28, 28), 255, np.uint8), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["grid.png"]


def test_to_uint8():
    x = np.array([-1.0, 1.0, 0.0, -5.0, 5.0, np.nan, -0.5], np.float32).reshape(1, 1, 1, 7)
    out = to_uint8(x)
    assert out.dtype == np.uint8 and out.shape == (1, 1, 7)
    assert out.ravel().tolist() == [0, 255, 128, 0, 255, 0, 64]
    assert to_uint8(np.zeros((3, 28, 28))).shape == (3, 28, 28)
    assert to_uint8(np.zeros((3, 1, 28, 28))).shape == (3, 28, 28)
    with pytest.raises(ValueError):
        to_uint8(np.zeros((3, 3, 28, 28)))
