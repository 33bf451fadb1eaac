"""The workspace's data: every run of this user as a RunRow (the runs list, `tui-gan ls`) and as
a RunSeries (the compare charts), from run folders and live jobs' sockets.

A row reads only small files: config.json, job.json, the metrics digest (summary.npz) and the
few metrics.csv rows after it, quality.csv; a live job's figures come from its status message
instead. So a scan of many long runs takes a fraction of a second, and costs a live job nothing
it would notice. Run folders are input like any other: a damaged one gives a row that says what
is wrong (state "damaged", `problem`), never an exception. Torch-free."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tui_gan.jobs import registry
from tui_gan.jobs.runfiles import LossPoints, read_metrics, read_quality
from tui_gan.sweeps.state import SWEEP_FILE  # a folder holding it groups the run folders inside
from tui_gan.workspace.model import RunRow, RunSeries

STATUS_TIMEOUT_S = 3.0  # a job that does not answer its status in this long shows as damaged
DAMAGED = "damaged"


def scan_runs(runs_root: Path) -> list[RunRow]:
    """This user's live jobs (newest first, wherever their folders are), then the run folders
    under runs_root and one level down in its sweep folders (newest first); each run once. Raises
    JobError only for an unsafe runtime folder (registry.runtime_dir)."""
    jobs = registry.live_jobs()
    rows = [_guarded(job.run_dir, _live_row, job, status) for job, status in zip(jobs, _statuses(jobs))]
    seen = {canonical(job.run_dir) for job in jobs}
    others = []
    for found, unreadable in _run_folders(runs_root):
        folder = canonical(found)
        if folder in seen:
            continue
        seen.add(folder)
        if unreadable:
            problem = f"cannot read the folder: {unreadable}"
            others.append(_damaged(folder, {}, problem, sweep=_sweep_of(folder)))
        else:
            others.append(_guarded(folder, _folder_row, folder))
    return rows + sorted(others, key=lambda row: row.when, reverse=True)


def read_row(run_dir: Path, status: dict | None = None) -> RunRow:
    """One run's row. `status`: its live job's status message, if the caller asked for it; when
    None and the folder's job runs, it is asked here."""
    run_dir = canonical(run_dir)
    if status is not None:
        job = registry.read_job(run_dir)
        if job is not None:
            return _guarded(run_dir, _live_row, job, status)
    return _guarded(run_dir, _folder_row, run_dir)


def canonical(run_dir: Path) -> Path:
    """The one path of a run folder (absolute, links resolved, as a job names its own): a run's
    colour is picked by its path, and must not change when a relative path names it."""
    return Path(os.path.realpath(run_dir))


def _statuses(jobs: list[registry.JobInfo]) -> list[dict | None]:
    """Every live job asked at once: a hung one costs the scan STATUS_TIMEOUT_S, not one each."""
    from tui_gan.jobs.client import query_status

    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(jobs), 8)) as pool:
        return list(pool.map(lambda job: query_status(job, STATUS_TIMEOUT_S), jobs))


def _run_folders(runs_root: Path) -> Iterator[tuple[Path, str | None]]:
    """(folder, why it cannot be read or None) for each run folder under runs_root and in its
    sweep folders. A folder that cannot be listed may be a run: it is given."""
    for child, names, unreadable in _children(runs_root):
        if unreadable or "config.json" in names:
            yield child, unreadable
        elif SWEEP_FILE in names:
            for grandchild, inner, why in _children(child):
                if why or "config.json" in inner:
                    yield grandchild, why


def _sweep_of(run_dir: Path) -> str | None:
    """The sweep a run belongs to: the folder holding it, if that holds sweep.json (a live job's
    too, wherever it is)."""
    try:
        return run_dir.parent.name if (run_dir.parent / SWEEP_FILE).is_file() else None
    except OSError:
        return None


