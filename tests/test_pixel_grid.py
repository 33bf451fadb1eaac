"""The dashboard's sample grid as a sixel image (--pixels): the layout, the panel in a Pilot app,
and the real dashboard on a pty whose far end answers like a sixel terminal."""

from __future__ import annotations

import time

import numpy as np
import pytest
from factories import write_finished_run
from terminals import DA1_PLAIN, DA1_SIXEL, KITTY_OK, FakeTerminal
from textual.app import App
from textual.geometry import Region

from tui_gan.history import Snapshot
from tui_gan.pixels import Terminal, kitty_delete
from tui_gan.ui.widgets.pixel_grid import FEW, pixel_canvas, pixel_layout
from tui_gan.ui.widgets.samples import SamplesPanel, Shown

CELL = (10, 20)


def test_the_largest_scale_that_shows_every_digit_else_enough_of_them():
    assert pixel_layout(64, 28, (1000, 1000)) == (4, 8, 64)  # 30 px a padded digit, 120 at 4x
    assert pixel_layout(64, 28, (700, 400)) == (2, 11, 64)  # 3x shows 28: 2x shows them all
    assert pixel_layout(64, 28, (400, 400)) == (2, 6, 36)  # all only at 1x: FEW or more at 2x
    assert FEW == 32
    assert pixel_layout(64, 28, (250, 250)) == (1, 8, 64)  # not FEW at 2x: as many as 1x shows
    assert pixel_layout(64, 28, (20, 20)) == (0, 0, 0)
    assert pixel_layout(3, 28, (1000, 200)) == (4, 3, 3)


def test_the_canvas_is_the_box_with_the_grid_at_its_top_left():
    images = np.full((4, 28, 28), 255, np.uint8)
    canvas, shown, scale = pixel_canvas(images, (300, 200))
    assert canvas.size == (300, 200) and (shown, scale) == (4, 3)
    pixels = np.asarray(canvas)
    assert pixels[3 * 2, 3 * 2] == 255 and pixels[0, 0] == 0 and pixels[-1, -1] == 0  # padded digits


class PanelApp(App):
    def __init__(self, pixels: Terminal) -> None:
        super().__init__()
        self.pixels = pixels

    def compose(self):
        yield SamplesPanel()


def snapshot(per_class: int = 0, interpolation: bool = False) -> Snapshot:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20 if per_class else 64, 28, 28), dtype=np.uint8)
    interp = rng.integers(0, 256, (16, 28, 28), dtype=np.uint8) if interpolation else None
    return Snapshot(step=7, images=images, interpolation=interp, per_class=per_class)


async def show(pilot, shown: Shown) -> SamplesPanel:
    """The PanelApp's panel, once it has drawn `shown`."""
    panel = pilot.app.query_one(SamplesPanel)
    panel.shown = shown
    await pilot.pause()
    return panel


def last_line(grid) -> str:
    """What the image widget's last line writes when the whole widget is rendered."""
    return "".join(segment.text for segment in grid.render_lines(Region(0, 0, *grid.size))[-1])


async def test_the_panel_draws_the_grid_as_sixel_where_the_terminal_has_it():
    app = PanelApp(Terminal("sixel", CELL))
    async with app.run_test(size=(80, 40)) as pilot:
        panel = await show(pilot, Shown(snapshot(), "mlp"))
        grid = panel.pixel_grid
        width, height = panel.content_size
        assert grid.display and grid.image.size == (width * CELL[0], height * CELL[1])
        assert panel.border_subtitle == "64 of 64 · pixels ×3"  # 780x760 pixels: 8x8 digits at 3x
        text = last_line(grid)
        assert text.count("\x1bP") == 1 and '"1;1;' in text and text.count("\x1b\\") == 1  # one sixel
        assert f"\x1b[{grid.region.y + 1};{grid.region.x + 1}H" in text  # drawn from its top-left corner
        assert last_line(grid) == text  # a repaint sends the same

        await show(pilot, Shown(snapshot(interpolation=True), "mlp", interpolation=True))
        assert grid.display and grid.size.height < height  # the interpolation row stays text, below
        await show(pilot, Shown(snapshot(per_class=2), "mlp"))
        assert not grid.display and "digits 0-9" in panel.border_subtitle  # labelled rows: half blocks


async def test_kitty_places_one_image_under_the_text_and_replaces_it():
    app = PanelApp(Terminal("kitty", CELL))
    async with app.run_test(size=(80, 40)) as pilot:
        grid = (await show(pilot, Shown(snapshot(), "mlp"))).pixel_grid
        text = last_line(grid)
        keys = f"a=T,f=100,q=2,i={grid.image_id},p=1,C=1,z=-1,"  # one placement, replaced each time
        assert text.count("\x1b_G" + keys) == 1 and text.startswith(" " * grid.size.width)
        assert kitty_delete(grid.image_id) == f"\x1b_Ga=d,d=I,i={grid.image_id},q=2\x1b\\"


async def test_half_blocks_where_the_terminal_has_no_pixels():
    app = PanelApp(Terminal("halfblock"))
    async with app.run_test(size=(80, 40)) as pilot:
        panel = await show(pilot, Shown(snapshot(), "mlp"))
        assert panel.pixel_grid is None and "pixels" not in panel.border_subtitle


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "answer, image", [(DA1_SIXEL, b"\x1bP"), (KITTY_OK + DA1_PLAIN, b"\x1b_Ga=T,f=100,q=2,i=")]
)
def test_the_dashboard_on_a_graphics_terminal_draws_its_samples_as_an_image(tmp_path, answer, image):
    """The real dashboard on a pty whose far end answers like xterm -ti vt340 (sixel) or kitty;
    kitty's image is taken off while the help screen is shown."""
    run = write_finished_run(tmp_path / "runs" / "done", "mlp", seed=0, fd_start=300, fd_end=80, steps=400)
    term = FakeTerminal(answer, pixels_size=(800, 480))
    with term.running(["attach", str(run), "--notify", "off"], tmp_path / "rt") as child:
        term.wait_for(image)
        term.wait_for(b"pixels \xc3\x97")  # the subtitle: "40 of 64 · pixels ×2"
        assert image in term.seen.split(b"\x1b[c", 1)[1]  # drawn after the query was answered
        if answer.startswith(KITTY_OK):
            term.type(b"?")
            term.wait_for(b"\x1b_Ga=d,d=I,i=")  # the help shows: the image goes
            term.type(b"\x1b")  # escape closes the help
            time.sleep(0.5)  # (at once, escape and q would read as alt+q)
        term.quit(child)  # a finished run's replay: q leaves
