"""What the dashboard drives, and where it comes from: a viewer of a training job (tui_gan/jobs)
for users, an in-thread Engine for tests and platforms without Unix sockets. Both fit Driven."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tui_gan.config import TrainConfig
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev


class Driven(Protocol):
    """An engine as the App sees it: setup() may raise TuiGanError (DataUnavailable offers the
    synthetic digits); run() blocks in the App's worker thread until training ends and returns
    the reason; send() is called from the UI thread. Jobs also have `detachable` and detach()."""

    def setup(self) -> None: ...

    def run(self) -> str: ...

    def send(self, command: cmd.Command) -> None: ...


# engine_factory(config, emit, *, resume, exit_when_done, stats_interval) -> Driven
EngineFactory = Callable[..., Driven]
Emit = Callable[[ev.Event], None]
# monitor_factory(device, torch_threads, *, device_ids, engine_pid, devices) -> an object with .poll()
# (a status, or one per GPU), .gpu_unavailable_reason, .close()
MonitorFactory = Callable[..., object]


def job_engine_factory(
    run_dir: str | None = None, attach=None, start: Callable | None = None
) -> EngineFactory:
    """Engines for a user's dashboard: a new background job (resumed in `run_dir` if given, or
    started by `start(cancel)` -> JobInfo, as with --nproc), or `attach` (a live job's JobInfo, or a
    finished run's folder to replay). A job in its own process also never waits for this
    process's GIL. Without Unix sockets, the engine trains in the worker thread itself and ends
    with the dashboard."""

    def factory(config: TrainConfig, emit: Emit, *, resume: str | None = None, **kwargs) -> Driven:
        if os.name != "posix":
            from tui_gan.training.engine import Engine

            return Engine(config, emit, resume=resume, **kwargs)
        from tui_gan.jobs.client import JobClient, RunReplay

        if isinstance(attach, Path):
            return RunReplay(attach, emit)
        if attach is not None:
            return JobClient(emit, info=attach)
        if start is not None:
            return JobClient(emit, start=start)
        from tui_gan.jobs.launch import start_job

        return JobClient(
            emit,
            start=lambda cancel: start_job(
                config, resume=resume, run_dir=run_dir, linger=True, cancel=cancel
            ),
        )

    return factory


def default_monitor_factory(device: str, torch_threads: int | None, *, devices=(), **kwargs):
    """One device's monitor, or with `devices` (every rank's GPU of a multi-GPU run) one per GPU."""
    from tui_gan.system import DeviceIds, GPUsMonitor, SystemMonitor

    if len(devices) > 1:
        return GPUsMonitor(
            [
                SystemMonitor(
                    f"cuda:{i}",
                    torch_threads,
                    engine_pid=kwargs.get("engine_pid"),
                    device_ids=DeviceIds(*ids),
                )
                for i, ids in enumerate(devices)
            ]
        )
    return SystemMonitor(device, torch_threads, **kwargs)


def poll_system(
    monitor_factory: MonitorFactory,
    started: ev.Started,
    post: Callable,
    interval: float,
    stopped: Callable[[], bool],
    wait: Callable[[float], object],
) -> None:
    """In a worker thread: post a SystemPolled for the engine's device every `interval` seconds
    until `stopped()`. A broken probe costs the panel, never the run."""
    from tui_gan.system import DeviceIds
    from tui_gan.ui.messages import SystemPolled

    monitor = None
    try:
        monitor = monitor_factory(
            started.device,
            started.torch_threads,
            engine_pid=started.pid,
            device_ids=DeviceIds(started.device_pci_bus_id, started.device_uuid),
            devices=started.devices,
        )
        note = getattr(monitor, "gpu_unavailable_reason", None) or ""
        while not stopped():
            post(SystemPolled(monitor.poll(), note))
            wait(interval)
    except Exception as exc:
        post(SystemPolled(None, f"system status unavailable: {exc}"))
    finally:
        if monitor is not None:
            try:
                monitor.close()
            except Exception:
                pass
