"""A live job's status message: what `tui-gan ls` and the workspace's runs list show of a job,
answered over its socket without attaching (no replay, no viewer). Built from what the job keeps
for viewers anyway, so answering costs the job next to nothing. Torch-free."""

from __future__ import annotations

import os
import socket

from tui_gan.training.runstate import RunState


def job_status(job) -> dict:
    """job: a jobs.server.Job. The engine's numbers as its events carry them (epoch 0-based);
    figures the job does not have yet are None."""
    started = job.started
    current = started.arch if started else job.config.arch
    stats = job.last_stats.get(current)
    step = stats.step if stats else (started.step if started else 0)
    rate = stats.images_per_s if stats else 0.0
    last = job.losses[current].last if current in job.losses else None
    quality = job.qualities[current][-1] if job.qualities.get(current) else None
    return {
        "op": "status",
        "run_dir": str(job.run_dir),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "arch": current,
        "state": job.last_state.state if job.last_state else RunState.STARTING.value,
        "step": step,
        "epoch": stats.epoch if stats else (started.epoch if started else 0),
        "epochs": started.epochs if started else job.config.epochs,
        "steps_per_epoch": started.steps_per_epoch if started else None,
        "total_steps": _total_steps(job, step),
        "steps_per_s": rate / job.config.batch_size,  # the global batch, whatever the process count
        "elapsed_s": stats.elapsed_s if stats else 0.0,
        "images_per_s": rate,
        "d_loss": last.d_loss if last else None,
        "g_loss": last.g_loss if last else None,
        "fd": quality.report.frechet_distance if quality else None,
        "classes": quality.report.classes_covered if quality else None,
        "device": started.device if started else job.config.device,
        **_gpu(job.engine),
        "viewers": len(job.viewers),
    }


def _total_steps(job, step: int) -> int | None:
    """Where training ends: --epochs, or sooner --max-steps (counted from this job's start)."""
    started = job.started
    if started is None:
        return None
    total = started.epochs * started.steps_per_epoch
    done_here = getattr(job.engine, "steps_this_run", None)
    if job.config.max_steps is not None and done_here is not None:
        total = min(total, step + job.config.max_steps - done_here)
    return total


def _gpu(engine) -> dict:
    """The GPU's utilisation and this run's memory on it, as the run's TensorBoard probe last read
    them (every 10 s while TensorBoard logs); None without such a reading (CPU, --no-tensorboard)."""
    reading = getattr(getattr(engine, "outputs", None), "last_system", None)
    util = getattr(reading, "util_percent", None)
    memory = getattr(reading, "process_mem_bytes", None) or getattr(reading, "mem_used_bytes", None)
    return {"gpu_util": util, "gpu_mem_bytes": memory}
