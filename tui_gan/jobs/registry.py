"""Where live jobs are found: `job.json` in each run folder, and a per-user list of live jobs.

A job writes RUN_DIR/job.json when it starts (pid, socket, state "running") and again when it
ends (its final state and exit code), and keeps an entry in the user's runtime folder
($XDG_RUNTIME_DIR/tui-gan, else /tmp/tui-gan-UID; TUI_GAN_RUNTIME_DIR overrides) for as long as
it lives, so `tui-gan ls` and `attach latest` find it wherever its run folder is. Both folders
are owner-only; a runtime folder that someone else owns or can write into is refused.
classify() says what a run folder's job is now (running, died, or how it ended) for every
command that shows one. This module imports no torch."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import os
import pickle
import shlex
import socket
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tui_gan.errors import TuiGanError
from tui_gan.fileio import atomic_write_bytes, temp_files

JOB_FILE = "job.json"
SOCKET_NAME = "job.sock"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes on Linux, 104 on macOS
_PEEK_MAX_BYTES = 64 << 20  # a checkpoint's data.pkl is a few KB (tensors are stored beside it)
_CLOCK_SLACK_S = 2.0  # create times are rounded to the boot time's second
HOST = socket.gethostname()  # job.json records it: a shared filesystem shows every machine's runs
# A job of another machine that has written nothing for this long may have died there (or be
# paused): it shows as "silent", and a resume may take its folder (before, one is refused).
REMOTE_SILENT_S = 900.0


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


def job_alive(info: JobInfo) -> bool:
    """Whether the process `info` names is still that job: a kill -9 leaves job.json saying
    "running", and later its pid may name another process (one that started after the job did,
    and does not listen on the job's socket)."""
    started = _process_start(info.pid)
    if started is None:
        return False
    if info.started and started > info.started + _CLOCK_SLACK_S:
        return _listening(info.socket)  # a clock set back must not make a live job look dead
    return True


def _process_start(pid: int) -> float | None:
    """When process `pid` started; None when there is none (or only its zombie)."""
    import psutil

    if pid <= 0 or not pid_alive(pid):
        return None
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process.create_time()
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        return 0.0  # cannot tell: as old as can be, so the job's


def _listening(path: Path) -> bool:
    """Someone accepts connections on the Unix socket at `path` (a stale socket file refuses)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
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
    host: str = ""  # where the job runs ("": a job from before hosts were recorded, this one)

    @property
    def elsewhere(self) -> bool:
        """The job runs on another machine (a run folder on a shared filesystem): its process
        and socket cannot be reached from here."""
        return bool(self.host) and self.host != HOST

    @property
    def live(self) -> bool:
        """Running here: its process can be checked and its socket reached."""
        return self.state == "running" and not self.elsewhere and job_alive(self)

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
            str(data.get("host", "")),
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
    """A run folder a new job may continue in: no live job there, here or on another machine."""
    other = read_job(Path(run_dir))
    if other is not None and other.live:
        raise JobError(
            f"{run_dir} is in use by a live job (pid {other.pid}); attach to it: tui-gan attach {run_dir}"
        )
    if other is not None and classify(Path(run_dir)).state == "running":  # on another machine
        raise JobError(f"{run_dir} is in use by a job on {other.host} (pid {other.pid}): {ssh_hint(other)}")


def ssh_hint(job: JobInfo) -> str:
    """What to do about a job of another machine, in a line."""
    return f"ssh {job.host} and run: tui-gan attach {shlex.quote(str(job.run_dir))}"


def remote_silence(job: JobInfo) -> float:
    """Seconds since a job of another machine last wrote its run folder (metrics.csv is written
    while it trains, job.json when it starts and ends)."""
    newest = max((_mtime(job.run_dir / name, 0.0) for name in (JOB_FILE, "metrics.csv")), default=0.0)
    return max(time.time() - newest, 0.0)


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
        if job_alive(info) and info.socket.exists():
            jobs.append(info)
        else:
            unregister(entry)  # killed without a chance to clean up (kill -9, a crash)
    return sorted(jobs, key=lambda j: j.started, reverse=True)


@dataclass
class RunStatus:
    """What a run folder's job is now: one answer for `tui-gan ls`, `attach` and whatever shows runs."""

    run_dir: Path
    # "running"; "died" (job.json says running but its process is gone: kill -9, a crash, a
    # reboot); how it ended ("completed", "stopped", "error", "SIGTERM", ...); or "finished"
    # (a run folder without job.json, from before jobs)
    state: str
    job: JobInfo | None
    step: int | None  # where it ended; for a died job, its last checkpoint's step
    when: float  # when it ended (a died job: its last checkpoint), else when it started
    checkpoint: Path | None = None  # a died job's: where a resume continues from

    @property
    def resume_command(self) -> str:
        return f"tui-gan train --resume {shlex.quote(str(self.run_dir))}"


def classify(run_dir: Path) -> RunStatus:
    """Whether the run folder's job runs, died, or ended (and how), from job.json and its process."""
    job = read_job(run_dir)
    if job is None:
        try:
            when = (run_dir / "config.json").stat().st_mtime
        except OSError:
            when = 0.0
        return RunStatus(run_dir, "finished", None, None, when)
    if job.state != "running":
        return RunStatus(run_dir, job.state, job, job.step, job.ended or job.started)
    if job.elsewhere:  # nothing to ask but its files: running while it writes them
        quiet = remote_silence(job) > REMOTE_SILENT_S
        return RunStatus(run_dir, "silent" if quiet else "running", job, None, job.started)
    if job_alive(job):
        return RunStatus(run_dir, "running", job, None, job.started)
    from tui_gan.cli.checkpoints import find_checkpoint  # what `--resume RUN_DIR` would pick

    checkpoint = find_checkpoint(run_dir, ("latest.pt",), job.arch or None)
    if checkpoint is None:
        return RunStatus(run_dir, "died", job, None, job.started)
    return RunStatus(
        run_dir, "died", job, checkpoint_step(checkpoint), _mtime(checkpoint, job.started), checkpoint
    )


def recent_runs(runs_root: Path, limit: int = 10) -> list[RunStatus]:
    """Run folders under runs_root with no live job (died ones too), newest first."""
    if not runs_root.is_dir():
        return []
    runs = [classify(folder) for folder in runs_root.iterdir() if (folder / "config.json").is_file()]
    runs = [run for run in runs if run.state != "running"]
    return sorted(runs, key=lambda r: r.when, reverse=True)[:limit]


def clear_stale(run_dir: Path) -> list[Path]:
    """Remove what a killed job left in its run folder: atomic writes' temp files (anywhere in
    it) and its socket. Refuses (JobError) while a live job uses the folder. Returns what went."""
    ensure_free(run_dir)
    stale = temp_files(run_dir)
    sock = socket_path(Path(run_dir))
    if sock.exists() or sock.is_symlink():
        stale.append(sock)
    for path in stale:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return stale


def checkpoint_step(path: Path) -> int | None:
    """A checkpoint's step, read without torch (`ls` stays fast); None when the file is not a
    checkpoint."""
    return peek_checkpoint(path).get("step")


def peek_checkpoint(path: Path) -> dict:
    """A checkpoint's plain fields (step, epoch, train_time...) read without torch: torch.save
    writes a zip whose data.pkl holds the payload's plain values; tensors are left as opaque
    stand-ins, and no class of the file is ever loaded. Empty when the file is not such a
    checkpoint."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            if archive.getinfo(name).file_size > _PEEK_MAX_BYTES:
                return {}
            data = _Peek(io.BytesIO(archive.read(name))).load()
    except (OSError, StopIteration, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, EOFError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


class _Opaque:
    """Stands in for every class a checkpoint's pickle names (tensors, storages)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


class _Peek(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return collections.OrderedDict if (module, name) == ("collections", "OrderedDict") else _Opaque

    def persistent_load(self, pid):
        return None  # a tensor's storage, kept in another entry of the zip


def _mtime(path: Path, default: float) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return default


def resolve_run(target: str | None, runs_root: Path) -> Path:
    """`attach`'s argument: a run folder, a path inside one (a checkpoint), or "latest" (the newest
    live job, else the newest run folder under runs_root)."""
    if target in (None, "latest"):
        jobs = live_jobs()
        if jobs:
            return jobs[0].run_dir
        runs = recent_runs(runs_root, limit=1)
        if not runs:
            raise JobError(f"no live job and no run folder under {runs_root} to attach to")
        return runs[0].run_dir
    path = Path(target).expanduser()
    for folder in (path, *path.parents):
        if (folder / "config.json").is_file() or (folder / JOB_FILE).is_file():
            return folder
    raise JobError(f"{target} is not a tui-gan run folder (no config.json or job.json there)")
