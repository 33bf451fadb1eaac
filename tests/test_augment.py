"""Differentiable augmentation (tui_gan/training/augment.py): what the shift and the cutout do to a
digit, that G's gradient passes through them, and that a recipe's --augment reaches D."""

from __future__ import annotations

import pytest
import torch
from factories import Recorder, make_engine

from tui_gan.training.augment import BACKGROUND, augment, cutout, translate
from tui_gan.training.recipes import describe


def square_digits(n: int = 64) -> torch.Tensor:
    """n copies of an 8x8 white square in the middle of a background (-1) 28x28 image."""
    x = torch.full((n, 1, 28, 28), BACKGROUND)
    x[:, :, 10:18, 10:18] = 1.0
    return x


def test_translation_moves_each_digit_whole_by_at_most_two_pixels():
    torch.manual_seed(0)
    moved = translate(square_digits())
    assert set(moved.unique().tolist()) == {BACKGROUND, 1.0}  # whole pixels, background filled in
    assert ((moved == 1.0).sum((1, 2, 3)) == 64).all()  # nothing of the square is lost
    rows = [(d[0] == 1.0).nonzero()[:, 0].min().item() - 10 for d in moved]
    cols = [(d[0] == 1.0).nonzero()[:, 1].min().item() - 10 for d in moved]
    assert min(rows) == min(cols) == -2 and max(rows) == max(cols) == 2  # 64 digits span every shift
    assert len(set(zip(rows, cols))) > 15  # drawn per digit (of 25 shifts), not per batch


def test_a_shifted_in_edge_is_background():
    x = torch.ones(32, 1, 28, 28)
    torch.manual_seed(1)
    moved = translate(x)
    shifted = moved.ne(1.0).any(dim=(1, 2, 3))
    assert shifted.sum() > 25 and moved[moved != 1.0].eq(BACKGROUND).all()


def test_cutout_blanks_a_square_of_half_the_side_somewhere():
    torch.manual_seed(2)
    x = torch.ones(200, 1, 28, 28)
    cut = cutout(x)
    blanked = cut.eq(BACKGROUND).sum((1, 2, 3))
    assert blanked.max() == 14 * 14 and blanked.min() > 0  # whole inside, or partly off the edge
    assert cut[cut != BACKGROUND].eq(1.0).all()
    one = cut[blanked.argmax(), 0].eq(BACKGROUND).nonzero()
    assert (one.max(0).values - one.min(0).values).tolist() == [13, 13]  # a square


def test_gradients_flow_through_both_to_the_pixels_that_remain():
    x = square_digits(16).requires_grad_(True)
    torch.manual_seed(3)
    out = augment(x, "translation+cutout")
    out.sum().backward()
    kept = x.grad.sum((1, 2, 3))
    assert (kept > 0).all() and (kept <= 28 * 28).all()
    assert augment(x, "none") is x
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        augment(x, "flip")


def test_an_augmenting_recipe_shows_d_shifted_digits_and_says_so(tmp_path):
    """D's every input, real and fake, in D's update and in G's, has gone through the shift: the
    real batch D sees is not the batch the engine drew."""
    rec = Recorder()
    engine = make_engine(tmp_path, rec, augment="translation", max_steps=3)
    engine.setup()
    seen: list[torch.Tensor] = []
    engine.current.D.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    drawn: list[torch.Tensor] = []
    batches = engine.batches
    original = batches.next

    def next_recording(s):
        real, z, y = original(s)
        drawn.append(real.clone())
        return real, z, y

    batches.next = next_recording
    assert engine.run() == "max_steps"
    assert engine.current.recipe.augment == "translation"
    assert "augment translation" in describe(engine.current.recipe)
    real_seen = seen[0][: len(drawn[0])]
    assert real_seen.shape == drawn[0].shape and not torch.equal(real_seen, drawn[0])
    # the same digits, moved: each row of pixels sums the same over the image
    assert torch.allclose((real_seen + 1).sum((1, 2, 3)), (drawn[0] + 1).sum((1, 2, 3)), rtol=0.3)
