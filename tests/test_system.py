import os
import sys
import types
from types import SimpleNamespace

import psutil
import pynvml  # nvidia-ml-py: a dependency of tui-gan, not optional
import pytest
from waiting import wait_until

from tui_gan.system import CPUStatus, GPUStatus, SystemMonitor, format_bytes

GiB = 1024**3


class FakeNVML:
    """Patches pynvml so tests behave the same with or without a real GPU/driver."""

    def __init__(self, monkeypatch, name_type=bytes):
        self.calls = {"init": 0, "shutdown": 0}
        self.fail = {}  # function name -> exception to raise
        self.name_type = name_type
        self.processes = [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * 2**20),
            SimpleNamespace(pid=1, usedGpuMemory=4 * GiB),
        ]  # someone else's job on a shared GPU
        self.bus_ids = {"00000000:65:00.0": 3}  # PCI bus id -> NVML index
        self.mig = {}  # MIG UUID -> parent index
        for attr in (
            "nvmlInit",
            "nvmlShutdown",
            "nvmlDeviceGetHandleByIndex",
            "nvmlDeviceGetHandleByUUID",
            "nvmlDeviceGetIndex",
            "nvmlDeviceGetName",
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetMemoryInfo",
            "nvmlDeviceGetTemperature",
            "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetEnforcedPowerLimit",
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetHandleByPciBusId",
            "nvmlDeviceIsMigDeviceHandle",
            "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
        ):
            monkeypatch.setattr(pynvml, attr, self._wrap(attr, getattr(self, attr[4:])))

    def _wrap(self, attr, fn):
        def call(*args):
            if attr in self.fail:
                raise self.fail[attr]
            return fn(*args)

        return call

    def Init(self):
        self.calls["init"] += 1

    def Shutdown(self):
        self.calls["shutdown"] += 1

    def DeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def DeviceGetHandleByUUID(self, uuid):
        if uuid in self.mig:
            return ("mig", self.mig[uuid])
        assert uuid == "GPU-5f3e"
        return ("handle", 6)

    def DeviceGetHandleByPciBusId(self, bus_id):
        return ("handle", self.bus_ids[bus_id])

    def DeviceIsMigDeviceHandle(self, handle):
        return handle[0] == "mig"

    def DeviceGetDeviceHandleFromMigDeviceHandle(self, handle):
        return ("handle", handle[1])

    def DeviceGetComputeRunningProcesses(self, handle):
        return self.processes

    def DeviceGetIndex(self, handle):
        return handle[1]

    def DeviceGetName(self, handle):
        name = f"Fake GPU {handle[1]}"
        return name.encode() if self.name_type is bytes else name

    def DeviceGetUtilizationRates(self, handle):
        self._no_mig(handle)
        return SimpleNamespace(gpu=40 + handle[1], memory=5)

    def DeviceGetMemoryInfo(self, handle):
        if handle[0] == "mig":
            return SimpleNamespace(total=10 * GiB, used=2 * GiB, free=0)  # the slice's own
        return SimpleNamespace(total=16 * GiB, used=(handle[1] + 1) * GiB, free=0)

    def DeviceGetTemperature(self, handle, sensor):
        self._no_mig(handle)
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return 61

    def DeviceGetPowerUsage(self, handle):
        self._no_mig(handle)
        return 123456  # mW

    def DeviceGetEnforcedPowerLimit(self, handle):
        self._no_mig(handle)
        return 300000  # mW

    @staticmethod
    def _no_mig(handle):
        if handle[0] == "mig":  # what a real A100/H100 MIG slice answers for these
            raise pynvml.NVMLError_NotSupported(pynvml.NVML_ERROR_NOT_SUPPORTED)


