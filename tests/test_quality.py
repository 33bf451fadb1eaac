"""Quality metrics: the classifier is good enough to judge digits, and the metrics separate real
digits from collapsed and noisy samples. The MNIST classifier is trained once per session (into
the session's data cache)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from factories import SHARED_MNIST, blob_digits

import tui_gan.quality.classifier as classifier_mod
from tui_gan.data import Dataset, load_dataset
from tui_gan.data.synthetic import make_synthetic_digits
from tui_gan.errors import DataError
from tui_gan.quality import (
    ClassifierCancelled,
    FeatureStats,
    QualityReport,
    dataset_fingerprint,
    evaluate,
    frechet_distance,
    load_or_train,
    real_floor,
    train_classifier,
)
from tui_gan.quality.classifier import cache_path, feature_stats

_mnist_present = pytest.mark.skipif(
    not any(SHARED_MNIST.glob("t10k-images-idx3-ubyte*"))
    and not any(SHARED_MNIST.glob("train-images-idx3-ubyte*")),
    reason=f"real MNIST not found at {SHARED_MNIST}",
)


def needs_mnist(test):
    """Skipped without the shared MNIST copy; slow: the first of these to run trains the MNIST
    classifier (15 s on 2 idle cores, over a minute on busy ones), hence a longer time limit."""
    return pytest.mark.slow(pytest.mark.timeout(300)(_mnist_present(test)))


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", SHARED_MNIST, download=False)


@pytest.fixture(scope="module")
def clf_dir(shared_cache):
    return shared_cache / "classifiers"


@pytest.fixture(scope="module")
def clf(mnist, clf_dir):
    start = time.perf_counter()
    model = load_or_train(mnist, clf_dir)
    print(f"classifier: {model.val_accuracy:.2%} held-out after {time.perf_counter() - start:.1f} s")
    return model


# --- the classifier on real digits ------------------------------------------------------------


@needs_mnist
def test_classifier_reaches_97_percent_on_held_out_mnist(clf, clf_dir, mnist):
    assert clf.val_accuracy >= 0.97
    # The reported number is the accuracy on exactly the held-out reference images.
    val_idx = torch.load(cache_path(clf_dir, clf.fingerprint), weights_only=True)["val_indices"]
    assert torch.equal(mnist.images[val_idx], clf.reference_images)
    with torch.no_grad():
        predicted = clf.model(mnist.images[val_idx].float().div(127.5).sub(1).unsqueeze(1)).argmax(1)
    assert (predicted == mnist.labels[val_idx]).float().mean().item() == pytest.approx(clf.val_accuracy)


@needs_mnist
def test_real_held_out_digits_look_real(clf):
    report = evaluate(clf, clf.reference_images)
    assert report.n == len(clf.reference_images)
    assert report.classes_covered == 10
    assert report.mean_confidence > 0.9
    assert report.classifier_score > 8
    assert report.kl_to_uniform < 0.05
    assert report.frechet_distance < 1e-6  # the reference set itself

    # Unseen real digits against a disjoint real reference: within a small multiple of the floor.
    half = len(clf.reference_images) // 2
    order = torch.randperm(len(clf.reference_images), generator=torch.Generator().manual_seed(123))
    a, b = clf.reference_images[order[:half]], clf.reference_images[order[half:]]
    floor = real_floor(clf, n=half)
    split = evaluate(clf, a, reference=feature_stats(clf, b))
    assert split.classes_covered == 10 and split.mean_confidence > 0.9
    assert 0 < split.frechet_distance < 3 * floor


@needs_mnist
def test_generator_floats_and_dataset_bytes_give_the_same_report(clf):
    images = clf.reference_images[:400]
    as_generated = images.float().mul(2 / 255).sub(1).unsqueeze(1)
    a, b = evaluate(clf, images), evaluate(clf, as_generated, batch_size=64)
    assert a.histogram == b.histogram
    assert a.frechet_distance == pytest.approx(b.frechet_distance, rel=1e-4)
    with pytest.raises(ValueError):
        evaluate(clf, torch.zeros(10, 3, 28, 28))


@needs_mnist
def test_one_repeated_image_is_one_class_and_far(clf):
    floor = real_floor(clf, n=500)
    report = evaluate(clf, clf.reference_images[:1].repeat(1000, 1, 1))
    assert report.classes_covered == 1
    assert max(report.histogram) == 1.0
    assert report.classifier_score == pytest.approx(1.0, abs=1e-6)
    assert report.kl_to_uniform == pytest.approx(math.log(10))
    assert report.frechet_distance > 20 * floor


@needs_mnist
def test_noise_is_very_far(clf):
    floor = real_floor(clf, n=500)
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    report = evaluate(clf, noise)
    assert report.frechet_distance > 20 * floor
    assert report.mean_confidence < 0.9


@needs_mnist
def test_real_floor_is_small_positive_and_cached(clf):
    floor = real_floor(clf, n=1000)
    assert 0 < floor < evaluate(clf, clf.reference_images[:1].repeat(1000, 1, 1)).frechet_distance / 20
    start = time.perf_counter()
    assert real_floor(clf, n=1000) == floor
    assert time.perf_counter() - start < 0.01
    assert real_floor(clf, n=1000, seed=1) != floor  # another split: a different sample


@needs_mnist
def test_report_is_plain_and_serialisable(clf):
    report = evaluate(clf, clf.reference_images[:200])
    assert isinstance(report, QualityReport)
    with pytest.raises(AttributeError):
        report.n = 3  # frozen: safe to hand to the UI thread
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert len(d["histogram"]) == 10 and sum(d["histogram"]) == pytest.approx(1.0)
    assert all(type(v) in (int, float, list) for v in d.values())


# --- Frechet distance ---------------------------------------------------------------------------


def _stats(mean, cov) -> FeatureStats:
    return FeatureStats(
        torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64), 100
    )


def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 12)), rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12)) + 0.5
    a, b = _stats(x.mean(0), np.cov(x, rowvar=False)), _stats(y.mean(0), np.cov(y, rowvar=False))
    assert frechet_distance(a, a) < 1e-8 * float(a.cov.trace())
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    # Tr sqrtm(S1 S2) is the sum of square roots of S1 S2's (real, non-negative) eigenvalues.
    s1, s2 = a.cov.numpy(), b.cov.numpy()
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expected = ((a.mean - b.mean) ** 2).sum().item() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)
    # Diagonal covariances: ||mu1 - mu2||^2 + sum (sqrt(v1) - sqrt(v2))^2.
    v1, v2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    diag = frechet_distance(_stats(np.zeros(5), np.diag(v1)), _stats(np.ones(5), np.diag(v2)))
    assert diag == pytest.approx(5 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum(), rel=1e-10)


def test_frechet_distance_survives_singular_covariances():
    rank_one = np.outer(np.arange(6.0), np.arange(6.0))
    fd = frechet_distance(_stats(np.zeros(6), rank_one), _stats(np.zeros(6), np.zeros((6, 6))))
    assert fd == pytest.approx(np.trace(rank_one))


# --- training, caching, cancelling ------------------------------------------------------------


def test_train_learns_blobs_without_touching_the_global_rng():
    data = blob_digits(300, jitter=0.5)  # no class's blobs reach another's place: learnable in a second
    state = torch.get_rng_state()
    model, accuracy, val_idx = train_classifier(data.images, data.labels, epochs=5, batch_size=32, seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # a seeded GAN run beside it stays reproducible
    assert accuracy >= 0.9
    assert len(val_idx) == 30 and len(set(val_idx.tolist())) == 30
    assert not model.training
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 84)


def test_second_load_hits_the_cache(private_cache, monkeypatch):
    data = blob_digits(300)
    first = load_or_train(data, epochs=3)
    path = private_cache / "classifiers" / cache_path(".", first.fingerprint).name
    assert path.is_file() and first.fingerprint in path.name

    def no_training(*args, **kwargs):
        raise AssertionError("trained again despite a cache file")

    monkeypatch.setattr(classifier_mod, "train_classifier", no_training)
    second = load_or_train(data)
    assert second.val_accuracy == first.val_accuracy
    assert torch.equal(second.reference_images, first.reference_images)
    for p, q in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_damaged_cache_is_retrained_and_overwritten(tmp_path, damage):
    data = blob_digits(300)
    first = load_or_train(data, tmp_path, epochs=2)
    path = cache_path(tmp_path, first.fingerprint)
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    calls = []
    original = classifier_mod.train_classifier

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classifier_mod, "train_classifier", counting)
        again = load_or_train(data, tmp_path, epochs=2)
    assert calls == [1]
    assert again.fingerprint == first.fingerprint
    assert torch.load(path, weights_only=True)["fingerprint"] == first.fingerprint


def test_should_stop_aborts_between_batches(tmp_path):
    data = blob_digits(2000)
    polls, steps = [], []

    def should_stop():
        polls.append(1)
        return len(polls) > 3

    start = time.perf_counter()
    with pytest.raises(ClassifierCancelled):
        load_or_train(data, tmp_path, epochs=50, should_stop=should_stop, progress=steps.append)
    assert time.perf_counter() - start < 5
    assert len(steps) == 3 and steps[-1] < 0.01
    assert not list(tmp_path.glob("*.pt"))  # nothing half-trained is cached


def test_unlabelled_or_bad_labels_raise_data_error(tmp_path):
    data = blob_digits(300)
    with pytest.raises(DataError, match="no labels"):
        load_or_train(Dataset("mnist", data.images, None, "train", "somewhere"), tmp_path)
    with pytest.raises(DataError, match="no labels"):
        train_classifier(data.images, None)
    with pytest.raises(DataError, match="outside"):
        load_or_train(Dataset("odd", data.images, data.labels + 5, "train", "somewhere"), tmp_path)


def test_fingerprint_follows_content():
    data = blob_digits(100)
    base = dataset_fingerprint(data.images, data.labels)
    assert base == dataset_fingerprint(data.images.clone(), data.labels.clone())
    assert len(base) == 16 and set(base) <= set("0123456789abcdef")  # 16 hex digits
    pixel = data.images.clone()
    pixel[7, 3, 3] ^= 1
    assert dataset_fingerprint(pixel, data.labels) != base
    label = data.labels.clone()
    label[0] = (label[0] + 1) % 10
    assert dataset_fingerprint(data.images, label) != base


@pytest.mark.slow
def test_classifier_learns_the_synthetic_digits():
    images, labels = make_synthetic_digits(3000, seed=0)
    _, accuracy, _ = train_classifier(images, labels, epochs=6)  # 95-97% over seeds
    assert accuracy >= 0.9
