"""Status probes for the dashboard's System panel: one GPU through NVML, or the CPU.

Neither torch nor textual is imported: the training device arrives as a string (with, from
the engine, its PCI bus id and UUID) and the torch thread count as a number, so this module
stays importable (and testable) anywhere. Polling never raises. Each GPU figure a GPU does not
report (a MIG slice has no utilisation, some data-centre GPUs no power reading) is None on its
own ("n/a" on screen); a GPU that cannot be probed at all degrades to CPU figures plus a reason.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


@dataclass(frozen=True)
class GPUStatus:
    """None: not reported by this GPU (NVML said NOT_SUPPORTED or similar)."""

    name: str
    index: int  # NVML (physical, nvidia-smi) index of the GPU (for a MIG slice: its parent's)
    util_percent: float | None
    mem_used_bytes: int | None
    mem_total_bytes: int | None
    temperature_c: float | None
    power_w: float | None
    power_limit_w: float | None
    process_mem_bytes: int | None = None  # what this run's processes hold (the GPU may be shared)
    mig: bool = False  # a MIG slice: memory is the slice's, most other figures are the parent's or n/a


@dataclass(frozen=True)
class DeviceIds:
    """How the engine's torch names its CUDA device, so NVML finds the same one whatever the
    index order (CUDA's default order differs from NVML's on mixed machines)."""

    pci_bus_id: str | None = None  # "00000000:65:00.0", as NVML writes it
    uuid: str | None = None  # "GPU-..." or "MIG-..."


# NVML's answers for a figure a device does not report; anything else (GPU lost, driver gone)
# means the GPU cannot be probed at all.
_FIELD_ERRORS = (
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_NOT_FOUND",
    "NVML_ERROR_NO_DATA",
    "NVML_ERROR_FUNCTION_NOT_FOUND",
    "NVML_ERROR_INVALID_ARGUMENT",
)


@dataclass(frozen=True)
class CPUStatus:
    cpu_percent: float
    per_cpu: tuple[float, ...]
    ram_used_bytes: int
    ram_total_bytes: int
    process_rss_bytes: int  # with child processes (the dashboard's engine)
    torch_threads: int | None
    cpu_name: str


class SystemMonitor:
    """Polls the device the model trains on: "cuda[:N]" via NVML, anything else as CPU.

    CPU percentages are deltas since the previous poll (psutil keeps that baseline per
    thread, so poll from one thread). NVML is initialised on the first GPU poll; after any
    failure the monitor reports CPUStatus for good and says why in `gpu_unavailable_reason`.
    """

    def __init__(
        self,
        device: str = "cpu",
        torch_threads: int | None = None,
        *,
        device_ids: DeviceIds | None = None,
        engine_pid: int | None = None,
    ) -> None:
        self.device = str(device)
        self.gpu_unavailable_reason: str | None = None
        self._torch_threads = torch_threads
        self._ids = device_ids or DeviceIds()
        self._engine_pid = engine_pid  # the training job (maybe not our child): its GPU memory counts
        self._mig = False
        self._process: psutil.Process | None = _safe(psutil.Process, None)
        self._cpu_name: str | None = None
        self._nvml: Any = None  # the pynvml module once nvmlInit succeeded
        self._handle: Any = None
        self._gpu_name: str | None = None
        self._nvml_index: int | None = None
        self._cuda_index: int | None = None
        self._gpu_failed = False

        kind, _, index = self.device.strip().lower().partition(":")
        if kind == "cuda":
            try:
                self._cuda_index = int(index) if index else 0
                if self._cuda_index < 0:
                    raise ValueError
            except ValueError:
                self._give_up_gpu(f"GPU unavailable: bad device {self.device!r}")
        elif kind != "cpu":
            self._give_up_gpu(f"no GPU metrics for {self.device!r}; showing CPU")

        # Prime the non-blocking counters so the first poll shows a real figure, not 0.0.
        _safe(lambda: psutil.cpu_percent(interval=None), None)
        _safe(lambda: psutil.cpu_percent(interval=None, percpu=True), None)

    def poll(self) -> GPUStatus | CPUStatus:
        if self._cuda_index is not None and not self._gpu_failed:
            try:
                status = self._poll_gpu()
            except Exception as exc:  # NVMLError, or anything odd in a binding/driver
                self._give_up_gpu(f"NVML unavailable: {_describe(exc)}")
            else:
                if status is not None:
                    return status
        return self._poll_cpu()

    def close(self) -> None:
        """Shut NVML down if this monitor initialised it; safe to call more than once."""
        nvml, self._nvml, self._handle = self._nvml, None, None
        if nvml is not None:
            _safe(nvml.nvmlShutdown, None)

    def __enter__(self) -> SystemMonitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- GPU ---------------------------------------------------------------------------

    def _poll_gpu(self) -> GPUStatus | None:
        """GPUStatus, or None after recording why the GPU cannot be probed."""
        if self._handle is None and not self._open_gpu():
            return None
        nvml, handle, field = self._nvml, self._handle, self._field
        util = field(lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
        mem = field(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        temp = field(lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)))
        power_mw = field(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        limit_mw = field(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        if all(v is None for v in (util, mem, temp, power_mw)):
            raise RuntimeError("this GPU reports none of its figures")
        return GPUStatus(
            name=self._gpu_name or "GPU",
            index=self._nvml_index if self._nvml_index is not None else -1,
            util_percent=util,
            mem_used_bytes=None if mem is None else int(mem.used),
            mem_total_bytes=None if mem is None else int(mem.total),
            temperature_c=temp,
            power_w=None if power_mw is None else power_mw / 1000.0,
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            process_mem_bytes=field(self._process_gpu_memory),
            mig=self._mig,
        )

    def _field(self, read: Callable[[], T]) -> T | None:
        """read(), or None when NVML says this device does not report it."""
        try:
            return read()
        except self._nvml.NVMLError as exc:
            codes = {getattr(self._nvml, name, None) for name in _FIELD_ERRORS}
            if getattr(exc, "value", None) in codes:
                return None
            raise

    def _process_gpu_memory(self) -> int | None:
        """GPU memory held by this process, the engine's and their children; None when NVML
        lists none of them (another PID namespace, as in many containers) or hides the sizes."""
        nvml = self._nvml
        ours = {p.pid for p in _process_tree(os.getpid())}
        if self._engine_pid:
            ours |= {p.pid for p in _process_tree(self._engine_pid)}
        used = [
            p.usedGpuMemory for p in nvml.nvmlDeviceGetComputeRunningProcesses(self._handle) if p.pid in ours
        ]
        if not used or any(u is None for u in used):
            return None
        return int(sum(used))

    def _open_gpu(self) -> bool:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            self._give_up_gpu("NVML unavailable: nvidia-ml-py is not installed")
            return False
        try:
            pynvml.nvmlInit()
        except Exception as exc:
            self._give_up_gpu(f"NVML unavailable: {_describe(exc)}")
            return False
        self._nvml = pynvml  # from here on close() must shut it down

        assert self._cuda_index is not None
        target = _cuda_to_nvml(self._cuda_index, os.environ.get("CUDA_VISIBLE_DEVICES"))
        if target is None:
            self._give_up_gpu(f"GPU unavailable: cuda:{self._cuda_index} is not in CUDA_VISIBLE_DEVICES")
            return False
        handle = self._find_handle(pynvml, target)
        self._mig = bool(_optional(lambda: pynvml.nvmlDeviceIsMigDeviceHandle(handle)))
        parent = (
            _optional(lambda: pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle))
            if self._mig
            else handle
        )
        self._nvml_index = _optional(lambda: int(pynvml.nvmlDeviceGetIndex(parent)))
        if self._nvml_index is None and isinstance(target, int):
            self._nvml_index = target
        name = pynvml.nvmlDeviceGetName(handle)
        self._gpu_name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        self._handle = handle
        return True

    def _find_handle(self, pynvml: Any, target: int | str) -> Any:
        """The NVML handle of the device torch trains on. A MIG slice is named by its UUID (the
        PCI bus id would give the whole GPU); otherwise the engine's PCI bus id, which is right
        whatever order CUDA numbers devices in; without it, CUDA_VISIBLE_DEVICES's entry."""
        uuid = self._ids.uuid or ""
        if isinstance(target, str) and target.upper().startswith("MIG-"):
            return pynvml.nvmlDeviceGetHandleByUUID(target)
        if uuid.upper().startswith("MIG-"):
            return pynvml.nvmlDeviceGetHandleByUUID(uuid)
        if self._ids.pci_bus_id:
            return pynvml.nvmlDeviceGetHandleByPciBusId(self._ids.pci_bus_id)
        if isinstance(target, str):
            return pynvml.nvmlDeviceGetHandleByUUID(target)
        return pynvml.nvmlDeviceGetHandleByIndex(target)

    def _give_up_gpu(self, reason: str) -> None:
        self._gpu_failed = True
        if self.gpu_unavailable_reason is None:
            self.gpu_unavailable_reason = reason
        self.close()

    # -- CPU ---------------------------------------------------------------------------

    def _poll_cpu(self) -> CPUStatus:
        vm = _safe(psutil.virtual_memory, None)
        rss = 0
        if self._process is not None:
            rss = _safe(self._tree_rss, 0)
        if self._cpu_name is None:
            self._cpu_name = _safe(_cpu_name, "") or "unknown CPU"
        return CPUStatus(
            cpu_percent=_safe(lambda: float(psutil.cpu_percent(interval=None)), 0.0),
            per_cpu=_safe(
                lambda: tuple(float(p) for p in psutil.cpu_percent(interval=None, percpu=True)),
                (),
            ),
            # total - available, not vm.used: it counts what cannot be reclaimed, which is
            # what actually limits a training run.
            ram_used_bytes=int(vm.total - vm.available) if vm is not None else 0,
            ram_total_bytes=int(vm.total) if vm is not None else 0,
            process_rss_bytes=rss,
            torch_threads=self._current_torch_threads(),
            cpu_name=self._cpu_name,
        )

    def _tree_rss(self) -> int:
        """This process, the training job's (an attached dashboard's job is not our child) and
        their children."""
        procs = {p.pid: p for p in [self._process, *self._process.children(recursive=True)]}
        if self._engine_pid:
            procs.update((p.pid, p) for p in _process_tree(self._engine_pid))
        total = 0
        for proc in procs.values():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass  # it ended between the listing and the read
        return total

    def _current_torch_threads(self) -> int | None:
        if self._torch_threads is not None:
            return self._torch_threads
        torch = sys.modules.get("torch")  # only if the caller already paid for the import
        if torch is None:
            return None
        return _safe(lambda: int(torch.get_num_threads()), None)