@pytest.fixture
def nvml(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return FakeNVML(monkeypatch)


def nvml_error(code):
    return pynvml.NVMLError(code)


def test_cpu_status_is_sane():
    monitor = SystemMonitor("cpu", torch_threads=3)
    status = monitor.poll()
    assert isinstance(status, CPUStatus)
    assert monitor.gpu_unavailable_reason is None
    assert 0.0 <= status.cpu_percent <= 100.0
    assert len(status.per_cpu) == psutil.cpu_count()
    assert all(0.0 <= p <= 100.0 for p in status.per_cpu)
    assert 0 < status.ram_used_bytes <= status.ram_total_bytes
    assert 0 < status.process_rss_bytes <= status.ram_total_bytes
    assert status.torch_threads == 3
    assert isinstance(status.cpu_name, str) and status.cpu_name.strip()


def test_torch_threads_read_only_from_an_already_imported_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert SystemMonitor("cpu").poll().torch_threads is None
    assert "torch" not in sys.modules  # polling must not import it
    fake = types.ModuleType("torch")
    fake.get_num_threads = lambda: 7
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert SystemMonitor("cpu").poll().torch_threads == 7


def test_working_gpu(nvml):
    monitor = SystemMonitor("cuda")
    first = monitor.poll()
    assert first == GPUStatus(
        name="Fake GPU 0",
        index=0,
        util_percent=40.0,
        mem_used_bytes=1 * GiB,
        mem_total_bytes=16 * GiB,
        temperature_c=61.0,
        power_w=pytest.approx(123.456),
        power_limit_w=300.0,
        process_mem_bytes=512 * 2**20,  # ours only, not the other job's 4 GiB
    )
    assert monitor.poll() == first
    assert nvml.calls["init"] == 1  # initialised lazily, once
    assert monitor.gpu_unavailable_reason is None
    monitor.close()
    monitor.close()
    assert nvml.calls["shutdown"] == 1


def test_gpu_name_as_str(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    FakeNVML(monkeypatch, name_type=str)
    assert SystemMonitor("cuda:2").poll().name == "Fake GPU 2"


@pytest.mark.parametrize(
    "visible, device, nvml_index",
    [
        (None, "cuda:1", 1),
        ("2,3", "cuda", 2),
        ("2,3", "cuda:1", 3),
        (" 4 , 1 ", "cuda:1", 1),
        ("GPU-5f3e", "cuda:0", 6),
    ],
)
def test_cuda_visible_devices_mapping(nvml, monkeypatch, visible, device, nvml_index):
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    status = SystemMonitor(device).poll()
    assert isinstance(status, GPUStatus)
    assert status.index == nvml_index
    assert status.name == f"Fake GPU {nvml_index}"
    assert status.util_percent == 40 + nvml_index


@pytest.mark.parametrize("visible, device", [("", "cuda"), ("0", "cuda:1"), ("0,-1,2", "cuda:1")])
def test_hidden_cuda_device_falls_back(nvml, monkeypatch, visible, device):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monitor = SystemMonitor(device)
    assert isinstance(monitor.poll(), CPUStatus)
    assert "CUDA_VISIBLE_DEVICES" in monitor.gpu_unavailable_reason
    assert nvml.calls["shutdown"] == 1  # the init that did succeed is undone


def test_nvml_init_failure_falls_back_permanently(nvml):
    nvml.fail["nvmlInit"] = nvml_error(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    monitor = SystemMonitor("cuda:0")
    assert isinstance(monitor.poll(), CPUStatus)
    assert monitor.gpu_unavailable_reason == "NVML unavailable: driver not loaded"
    del nvml.fail["nvmlInit"]
    assert isinstance(monitor.poll(), CPUStatus)
    assert nvml.calls["init"] == 0
    monitor.close()
    assert nvml.calls["shutdown"] == 0  # never initialised, nothing to shut down


def test_nvml_call_failing_mid_run_falls_back_permanently(nvml):
    monitor = SystemMonitor("cuda")
    assert isinstance(monitor.poll(), GPUStatus)
    nvml.fail["nvmlDeviceGetUtilizationRates"] = nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
    assert isinstance(monitor.poll(), CPUStatus)
    assert monitor.gpu_unavailable_reason == "NVML unavailable: gpu is lost"
    assert nvml.calls["shutdown"] == 1
    nvml.fail.clear()
    assert isinstance(monitor.poll(), CPUStatus)


def test_unsupported_optional_fields_are_none(nvml):
    nvml.fail["nvmlDeviceGetTemperature"] = nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    monitor = SystemMonitor("cuda")
    status = monitor.poll()
    assert isinstance(status, GPUStatus)
    assert status.temperature_c is None
    assert (status.util_percent, status.mem_used_bytes) == (40.0, GiB)
    assert status.power_w == pytest.approx(123.456) and status.power_limit_w == 300.0
    nvml.fail["nvmlDeviceGetPowerUsage"] = nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nvml.fail["nvmlDeviceGetEnforcedPowerLimit"] = nvml_error(pynvml.NVML_ERROR_NO_PERMISSION)
    status = monitor.poll()
    assert (status.temperature_c, status.power_w, status.power_limit_w) == (None, None, None)
    assert monitor.gpu_unavailable_reason is None


def test_missing_nvidia_ml_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    monitor = SystemMonitor("cuda")
    assert isinstance(monitor.poll(), CPUStatus)
    assert monitor.gpu_unavailable_reason == "NVML unavailable: nvidia-ml-py is not installed"


@pytest.mark.parametrize("device", ["mps", "cuda:x", "cuda:-1"])
def test_non_cuda_devices_report_cpu_with_reason(device):
    monitor = SystemMonitor(device)
    assert isinstance(monitor.poll(), CPUStatus)
    assert monitor.gpu_unavailable_reason


def test_poll_never_raises(nvml, monkeypatch):
    nvml.fail["nvmlInit"] = RuntimeError("something odd in the binding")

    def boom(*args, **kwargs):
        raise RuntimeError("probe failed")

    monitor = SystemMonitor("cuda")
    monkeypatch.setattr(psutil, "virtual_memory", boom)
    monkeypatch.setattr(psutil, "cpu_percent", boom)
    monkeypatch.setattr(psutil.Process, "memory_info", boom)  # this process's memory among them
    status = monitor.poll()
    assert isinstance(status, CPUStatus)
    assert (status.cpu_percent, status.per_cpu, status.ram_total_bytes) == (0.0, (), 0)
    assert status.process_rss_bytes == 0
    assert monitor.gpu_unavailable_reason == "NVML unavailable: something odd in the binding"


def test_real_cuda_poll_does_not_raise():
    # Whatever this machine has (no driver, no GPU, or a real one), polling must cope.
    with SystemMonitor("cuda") as monitor:
        status = monitor.poll()
        if isinstance(status, CPUStatus):
            assert monitor.gpu_unavailable_reason
        else:
            assert status.mem_total_bytes > 0


@pytest.mark.parametrize(
    "n, text",
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536 * 1024**2, "1.5 GiB"),
        (512 * 1024**2, "512 MiB"),
        (int(9.96 * 1024**2), "10 MiB"),
        (int(1023.6 * 1024**2), "1.0 GiB"),
        (3 * 1024**5, "3.0 PiB"),
        (-2048, "-2.0 KiB"),
    ],
)
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.slow
def test_process_memory_counts_child_processes():
    """The dashboard trains in a child process: its memory is the run's memory too."""
    import subprocess

    monitor = SystemMonitor("cpu")
    alone = monitor.poll().process_rss_bytes
    child = subprocess.Popen(
        [sys.executable, "-c", 'import sys; b = b"x" * (200 * 2**20); sys.stdin.read()'],
        stdin=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: monitor.poll().process_rss_bytes >= alone + 150 * 2**20,
            "the child's 200 MB to show",
            20,
            interval=0.1,
        )
    finally:
        child.communicate(b"")


def test_every_field_degrades_on_its_own(nvml):
    """NOT_SUPPORTED for utilisation (MIG slices, some data-centre GPUs) used to cost the whole
    panel: now only that figure is n/a."""
    nvml.fail["nvmlDeviceGetUtilizationRates"] = pynvml.NVMLError_NotSupported(
        pynvml.NVML_ERROR_NOT_SUPPORTED
    )
    monitor = SystemMonitor("cuda")
    status = monitor.poll()
    assert isinstance(status, GPUStatus) and monitor.gpu_unavailable_reason is None
    assert status.util_percent is None and status.mem_used_bytes == GiB and status.temperature_c == 61.0
    nvml.fail["nvmlDeviceGetMemoryInfo"] = pynvml.NVMLError_NoPermission(pynvml.NVML_ERROR_NO_PERMISSION)
    nvml.fail["nvmlDeviceGetComputeRunningProcesses"] = pynvml.NVMLError_NotSupported(
        pynvml.NVML_ERROR_NOT_SUPPORTED
    )
    status = monitor.poll()
    assert (status.util_percent, status.mem_used_bytes, status.mem_total_bytes, status.process_mem_bytes) == (
        None,
    ) * 4
    assert status.power_w == pytest.approx(123.456)
    for name in ("nvmlDeviceGetTemperature", "nvmlDeviceGetPowerUsage"):
        nvml.fail[name] = pynvml.NVMLError_NotSupported(pynvml.NVML_ERROR_NOT_SUPPORTED)
    assert isinstance(monitor.poll(), CPUStatus)  # nothing left to show: say so and show the CPU
    assert "none of its figures" in monitor.gpu_unavailable_reason


def test_mig_slice(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-aaaa-bbbb")
    nvml.mig["MIG-aaaa-bbbb"] = 2
    status = SystemMonitor("cuda").poll()
    assert isinstance(status, GPUStatus) and status.mig
    assert (status.index, status.name) == (2, "Fake GPU 2")  # the parent GPU's number
    assert (status.mem_used_bytes, status.mem_total_bytes) == (2 * GiB, 10 * GiB)  # the slice's memory
    assert (status.util_percent, status.temperature_c, status.power_w) == (None, None, None)


def test_the_engines_pci_bus_id_beats_index_order(nvml):
    """CUDA numbers GPUs fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; NVML by bus. The
    engine reports its device's bus id, and the panel probes that GPU, not NVML's index 0."""
    from tui_gan.system import DeviceIds

    status = SystemMonitor("cuda:0", device_ids=DeviceIds(pci_bus_id="00000000:65:00.0", uuid="GPU-x")).poll()
    assert (status.index, status.name) == (3, "Fake GPU 3")
    nvml.mig["MIG-cccc"] = 1  # torch named a MIG slice: its UUID wins over the parent's bus id
    status = SystemMonitor(
        "cuda:0", device_ids=DeviceIds(pci_bus_id="00000000:65:00.0", uuid="MIG-cccc")
    ).poll()
    assert status.mig and status.index == 1


@pytest.mark.slow
def test_engine_process_memory_counts(nvml):
    """An attached dashboard is not the job's parent: the job's pid is passed in."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        nvml.processes.append(SimpleNamespace(pid=child.pid, usedGpuMemory=GiB))
        detached = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            nvml.processes.append(SimpleNamespace(pid=detached.pid, usedGpuMemory=2 * GiB))
            assert (
                SystemMonitor("cuda").poll().process_mem_bytes == 512 * 2**20 + GiB + 2 * GiB
            )  # children count
            nvml.processes[:] = [SimpleNamespace(pid=1, usedGpuMemory=GiB)]
            assert SystemMonitor("cuda").poll().process_mem_bytes is None  # not ours ...
            assert (
                SystemMonitor("cuda", engine_pid=1).poll().process_mem_bytes == GiB
            )  # ... unless it is the job
            nvml.processes[:] = [SimpleNamespace(pid=99999999, usedGpuMemory=GiB)]  # another PID namespace
            assert SystemMonitor("cuda").poll().process_mem_bytes is None
        finally:
            detached.communicate(b"")
    finally:
        child.communicate(b"")


def test_every_ranks_gpu(nvml):
    """A multi-GPU run: one monitor per rank's GPU, found by the bus ids the ranks reported."""
    from tui_gan.system import DeviceIds, GPUsMonitor

    nvml.bus_ids.update({"00000000:17:00.0": 0, "00000000:65:00.0": 3})
    monitor = GPUsMonitor(
        [
            SystemMonitor(f"cuda:{i}", device_ids=DeviceIds(bus, None))
            for i, bus in enumerate(["00000000:17:00.0", "00000000:65:00.0"])
        ]
    )
    first, second = monitor.poll()
    assert (first.index, second.index) == (0, 3) and (first.util_percent, second.util_percent) == (40.0, 43.0)
    monitor.close()
    assert nvml.calls["shutdown"] == 2


@pytest.mark.parametrize(
    "flags, native",
    [("fpu avx2 avx512f", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True)],
)
def test_native_bf16_reads_the_cpu_flags(monkeypatch, tmp_path, flags, native):
    """bf16 counts as native only where the CPU computes it (benchmarks skip emulated bf16)."""
    import builtins

    import torch

    from tui_gan.training.device import native_bf16

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    real_open = builtins.open
    monkeypatch.setattr(
        builtins, "open", lambda p, *a, **k: real_open(cpuinfo if p == "/proc/cpuinfo" else p, *a, **k)
    )
    assert native_bf16(torch.device("cpu")) is native
