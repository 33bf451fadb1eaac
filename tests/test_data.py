import gzip

import numpy as np
import pytest
import torch
from factories import SHARED_MNIST

import tui_gan.data as data_mod
from tui_gan.data import load_dataset
from tui_gan.data.idx import read_idx, write_idx
from tui_gan.errors import DataError, DataUnavailable


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    arr = _images()
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.shape == (5, 28, 28)
    np.testing.assert_array_equal(back, arr)


def test_idx_parses_handwritten_header(tmp_path):
    # magic 0x00000801 (uint8, 1 dim), size 3, then the bytes: the labels-file format
    (tmp_path / "labels").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    assert read_idx(tmp_path / "labels").tolist() == [7, 2, 1]


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04not idx")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "ok", _images())
    raw = (tmp_path / "ok").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(raw)[:50])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "broken.gz")


def _write_split(folder, prefix, n=12, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", _images(n))
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", (np.arange(n) % 10).astype(np.uint8))


def test_flat_folder_train_split(tmp_path):
    _write_split(tmp_path, "train", gz=False)
    _write_split(tmp_path, "t10k", n=4)
    ds = load_dataset("mnist", tmp_path, download=False)
    assert ds.split == "train" and len(ds) == 12 and ds.note == ""
    assert ds.images.dtype == torch.uint8 and ds.labels.tolist()[:3] == [0, 1, 2]


def test_torchvision_layout_and_test_split_only(tmp_path):
    _write_split(tmp_path / "FashionMNIST" / "raw", "t10k", n=7)
    ds = load_dataset("fashion-mnist", tmp_path, download=False)
    assert ds.split == "test" and len(ds) == 7
    assert "only the test split" in ds.note


def test_mismatched_labels_are_an_error(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", _images(5))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="4 labels for 5 images"):
        load_dataset("mnist", tmp_path, download=False)


def test_missing_data_dir_says_what_to_do(tmp_path):
    with pytest.raises(DataUnavailable, match="--data-dir"):
        load_dataset("mnist", tmp_path / "nothing-here", download=False)


def test_offline_download_failure_is_one_clear_error(private_cache, monkeypatch):

    class Offline:
        def __init__(self, *a, **k):
            raise RuntimeError(
                "Error downloading train-images-idx3-ubyte.gz:\nTried x, got:\n"
                "<urlopen error [Errno -2] Name or service not known>"
            )

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(DataUnavailable) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "Name or service not known" in message and "--dataset synthetic" in message and "\n" not in message


def test_download_success_path_uses_torchvision_layout(private_cache, monkeypatch):
    class FakeDownload:  # what torchvision leaves on disk after downloading
        def __init__(self, root, train, download):
            _write_split(private_cache / "MNIST" / "raw", "train", n=9)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeDownload)
    ds = load_dataset("mnist")
    assert len(ds) == 9 and ds.split == "train"


def test_debian_fashion_mnist_is_found(tmp_path, private_cache, monkeypatch):
    _write_split(tmp_path / "debian", "train", n=6)
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    ds = load_dataset("fashion-mnist", download=False)
    assert len(ds) == 6 and ds.source == str(tmp_path / "debian")


@pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST copy absent"
)
def test_real_mnist_test_split():
    ds = load_dataset("mnist", SHARED_MNIST, download=False)
    assert ds.split == "test" and ds.images.shape == (10000, 28, 28)
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels
    mean = ds.images.float().mean().item()
    assert 30 < mean < 36  # MNIST's mean intensity is about 33/255