def _cuda_to_nvml(cuda_index: int, visible: str | None) -> int | str | None:
    """NVML index (or UUID) that CUDA's device `cuda_index` refers to; None if hidden.

    Follows CUDA's parsing: entries up to the first invalid or negative one count. Without
    CUDA_DEVICE_ORDER=PCI_BUS_ID, CUDA may order mixed GPUs differently from NVML; that
    cannot be resolved without torch, so the indices are assumed to agree.
    """
    if visible is None:
        return cuda_index
    entries: list[int | str] = []
    for raw in visible.split(","):
        entry = raw.strip()
        if entry.upper().startswith(("GPU-", "MIG-")):
            entries.append(entry)
            continue
        try:
            number = int(entry)
        except ValueError:
            break
        if number < 0:
            break
        entries.append(number)
    return entries[cuda_index] if cuda_index < len(entries) else None


class GPUsMonitor:
    """Several GPUs (a multi-process run's, one per rank): poll() gives a status per GPU."""

    def __init__(self, monitors: list[SystemMonitor]) -> None:
        self.monitors = monitors
        self.gpu_unavailable_reason = next(
            (m.gpu_unavailable_reason for m in monitors if m.gpu_unavailable_reason), None
        )

    def poll(self) -> tuple[GPUStatus | CPUStatus, ...]:
        statuses = tuple(m.poll() for m in self.monitors)
        self.gpu_unavailable_reason = next(
            (m.gpu_unavailable_reason for m in self.monitors if m.gpu_unavailable_reason), None
        )
        return statuses

    def close(self) -> None:
        for monitor in self.monitors:
            monitor.close()


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_bytes(n: float) -> str:
    """Binary units, 1 decimal below 10 and none above: "512 B", "1.5 GiB", "512 MiB"."""
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < 1024:
        return f"{sign}{int(value)} B"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    for i, unit in enumerate(units):
        value /= 1024
        if value < 9.95:
            return f"{sign}{value:.1f} {unit}"
        # Move up a unit rather than print "1024 MiB".
        if value < 1023.5 or i == len(units) - 1:
            return f"{sign}{value:.0f} {unit}"
    raise AssertionError("unreachable")


def _optional(fn: Callable[[], T]) -> T | None:
    return _safe(fn, None)


def _safe(fn: Callable[[], T], default: T) -> T:
    try:
        return fn()
    except Exception:
        return default


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc).strip()
    except Exception:
        text = ""
    return (text or type(exc).__name__).lower()
