"""Fixtures shared by the tests: fake system monitors with fixed readings, the CUDA skip, the data
caches, a private runtime folder for jobs, `jobs` (background jobs, killed if still alive at the
end) and an IDX folder for command-line tests. Plain helpers
are in factories.py (data, configs, engines), pilot.py (the dashboard), viewers.py (job viewers)
and waiting.py.

Time: every test is bounded by pytest-timeout (`timeout` in pyproject.toml; a few tests that must
wait longer say so with @pytest.mark.timeout), async Pilot tests included.

Marks: `slow` tests start processes (subprocess, job processes, torchrun) or train something to
its end that takes seconds (whole command-line runs, the exact-resume comparisons, quality
classifiers, torch.compile). The default run, CI's included, runs them; for a quick loop while
working, leave them out:

    python -m pytest -q -m "not slow"

`cuda` tests run only where PyTorch sees a GPU."""

from __future__ import annotations

import os
import signal

import pytest
from factories import blob_digits, cpu_status, gpu_status, monitor_factory
from waiting import wait_gone

from tui_gan.config import TrainConfig
from tui_gan.jobs import registry
from tui_gan.jobs.launch import start_job


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


# --- the dashboard -------------------------------------------------------------------------------


@pytest.fixture
def cpu_monitor():
    """A monitor_factory for TuiGanApp reading a fixed CPU status."""
    return monitor_factory(cpu_status)


@pytest.fixture
def gpu_monitor():
    """A monitor_factory for TuiGanApp reading a fixed GPU status."""
    return monitor_factory(gpu_status)


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


# --- data caches and runtime folders -------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """The data cache of the whole session (of each xdist worker): quality classifiers are cached
    in its classifiers/ folder by their dataset's content, so each is trained once."""
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture
def classifier_cache(shared_cache, monkeypatch):
    """TUI_GAN_DATA is the session's cache: a classifier some test trained before is loaded, not
    trained again (and a test that trains one leaves it to those after it)."""
    monkeypatch.setenv("TUI_GAN_DATA", str(shared_cache))
    return shared_cache


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """TUI_GAN_DATA is an empty folder of this test's own: for tests of downloading, and of what
    happens before a classifier is cached."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUI_GAN_DATA", str(folder))
    return folder


@pytest.fixture
def private_runtime(tmp_path, monkeypatch, classifier_cache):
    """This test's jobs register in a runtime folder of its own (the jobs inherit the variable),
    and read the session's data cache."""
    folder = tmp_path / "rt"
    monkeypatch.setenv("TUI_GAN_RUNTIME_DIR", str(folder))
    return folder


@pytest.fixture
def idx_dir(tmp_path):
    """A folder of MNIST-named IDX files holding 256 labelled test blobs."""
    import numpy as np

    from tui_gan.data.idx import write_idx

    ds = blob_digits(256)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", ds.images.numpy())
    write_idx(folder / "train-labels-idx1-ubyte.gz", ds.labels.numpy().astype(np.uint8))
    return folder


@pytest.fixture
def jobs():
    """Starts background jobs; any still alive at the end is killed."""
    started: list[registry.JobInfo] = []

    def start(config: TrainConfig, **kwargs) -> registry.JobInfo:
        info = start_job(config, **kwargs)
        started.append(info)
        return info

    yield start
    for info in started:
        if registry.pid_alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)
            wait_gone(info.pid)
