"""The samples panel's digits as a real image, on terminals where pixels.py found sixel or kitty.

Textual composes text, so the image goes in beside it, as textual-image's sixel widget does: the
last line this widget renders carries a cursor move to its top-left corner, the image of the part
rendered, and a move back to where Textual expects the cursor. Textual renders the widget again
only when it changes (a new grid) or a repaint covers it (a dialog closed over it), so the image
is sent then and only then; the escape of the last crop is kept for that.

Sixel pixels are part of the screen (text written over them replaces them); a kitty image is a
layer of its own that text does not touch. So it is placed under the text (z=-1), replaced in
place (one image id, one placement) and removed while another screen is shown (hide())."""

from __future__ import annotations

from PIL import Image
from rich.segment import ControlType, Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui_gan.pixels import encode, kitty_delete
from tui_gan.render import grid_image

PAD = 2  # black pixels around each digit (grid_image's padding)
SCALES = (4, 3, 2)  # whole-pixel enlargements tried, largest first: crisp digits
FEW = 32  # fewer digits than this at a scale: a smaller scale shows more (diversity matters in a GAN)


def pixel_layout(n: int, side: int, box: tuple[int, int]) -> tuple[int, int, int]:
    """(scale, columns, digits shown) for n digits of `side` pixels in a box of pixels: the
    largest scale that shows them all, else the largest that shows FEW of them, else 1x with as
    many as fit. (0, 0, 0): not one fits."""

    def fitting(scale: int) -> tuple[int, int]:
        cols = (box[0] - PAD * scale) // ((side + PAD) * scale)
        rows = (box[1] - PAD * scale) // ((side + PAD) * scale)
        return max(cols, 0), max(cols, 0) * max(rows, 0)

    for enough in (n, min(n, FEW)):
        for scale in SCALES:
            cols, room = fitting(scale)
            if room >= enough:
                return scale, min(cols, n), min(n, room)
    cols, room = fitting(1)
    return (1, min(cols, n), min(n, room)) if room else (0, 0, 0)


def pixel_canvas(images, box: tuple[int, int]) -> tuple[Image.Image | None, int, int]:
    """(the image of as many of `images` (n, H, W uint8) as pixel_layout fits in the box, at the
    top left of a black canvas the box's size; digits shown; scale). None when none fits."""
    scale, cols, shown = pixel_layout(len(images), images.shape[-1], box)
    if not shown:
        return None, 0, 0
    grid = grid_image(images[:shown], columns=cols, padding=PAD, scale=scale)
    canvas = Image.new("L", box)
    canvas.paste(grid, (0, 0))
    return canvas, shown, scale


class PixelGrid(Widget):
    """An image filling this widget (placed over the samples panel's text)."""

    DEFAULT_CSS = """
    PixelGrid { width: 100%; height: 100%; }
    """

    def __init__(self, mode: str, cell: tuple[int, int]) -> None:
        super().__init__()
        self.mode = mode  # sixel or kitty
        self.cell = cell  # (width, height) of a character cell in pixels
        self.image: Image.Image | None = None
        self._sent: tuple[Region, str] | None = None  # the last crop and its escape
        self.image_id = 7000 + id(self) % 100_000  # kitty's name for this widget's image

    def show(self, image: Image.Image | None) -> None:
        self.image, self._sent = image, None
        if image is None:
            self.hide()
        self.refresh()

    def hide(self) -> None:
        """Take a kitty image off the screen (another screen is shown, or there is no grid);
        render_lines puts it back (the escape it keeps). Sixel needs nothing: what is drawn over
        it replaces it."""
        driver = self.app._driver
        if self.mode == "kitty" and driver is not None and not self.app.is_headless:
            driver.write(kitty_delete(self.image_id))

    def on_unmount(self) -> None:
        self.hide()

    def render_lines(self, crop: Region) -> list[Strip]:
        blank = [Strip.blank(crop.width)] * crop.height
        if self.image is None or not crop.area or not self.screen.is_active:
            return blank  # an inactive screen's widgets may be tinted by Textual: no image then
        if self._sent is None or self._sent[0] != crop:
            keys = f"i={self.image_id},p=1,C=1,z=-1"  # the same placement, replaced; the cursor stays
            self._sent = crop, encode(self._crop(crop), self.mode, kitty_keys=keys)
        x, y = self.region.x + crop.x, self.region.y + crop.y  # screen cells, 0-based
        last = Strip(
            [
                Segment(" " * crop.width),
                Segment(f"\x1b[{y + 1};{x + 1}H"),
                Segment(self._sent[1], None, [(ControlType.CURSOR_FORWARD, 0)]),
                Segment(f"\x1b[{y + crop.height};{x + crop.width + 1}H"),
            ],
            cell_length=crop.width,
        )
        return [*blank[:-1], last]

    def _crop(self, crop: Region) -> Image.Image:
        w, h = self.cell
        return self.image.crop((crop.x * w, crop.y * h, crop.right * w, crop.bottom * h))