def _children(folder: Path) -> Iterator[tuple[Path, set[str], str | None]]:
    """(sub-folder, the names in it, why it cannot be listed) for each sub-folder of `folder`."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            if not entry.is_dir():
                continue
        except OSError:
            continue
        try:
            yield Path(entry.path), set(os.listdir(entry.path)), None
        except OSError as exc:
            yield Path(entry.path), set(), exc.strerror or str(exc)


def _guarded(run_dir: Path, build, *args) -> RunRow:
    """build(*args), or a damaged row saying what broke: a folder's files are arbitrary input,
    and one bad folder must not take the list down."""
    try:
        return build(*args)
    except Exception as exc:  # noqa: BLE001 - shown in the row, not raised into the screen
        return _damaged(run_dir, {}, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def _damaged(run_dir: Path, config: dict, problem: str, **fields) -> RunRow:
    return RunRow(
        run_dir=run_dir,
        name=_name(config, run_dir),
        arch=str(config.get("arch", "")),
        recipe="",
        state=DAMAGED,
        live=False,
        problem=problem,
        config=config,
        **fields,
    )


# --- rows ------------------------------------------------------------------------------------
def _folder_row(run_dir: Path) -> RunRow:
    """A run without a job that answers here: its files, and how its job ended or that it died."""
    run = registry.classify(run_dir)
    elsewhere = run.job is not None and run.job.elsewhere
    if run.state == "running" and not elsewhere:  # a job of another runtime folder (the scan asked its own)
        from tui_gan.jobs.client import query_status

        return _live_row(run.job, query_status(run.job, STATUS_TIMEOUT_S))
    problems: list[str] = []
    config = _config(run_dir, problems)
    arch = _arch(config, run.job)
    metrics = read_metrics(run_dir, problems=problems, series=False)
    points = metrics.get(arch)
    last = points.last if points is not None else None
    figures = {
        "step": last.step if last else 0,
        "epoch": last.epoch + 1 if last else 0,
        "images_per_s": points.images_per_s if last else None,
        "d_loss": last.d_loss if last else None,
        "g_loss": last.g_loss if last else None,
        "device": str(config.get("device_resolved", "")),
    }
    if run.state == "died":
        problems.insert(0, _died(run))
    pid = run.job.pid if run.state == "died" or elsewhere else None
    if elsewhere:  # read from its files; what can be done about it is said on its machine
        figures["host"] = run.job.host
        row = _row(run_dir, config, arch, run.state, figures, problems, pid=pid, when=run.when)
        on = f"trains on {run.job.host}" if run.state == "running" else _silent(run.job)
        return dataclasses.replace(row, problem="; ".join([on, *([row.problem] if row.problem else [])]))
    return _row(run_dir, config, arch, run.state, figures, problems, pid=pid, when=run.when)


def _silent(job: registry.JobInfo) -> str:
    minutes = registry.remote_silence(job) / 60
    return (
        f"its job on {job.host} has written nothing for {minutes:.0f} min (paused, or died there; "
        f"if it died: tui-gan train --resume {job.run_dir})"
    )


def _live_row(job: registry.JobInfo, status: dict | None) -> RunRow:
    """A live job's row: its figures from its status message, its history from quality.csv. A job
    that did not answer is damaged, unless it has ended meanwhile."""
    if status is None and registry.classify(job.run_dir).state != "running":
        return _folder_row(job.run_dir)
    problems: list[str] = []
    config = _config(job.run_dir, problems)
    if status is None:
        problem = f"its job (pid {job.pid}) does not answer on {job.socket}"
        sweep = _sweep_of(job.run_dir)
        return _damaged(job.run_dir, config, problem, sweep=sweep, pid=job.pid, when=job.started)
    arch = str(status.get("arch") or _arch(config, job))
    step, steps_per_s, total = status.get("step", 0), status.get("steps_per_s"), status.get("total_steps")
    figures = {
        "step": step,
        # the epoch its last step is in, from 1; a run past its last epoch is in its last
        "epoch": min(status.get("epoch", 0) + 1, status.get("epochs") or 1 << 62) if step else 0,
        "epochs": status.get("epochs"),
        "images_per_s": status.get("images_per_s"),
        "d_loss": status.get("d_loss"),
        "g_loss": status.get("g_loss"),
        "fd": status.get("fd"),
        "classes": status.get("classes"),
        "eta_s": max(total - step, 0) / steps_per_s if total and steps_per_s else None,
        "host": str(status.get("host", "")),
        "device": _device(status),
        "viewers": status.get("viewers"),
    }
    state = str(status.get("state", "running"))
    fields = {"live": True, "pid": job.pid, "when": job.started}
    return _row(job.run_dir, config, arch, state, figures, problems, **fields)


def _row(run_dir, config, arch, state, figures, problems, **fields) -> RunRow:
    """The row from what either kind of run gave, plus quality.csv and the recipe. Damage turns
    a run that is not live into a damaged one; a live one keeps its state, with the problem."""
    quality = read_quality(run_dir, problems=problems).get(arch, [])
    fds = tuple(float(q.report.frechet_distance) for q in quality)
    finite = [fd for fd in fds if math.isfinite(fd)]
    recipe = _recipe(config, arch, problems)
    if problems and not fields.get("live") and state != "died":
        state = DAMAGED
    said_fd, said_classes = figures.pop("fd", None), figures.pop("classes", None)  # a status's
    evaluated = {
        "fd": fds[-1] if fds else said_fd,
        "classes": quality[-1].report.classes_covered if quality else said_classes,
    }
    epochs = figures.pop("epochs", None) or config.get("epochs")
    return RunRow(
        run_dir=run_dir,
        name=_name(config, run_dir),
        arch=arch,
        recipe=recipe,
        state=state,
        live=bool(fields.pop("live", False)),
        epochs=_int(epochs),
        fd_history=fds,
        best_fd=min(finite) if finite else None,
        sweep=_sweep_of(run_dir),
        problem="; ".join(problems) or None,
        config=config,
        **evaluated,
        **figures,
        **fields,
    )


# --- what the files say ----------------------------------------------------------------------
def _config(run_dir: Path, problems: list[str]) -> dict[str, Any]:
    """config.json's settings; {} and a problem when it cannot be read or holds no settings."""
    try:
        data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append("no config.json")
        return {}
    except OSError as exc:
        problems.append(f"config.json: {exc.strerror or exc}")
        return {}
    except ValueError:
        problems.append("config.json is not JSON")
        return {}
    if not isinstance(data, dict):
        problems.append("config.json holds no settings")
        return {}
    return data


