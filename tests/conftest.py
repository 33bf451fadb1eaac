"""Fixtures shared by the tests: fake system monitors with fixed readings; the CUDA skip; a private
data cache and an IDX folder for command-line tests. Every test, async Pilot tests included, is
bounded by pytest-timeout (`timeout` in pyproject.toml)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    _skip_cuda_without_a_gpu(items)


def _skip_cuda_without_a_gpu(items):
    """Tests marked `cuda` run only where PyTorch sees a GPU."""
    marked = [item for item in items if item.get_closest_marker("cuda")]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; PyTorch sees none here")
    for item in marked:
        item.add_marker(skip)


def cpu_status():
    from tui_gan.system import CPUStatus

    return CPUStatus(
        cpu_percent=37.5,
        per_cpu=(30.0, 45.0),
        ram_used_bytes=3 * 2**30,
        ram_total_bytes=16 * 2**30,
        process_rss_bytes=900 * 2**20,
        torch_threads=2,
        cpu_name="Test CPU 3000",
    )


def gpu_status():
    from tui_gan.system import GPUStatus

    return GPUStatus(
        name="NVIDIA H100 80GB HBM3",
        index=0,
        util_percent=87.0,
        mem_used_bytes=21 * 2**30,
        mem_total_bytes=80 * 2**30,
        temperature_c=61.0,
        power_w=412.0,
        power_limit_w=700.0,
    )


class FakeMonitor:
    """SystemMonitor's interface with a fixed reading, so panels and snapshots never flake."""

    def __init__(self, status, reason=None):
        self.status = status
        self.gpu_unavailable_reason = reason
        self.polls = 0
        self.closed = False

    def poll(self):
        self.polls += 1
        return self.status

    def close(self):
        self.closed = True


def _monitor_factory(make_status):
    made = []

    def factory(device, torch_threads=None, **ids):
        made.append(FakeMonitor(make_status()))
        return made[-1]

    factory.made = made  # the monitors built, to check they were polled and closed
    return factory


@pytest.fixture
def cpu_monitor():
    """A monitor_factory for TuiGanApp reading a fixed CPU status."""
    return _monitor_factory(cpu_status)


@pytest.fixture
def gpu_monitor():
    """A monitor_factory for TuiGanApp reading a fixed GPU status."""
    return _monitor_factory(gpu_status)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The engine thread shares 2 cores with the UI thread (and pytest): one intra-op thread
    avoids OpenMP spin-waiting against them, which made steps 10-30x slower here."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def harness(tmp_path, cpu_monitor):
    from pilot import Harness

    return Harness(tmp_path, cpu_monitor)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """Classifiers and downloads go to a folder of this test's own."""
    monkeypatch.setenv("TUI_GAN_DATA", str(tmp_path / "cache"))


@pytest.fixture
def idx_dir(tmp_path):
    """A folder of MNIST-named IDX files holding 256 labelled test blobs."""
    import numpy as np
    from factories import blob_digits

    from tui_gan.data.idx import write_idx

    ds = blob_digits(256)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", ds.images.numpy())
    write_idx(folder / "train-labels-idx1-ubyte.gz", ds.labels.numpy().astype(np.uint8))
    return folder
