"""The offline demo dataset: MNIST-shaped, deterministic, and labels that match the drawn digits."""

from __future__ import annotations

import pytest
import torch

from tui_gan.data.synthetic import make_synthetic_digits
from tui_gan.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return make_synthetic_digits(2000, seed=0)


def test_shapes_dtypes_and_ranges():
    images, labels = make_synthetic_digits(37, seed=3)
    assert images.shape == (37, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (37,) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) <= 9
    assert int(images.max()) == 255  # stroke cores saturate, as in MNIST


def test_one_image_and_sizes_across_chunks():
    images, labels = make_synthetic_digits(1, seed=0)
    assert images.shape == (1, 28, 28) and labels.shape == (1,)
    images, _ = make_synthetic_digits(2500, seed=1)  # spans several internal chunks
    assert bool((images.flatten(1).amax(1) >= 200).all())  # no blank image anywhere


def test_same_seed_same_bits_other_seed_differs(digits):
    images, labels = digits
    again_images, again_labels = make_synthetic_digits(2000, seed=0)
    assert torch.equal(images, again_images) and torch.equal(labels, again_labels)
    other_images, other_labels = make_synthetic_digits(2000, seed=1)
    assert not torch.equal(images, other_images)
    assert not torch.equal(labels, other_labels)


def test_labels_are_balanced(digits):
    _, labels = digits
    assert torch.bincount(labels, minlength=10).tolist() == [200] * 10
    counts = torch.bincount(make_synthetic_digits(37, seed=5)[1], minlength=10)
    assert int(counts.max() - counts.min()) <= 1


def test_looks_like_mnist(digits):
    images, _ = digits
    x = images.float()
    assert 15 < x.mean() < 80  # MNIST: ~33
    background = (x.flatten(1) == 0).float().mean(1)
    assert background.mean() > 0.65 and background.min() > 0.3  # exact-0 background, as in MNIST
    assert bool((x.flatten(1).amax(1) >= 200).all())  # and none blank
    border = torch.cat(
        [x[:, :2].flatten(1), x[:, -2:].flatten(1), x[:, :, :2].flatten(1), x[:, :, -2:].flatten(1)], 1
    )
    assert (border <= 10).float().mean() > 0.98
    # Roughly centred: the centre of mass stays near the middle of the frame.
    ys = torch.arange(28.0).view(1, 28, 1)
    mass = x.sum((1, 2))
    cy = (x * ys).sum((1, 2)) / mass
    cx = (x * ys.view(1, 1, 28)).sum((1, 2)) / mass
    assert float((cy - 13.5).abs().mean()) < 2 and float((cx - 13.5).abs().mean()) < 2


def test_labels_match_the_drawn_digits(digits):
    # Nearest class mean from one seed classifies another seed's digits far above chance (10%),
    # which only happens if each label is drawn as its own, consistent glyph.
    images, labels = digits
    means = torch.stack([images[labels == c].float().flatten(1).mean(0) for c in range(10)])
    test_images, test_labels = make_synthetic_digits(1000, seed=1)
    predicted = torch.cdist(test_images.float().flatten(1), means).argmin(1)
    assert (predicted == test_labels).float().mean() > 0.6


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_sizes_raise_data_error(n):
    with pytest.raises(DataError):
        make_synthetic_digits(n)