def _name(config: dict, run_dir: Path) -> str:
    name = config.get("name")
    return name if isinstance(name, str) and name else run_dir.name


def _arch(config: dict, job: registry.JobInfo | None) -> str:
    """The architecture the run trains now: job.json's (a run may switch), else the one it began."""
    if job is not None and job.arch:
        return job.arch
    return str(config.get("arch", ""))


def _recipe(config: dict, arch: str, problems: list[str]) -> str:
    """The recipe `arch` trains with under config.json's settings, in a few words."""
    from tui_gan.config import TrainConfig
    from tui_gan.errors import ConfigError
    from tui_gan.training import recipes

    if not config:
        return ""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {"recipe": "seed", **{k: v for k, v in config.items() if k in known}}  # before recipes: seed
    try:
        settings = TrainConfig.from_dict(settings)
        return recipes.brief(recipes.resolve(settings, arch), bool(settings.conditional))
    except (TypeError, ValueError, ConfigError) as exc:
        problems.append(f"config.json: unusable recipe settings ({exc})"[:200])
        return ""


def _died(run: registry.RunStatus) -> str:
    """How a died job goes on: the command that resumes it, when there is a checkpoint."""
    if run.checkpoint is None:
        return "died before its first checkpoint: nothing to resume, start it again"
    step = "" if run.step is None else f" at step {run.step:,}"
    return f"died; its last checkpoint is{step}: continue it with {run.resume_command}"


def _device(status: dict) -> str:
    """ "cuda:0 45% 3.1G": the device, its utilisation and this run's memory, where known."""
    parts = [str(status.get("device", ""))]
    if status.get("gpu_util") is not None:
        parts.append(f"{status['gpu_util']:.0f}%")
    if status.get("gpu_mem_bytes"):
        parts.append(f"{status['gpu_mem_bytes'] / 2**30:.1f}G")
    return " ".join(parts)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def plain(row: RunRow) -> dict[str, Any]:
    """The row as JSON takes it (`tui-gan ls --json`): paths as strings, NaN and inf as null."""
    data = dataclasses.asdict(row)
    data.update(run_dir=str(row.run_dir), colour=row.colour)
    return _finite(data)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --- the compare charts' series --------------------------------------------------------------
def read_series(run_dir: Path, arch: str | None = None) -> RunSeries:
    """What the compare charts draw of `arch` (default: the architecture it trains now): FD at
    each evaluation against training time and step, the loss digest, img/s. At most LOSS_POINTS
    loss and img/s points and QUALITY_EVENTS evaluations, however long the run. A damaged file
    leaves its series empty, as does anything else that breaks (the folder is arbitrary input:
    its row says what is wrong). fd_time is empty for a run with no metrics rows (no clock)."""
    run_dir = canonical(run_dir)
    config = _config(run_dir, [])
    name = _name(config, run_dir)
    try:
        return _series(run_dir, name, arch or _arch(config, registry.read_job(run_dir)))
    except Exception:  # noqa: BLE001 - a chart without this run, never a broken screen
        return RunSeries(run_dir, name)


def _series(run_dir: Path, name: str, arch: str) -> RunSeries:
    points = read_metrics(run_dir).get(arch) or LossPoints()
    quality = read_quality(run_dir).get(arch, [])
    loss = np.array([p.row() for p in points.points()], dtype=np.float64).reshape(-1, 6)
    clock = np.array(points.timing.values(), dtype=np.float64).reshape(-1, 3)
    fd_step = tuple(q.step for q in quality)
    return RunSeries(
        run_dir=run_dir,
        name=name,
        fd_time=_training_times(fd_step, clock, points),
        fd_step=fd_step,
        fd=tuple(float(q.report.frechet_distance) for q in quality),
        loss_step=tuple(loss[:, 0].tolist()),
        d_loss=tuple(loss[:, 2].tolist()),
        g_loss=tuple(loss[:, 3].tolist()),
        rate_step=tuple(clock[:, 0].tolist()),
        images_per_s=tuple(clock[:, 2].tolist()),
    )


def _training_times(steps: tuple[int, ...], clock: np.ndarray, points: LossPoints) -> tuple[float, ...]:
    """Training seconds at each step, read off the clock: (step, time_s) bucket means, from step
    0 at 0 s to the last row's exact step and time."""
    if not steps or not len(clock):
        return ()
    xs, ts = [0.0, *clock[:, 0]], [0.0, *clock[:, 1]]
    if points.last is not None and points.last.step > xs[-1]:
        xs.append(points.last.step)
        ts.append(points.time_s)
    order = np.argsort(xs, kind="stable")
    return tuple(np.interp(steps, np.asarray(xs)[order], np.asarray(ts)[order]).tolist())
