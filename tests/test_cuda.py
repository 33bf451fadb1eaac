"""CUDA paths: skipped where PyTorch sees no GPU (see conftest), run on a GPU server.

Device-number checks that need no GPU fake only torch's device count."""

from __future__ import annotations

import os

import pynvml  # nvidia-ml-py: a dependency of tui-gan
import pytest
import torch
from factories import blob_digits, tiny_config

from tui_gan.errors import ConfigError
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.device import resolve_device
from tui_gan.training.engine import Engine


def test_a_gpu_number_past_the_visible_ones_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda:2")
    assert "sees 2 GPUs (cuda:0..cuda:1) with CUDA_VISIBLE_DEVICES=4,5" in str(info.value)


@pytest.mark.cuda
def test_trains_on_the_gpu_and_resumes_on_the_cpu(tmp_path):
    events = []
    config = tiny_config(tmp_path, device="cuda", max_steps=20)
    engine = Engine(config, events.append, dataset=blob_digits(512), run_dir=tmp_path / "run")
    assert engine.run() == "max_steps"
    started = next(e for e in events if isinstance(e, ev.Started))
    assert started.device.startswith("cuda") and started.device_pci_bus_id and started.device_uuid
    points = [p for e in events if isinstance(e, ev.Stats) for p in e.points]
    assert [p.step for p in points] == list(range(1, 21))  # every point, batched off the GPU
    assert all(torch.isfinite(torch.tensor([p.d_loss, p.g_loss])).all() for p in points)
    ckpt = tmp_path / "run" / "checkpoints" / "simple" / "latest.pt"
    assert load_checkpoint(ckpt)["device_type"] == "cuda"
    resumed = Engine(
        tiny_config(tmp_path, device="cpu", max_steps=5),
        dataset=blob_digits(512),
        resume=ckpt,
        run_dir=tmp_path / "run2",
    )
    assert resumed.run() == "max_steps" and resumed.current.step == 25


@pytest.mark.cuda
def test_the_system_panel_probes_the_training_gpu(tmp_path):
    from tui_gan.system import DeviceIds, GPUStatus, SystemMonitor
    from tui_gan.training.device import cuda_ids

    torch.zeros(1, device="cuda")  # this process holds GPU memory now
    bus, uuid = cuda_ids(torch.device("cuda:0"))
    with SystemMonitor("cuda:0", device_ids=DeviceIds(bus, uuid)) as monitor:
        status = monitor.poll()
    assert isinstance(status, GPUStatus), monitor.gpu_unavailable_reason
    assert status.name == torch.cuda.get_device_name(0)
    assert status.mem_total_bytes and status.mem_total_bytes > 0
    pynvml.nvmlInit()  # what NVML itself says this process holds there
    try:
        handle = pynvml.nvmlDeviceGetHandleByUUID(uuid) if uuid else pynvml.nvmlDeviceGetHandleByPciBusId(bus)
        ours = [
            p.usedGpuMemory
            for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            if p.pid == os.getpid()
        ]
    finally:
        pynvml.nvmlShutdown()
    if ours and None not in ours:  # the panel counts it (and any children's)
        assert status.process_mem_bytes >= sum(ours) > 0
    else:  # NVML lists no PID of ours (a container's PID namespace) or hides sizes: no figure, no guess
        assert status.process_mem_bytes is None


@pytest.mark.cuda
@pytest.mark.parametrize(
    "precision, compile", [("bf16", "off"), ("fp16", "off"), ("fp32", "default"), ("fp32", "reduce-overhead")]
)
def test_gpu_speed_paths_train_and_checkpoint(tmp_path, precision, compile):
    events = []
    config = tiny_config(tmp_path, device="cuda", max_steps=40, precision=precision, compile=compile)
    engine = Engine(config, events.append, dataset=blob_digits(512), run_dir=tmp_path / "run")
    assert engine.run() == "max_steps"
    points = [p for e in events if isinstance(e, ev.Stats) for p in e.points]
    assert len(points) == 40 and all(torch.isfinite(torch.tensor([p.d_loss, p.g_loss])).all() for p in points)
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")
    assert (data["scaler"] is not None) == (precision == "fp16")
    if precision == "fp32":
        assert torch.backends.cuda.matmul.allow_tf32  # TF32 matmuls on


@pytest.mark.cuda
def test_conditional_dcgan_trains_in_bf16_on_the_gpu(tmp_path):
    """One-hot classes, the projection and classifier heads, the class loss under autocast."""
    events = []
    config = tiny_config(
        tmp_path, device="cuda", arch="dcgan", conditional=True, precision="bf16", max_steps=30
    )
    engine = Engine(config, events.append, dataset=blob_digits(512), run_dir=tmp_path / "run")
    assert engine.run() == "max_steps"
    points = [p for e in events if isinstance(e, ev.Stats) for p in e.points]
    assert len(points) == 30 and all(torch.isfinite(torch.tensor([p.d_loss, p.g_loss])).all() for p in points)
    samples = [e for e in events if isinstance(e, ev.Samples)][-1]
    assert samples.per_class == 2 and samples.images.shape == (20, 28, 28)
    digits = engine.current.digits(
        z=torch.randn(4, config.z_dim, device="cuda"), y=torch.tensor([3, 3, 7, 7], device="cuda")
    )
    assert digits.shape == (4, 28, 28) and digits.dtype.name == "uint8"
