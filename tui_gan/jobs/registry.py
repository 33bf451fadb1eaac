"""Where live jobs are found: `job.json` in each run folder, and a per-user list of live jobs.

A job writes RUN_DIR/job.json when it starts (pid, socket, state "running") and again when it
ends (its final state and exit code), and keeps an entry in the user's runtime folder
($XDG_RUNTIME_DIR/tui-gan, else /tmp/tui-gan-UID; TUI_GAN_RUNTIME_DIR overrides) for as long as
it lives, so `tui-gan ls` and `attach latest` find it wherever its run folder is. Both folders
are owner-only; a runtime folder that someone else owns or can write into is refused.
This module imports no torch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tui_gan.errors import TuiGanError
from tui_gan.fileio import atomic_write_bytes

JOB_FILE = "job.json"
SOCKET_NAME = "job.sock"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes on Linux, 104 on macOS


class JobError(TuiGanError):
    """A run folder or job that cannot be attached to (stale socket, not a run, in use)."""


def runtime_dir() -> Path:
    """The user's owner-only folder for live-job entries and sockets of deep run folders."""
    if os.environ.get("TUI_GAN_RUNTIME_DIR"):
        folder = Path(os.environ["TUI_GAN_RUNTIME_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "tui-gan"
    else:
        folder = Path("/tmp") / f"tui-gan-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise JobError(f"cannot create the runtime folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise JobError(
            f"refusing the runtime folder {folder}: it must be a folder only you can use (chmod 700)"
        )
    return folder


def socket_path(run_dir: Path) -> Path:
    """RUN_DIR/job.sock, or a short name in the runtime folder when the run folder is too deep
    for a Unix socket address."""
    run_dir = run_dir.resolve()
    inside = run_dir / SOCKET_NAME
    if len(os.fsencode(inside)) < _SUN_PATH_MAX:
        return inside
    digest = hashlib.sha1(os.fsencode(run_dir)).hexdigest()[:16]
    return runtime_dir() / f"{digest}.sock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, but not ours
        return True
    return True


@dataclass
class JobInfo:
    """What job.json (or a live-job entry) says."""

    run_dir: Path
    pid: int
    socket: Path
    state: str  # "running", or how it ended: "completed", "stopped", "max_steps", "error", "SIGTERM", ...
    arch: str = ""
    started: float = 0.0
    ended: float | None = None
    step: int | None = None
    exit_code: int | None = None

    @property
    def live(self) -> bool:
        return self.state == "running" and pid_alive(self.pid)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "run_dir": str(self.run_dir), "socket": str(self.socket)}

    @classmethod
    def from_dict(cls, data: dict) -> JobInfo:
        return cls(
            Path(data["run_dir"]),
            int(data["pid"]),
            Path(data["socket"]),
            str(data["state"]),
            str(data.get("arch", "")),
            float(data.get("started", 0.0)),
            data.get("ended"),
            data.get("step"),
            data.get("exit_code"),
        )


def read_job(run_dir: Path) -> JobInfo | None:
    """The run folder's job.json, or None when there is none (a run from before jobs, or none at all)."""
    try:
        return JobInfo.from_dict(json.loads((run_dir / JOB_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_job(info: JobInfo) -> None:
    atomic_write_bytes(info.run_dir / JOB_FILE, (json.dumps(info.to_dict(), indent=2) + "\n").encode())


def ensure_free(run_dir: str | Path) -> None:
    """A run folder a new job may continue in: no live job there."""
    other = read_job(Path(run_dir))
    if other is not None and other.live:
        raise JobError(
            f"{run_dir} is in use by a live job (pid {other.pid}); attach to it: tui-gan attach {run_dir}"
        )


def register(info: JobInfo) -> Path:
    entry = runtime_dir() / "jobs" / f"{info.pid}.json"
    atomic_write_bytes(entry, json.dumps(info.to_dict()).encode())
    return entry


def unregister(entry: Path | None) -> None:
    if entry is not None:
        try:
            entry.unlink()
        except OSError:
            pass


def live_jobs() -> list[JobInfo]:
    """This user's live jobs on this machine, newest first; entries of dead jobs are removed."""
    folder = runtime_dir() / "jobs"
    jobs = []
    for entry in folder.glob("*.json") if folder.is_dir() else ():
        try:
            info = JobInfo.from_dict(json.loads(entry.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid_alive(info.pid) and info.socket.exists():
            jobs.append(info)
        else:
            unregister(entry)  # killed without a chance to clean up (kill -9, a crash)
    return sorted(jobs, key=lambda j: j.started, reverse=True)


def finished_runs(runs_root: Path, limit: int = 10) -> list[JobInfo]:
    """Run folders under runs_root with no live job, newest first (those without job.json too)."""
    if not runs_root.is_dir():
        return []
    runs = []
    for folder in runs_root.iterdir():
        if not (folder / "config.json").is_file():
            continue
        info = read_job(folder)
        if info is not None and info.live:
            continue
        if info is None:
            mtime = (folder / "config.json").stat().st_mtime
            info = JobInfo(folder, 0, folder / SOCKET_NAME, "finished", started=mtime, ended=mtime)
        runs.append(info)
    return sorted(runs, key=lambda j: j.ended or j.started, reverse=True)[:limit]


def resolve_run(target: str | None, runs_root: Path) -> Path:
    """`attach`'s argument: a run folder, a path inside one (a checkpoint), or "latest" (the newest
    live job, else the newest run folder under runs_root)."""
    if target in (None, "latest"):
        jobs = live_jobs()
        if jobs:
            return jobs[0].run_dir
        runs = finished_runs(runs_root, limit=1)
        if not runs:
            raise JobError(f"no live job and no run folder under {runs_root} to attach to")
        return runs[0].run_dir
    path = Path(target).expanduser()
    for folder in (path, *path.parents):
        if (folder / "config.json").is_file() or (folder / JOB_FILE).is_file():
            return folder
    raise JobError(f"{target} is not a tui-gan run folder (no config.json or job.json there)")
