"""Starting a training job in the background: `tui-gan` (the dashboard then attaches to it) and
`tui-gan train --detach`.

The job is a fresh `python` in its own session with no terminal, so closing the terminal or
losing the SSH link (SIGHUP to the terminal's session) never reaches it, and nothing it prints
can tear a screen. Its settings go over its stdin as JSON; once it has loaded its data and its
socket listens it answers one JSON line on a pipe (or, if setup failed, which error and why),
then writes its log to RUN_DIR/job.log: plain lines, one event a line (--log-format).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tui_gan import errors
from tui_gan.config import TrainConfig
from tui_gan.jobs import registry

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the child imports this package as we did
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tui_gan.jobs.launch import child_main; child_main(int(sys.argv[2]))"
)
# Errors that cross from the child by name, so the dashboard can still tell them apart
# (DataUnavailable opens the synthetic-digits dialog).
_ERRORS = {
    cls.__name__: cls
    for cls in (
        errors.TuiGanError,
        errors.ConfigError,
        errors.DataError,
        errors.DataUnavailable,
        errors.CheckpointError,
        errors.RunDirError,
        registry.JobError,
    )
}


class JobStartFailed(errors.TuiGanError):
    """The job process died before it was ready."""


class JobStartCancelled(errors.TuiGanError):
    """The starter stopped waiting (the dashboard closed while its job was loading)."""

    def __init__(self, process: subprocess.Popen) -> None:
        super().__init__("stopped waiting for the training job to start")
        self.process = process


def start_job(
    config: TrainConfig,
    *,
    resume: str | None = None,
    run_dir: str | None = None,
    linger: bool = False,
    engine_class: str | None = None,
    engine_kwargs: dict | None = None,
    cancel: threading.Event | None = None,
) -> registry.JobInfo:
    """Start a job in the background; returns once it serves viewers. Raises what its setup raised,
    or JobStartCancelled when `cancel` is set first (the job itself goes on starting).

    engine_class: "module:Name" of an Engine subclass (benchmarks time steps with one)."""
    spec = {
        "config": config.to_dict(),
        "resume": resume,
        "run_dir": run_dir,
        "linger": linger,
        "engine_class": engine_class,
        "engine_kwargs": engine_kwargs or {},
        "sys_path": sys.path,
    }
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, _PACKAGE_ROOT, str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        finally:
            os.close(write_fd)  # only the child writes: end-of-file here means it answered or died
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
        except OSError:
            pass  # it died at once: the answer below says so
        with os.fdopen(read_fd, "rb") as answer:
            while cancel is not None and not select.select([answer], [], [], 0.2)[0]:
                if cancel.is_set():
                    raise JobStartCancelled(proc)
            line = answer.readline()
        try:
            result = json.loads(line)
        except ValueError:
            proc.wait()
            stderr.seek(0)
            last = (stderr.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1][:300]
            raise JobStartFailed(
                f"the training job died while starting (exit code {proc.returncode}): {last}"
            ) from None
    if not result.get("ok"):
        proc.wait()
        raise _ERRORS.get(result.get("error"), errors.TuiGanError)(result.get("message", "unknown error"))
    return registry.JobInfo(
        Path(result["run_dir"]), proc.pid, Path(result["socket"]), "running", config.arch, host=registry.HOST
    )


def start_torchrun(
    command: list[str], run_dir: Path, cancel: threading.Event | None = None
) -> registry.JobInfo:
    """Start torchrun (`command`) in the background with its output in RUN_DIR/job.log; returns
    once its rank 0 serves viewers from run_dir (a job that runs there), or raises why not (or
    JobStartCancelled once `cancel` is set)."""
    import time

    log = run_dir / "job.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    while True:
        job = registry.read_job(run_dir)
        if job is not None and job.state == "running" and job.socket.exists():
            return job
        if proc.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines()
            said = [line for line in lines if line.startswith("tui-gan: error:")]
            last = (said or lines or ["no output"])[-1].removeprefix("tui-gan: error: ")[:300]
            raise JobStartFailed(
                f"the training processes ended while starting (exit code {proc.returncode}): {last}"
            )
        if cancel is not None and cancel.is_set():
            raise JobStartCancelled(proc)
        time.sleep(0.1)


def child_main(answer_fd: int) -> None:
    from tui_gan.jobs.server import Job, setup_logging

    spec = json.loads(sys.stdin.buffer.read())
    _redirect(0, os.devnull, os.O_RDONLY)
    sys.path[:] = spec["sys_path"]

    def answer(result: dict) -> None:
        try:
            os.write(answer_fd, (json.dumps(result) + "\n").encode())
            os.close(answer_fd)
        except OSError:
            pass  # the starter is gone (its terminal closed): train on, attachable

    try:
        config = TrainConfig.from_dict(spec["config"]).validate()
        engine_class = None
        if spec["engine_class"]:
            module, _, name = spec["engine_class"].partition(":")
            engine_class = getattr(importlib.import_module(module), name)
        job = Job(
            config,
            resume=spec["resume"],
            run_dir=spec["run_dir"],
            linger=spec["linger"],
            engine_class=engine_class,
            **spec["engine_kwargs"],
        )
        job.setup()
    except errors.TuiGanError as exc:
        answer({"ok": False, "error": type(exc).__name__, "message": str(exc)})
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - told to the starter in one line, never a hang
        answer(
            {
                "ok": False,
                "error": "TuiGanError",
                "message": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            }
        )
        sys.exit(1)
    # From here on everything the job prints goes to its log in the run folder.
    log_path = job.run_dir / "job.log"
    _redirect(1, log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _redirect(2, log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    setup_logging(line_format=config.log_format)
    from tui_gan.headless import ConsoleReporter
    from tui_gan.loglines import LogWriter, StreamSink

    writer = LogWriter(config.log_format, StreamSink(sys.stdout))  # plain lines: job.log is a file
    job.reporter = ConsoleReporter(writer, config, log_every=30.0)
    code = job.serve(
        ready=lambda: answer({"ok": True, "run_dir": str(job.run_dir), "socket": str(job.socket_path)})
    )
    job.reporter.end(code, job.run_dir)
    sys.exit(code)


def _redirect(fd: int, path, flags: int) -> None:
    target = os.open(path, flags, 0o600)
    os.dup2(target, fd)
    os.close(target)
