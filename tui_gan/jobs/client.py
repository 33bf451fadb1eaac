"""The viewer's side: what the dashboard drives instead of an engine.

JobClient speaks to a live job over its socket; RunReplay opens a finished run from its folder,
read-only. Both have the engine's driving interface (setup, run, send) plus detach, so the App
treats them like any engine: run() in a thread worker hands each event to `emit`.
Torch-free: the dashboard's process imports this."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from tui_gan.config import pretty_name
from tui_gan.jobs import protocol as proto
from tui_gan.jobs import registry
from tui_gan.jobs.runfiles import SampleStore, read_metrics, read_quality
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState

CONNECT_TIMEOUT_S = 5.0


def connect(
    socket_path: Path,
    role: str = "viewer",
    run_dir: Path | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
    **hello,
) -> socket.socket:
    """A connected, greeted socket (`hello`: more of the greeting, a control role's command); a
    one-line JobError when no job answers there."""
    where = run_dir or socket_path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(socket_path))
        sock.sendall(proto.pack({"op": "hello", "v": proto.VERSION, "role": role, **hello}))
    except FileNotFoundError:
        sock.close()
        raise registry.JobError(f"no job is serving {where}: its socket is gone (the job died?)") from None
    except ConnectionRefusedError:
        sock.close()
        raise registry.JobError(f"no job is serving {where}: its socket is stale (the job died)") from None
    except OSError as exc:
        sock.close()
        raise registry.JobError(f"cannot reach the job of {where}: {exc.strerror or exc}") from None
    return sock


def query_status(info: registry.JobInfo, timeout: float = CONNECT_TIMEOUT_S) -> dict | None:
    """A live job's status line (for `tui-gan ls`), or None if it does not answer in `timeout` s."""
    try:
        sock = connect(info.socket, role="status", run_dir=info.run_dir, timeout=timeout)
    except registry.JobError:
        return None
    try:
        with sock:
            return proto.read_frame(sock)
    except (OSError, EOFError, proto.ProtocolError):
        return None


def send_command(info: registry.JobInfo, command: cmd.Command) -> None:
    """One command to a live job without attaching to it (the shell's `tui-gan pause RUN`): the
    job hands it to its engine as it does a dashboard's. A JobError when the job does not take it.
    A job from before the control role greets it as a viewer: the command then goes as a
    viewer's would, and the connection leaves at once."""
    sock = connect(info.socket, role="control", run_dir=info.run_dir, command=proto.encode_command(command))
    with sock:
        try:
            answer = proto.read_frame(sock)
            if answer.get("op") == "welcome":
                sock.sendall(proto.pack({"op": "command", "command": proto.encode_command(command)}))
                sock.sendall(proto.pack({"op": "bye"}))
            elif answer.get("op") != "ok":
                raise proto.ProtocolError(f"unexpected {answer.get('op')!r}")
        except (OSError, EOFError, proto.ProtocolError) as exc:
            raise registry.JobError(
                f"the job of {info.run_dir} did not take the command: {str(exc) or 'it hung up'}"
            ) from None


class JobClient:
    """A viewer of a live job. `start(cancel)` (optional) launches the job first and returns its
    JobInfo; it gives up when the threading.Event `cancel` is set (see detach)."""

    detachable = True

    def __init__(
        self,
        emit: Callable[[ev.Event], None],
        *,
        info: registry.JobInfo | None = None,
        start: Callable[[threading.Event], registry.JobInfo] | None = None,
    ) -> None:
        self.emit = emit
        self.info = info
        self._start = start
        self.sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._detached = False
        self._cancel = threading.Event()
        self._early: list[cmd.Command] = []

    @property
    def run_dir(self) -> Path | None:
        return self.info.run_dir if self.info else None

    def setup(self) -> None:
        if self._start is not None:
            from tui_gan.jobs.launch import JobStartCancelled

            try:
                self.info = self._start(self._cancel)
            except JobStartCancelled as exc:
                if any(isinstance(c, cmd.Stop) for c in self._early):
                    exc.process.terminate()  # q while it loaded: nothing trained yet, nothing to keep
                raise
        sock = connect(self.info.socket, run_dir=self.info.run_dir)
        try:
            welcome = proto.read_frame(sock)
        except (OSError, EOFError, proto.ProtocolError) as exc:
            sock.close()
            raise registry.JobError(f"the job of {self.info.run_dir} did not answer: {exc}") from None
        if welcome.get("op") != "welcome":
            sock.close()
            raise registry.JobError(f"the job of {self.info.run_dir} speaks another protocol version")
        sock.settimeout(None)
        with self._lock:
            self.sock = sock
            early, self._early = self._early, []
        for command in early:
            self.send(command)

    def run(self) -> str:
        """Relay events until the job ends or we detach: returns its Finished reason, "detached",
        or "error" when the job vanished without one."""
        reason = None
        try:
            while True:
                message = proto.read_frame(self.sock)
                if message.get("op") != "event":
                    continue
                event = proto.decode_event(message.get("event"))
                if isinstance(event, ev.Finished):
                    reason = event.reason
                self.emit(event)
        except (EOFError, OSError, proto.ProtocolError):
            pass
        finally:
            self.sock.close()
        if self._detached:
            return "detached"
        if reason is None:
            arch = self.info.arch if self.info else ""
            self.emit(
                ev.Failed(
                    arch,
                    "the training job ended without a word (killed?); its last checkpoint "
                    f"is in {self.run_dir}",
                )
            )
            self.emit(ev.StateChanged(arch, RunState.FAILED.value))
            return "error"
        return reason

    def send(self, command: cmd.Command) -> None:
        with self._lock:
            if self.sock is None:
                self._early.append(command)
                return
            try:
                self.sock.sendall(proto.pack({"op": "command", "command": proto.encode_command(command)}))
            except OSError:
                pass  # the job is gone: run() reports how

    def detach(self) -> None:
        """Leave the job running; run() returns "detached" (setup() stops waiting for a job
        still starting, which then trains on unwatched)."""
        self._detached = True
        self._cancel.set()
        with self._lock:
            if self.sock is None:
                return
            try:
                self.sock.sendall(proto.pack({"op": "bye"}))
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RunReplay:
    """A finished run, opened read-only from its folder: losses, quality and sample history."""

    detachable = True

    def __init__(self, run_dir: Path, emit: Callable[[ev.Event], None]) -> None:
        self.run_dir = run_dir
        self.emit = emit
        self.arch = ""  # the architecture shown (the run's last), once setup() has read the folder
        self._closed = threading.Event()
        self._events: list[ev.Event] = []

    def setup(self) -> None:
        try:
            config = json.loads((self.run_dir / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise registry.JobError(f"{self.run_dir} has no readable config.json: {exc}") from None
        job = registry.read_job(self.run_dir)
        losses = read_metrics(self.run_dir)
        qualities = read_quality(self.run_dir)
        archs = list(dict.fromkeys([*losses, *qualities]))
        arch = self.arch = (
            job.arch if job and job.arch else (archs[-1] if archs else config.get("arch", "mlp"))
        )
        samples = {
            a: tuple(ev.Samples(a, **vars(s)) for s in SampleStore.load(self.run_dir, a).snapshots)
            for a in dict.fromkeys([*archs, arch])
        }
        last = losses[arch].last if arch in losses else None
        step, epoch = (last.step, last.epoch) if last else (0, 0)
        batch = int(config.get("batch_size", 128)) or 1
        ended = job.state if job else "finished"
        self._events = [
            proto.Replay(
                arch,
                histories={a: p.points() for a, p in losses.items()},
                samples=samples,
                qualities={a: tuple(q) for a, q in qualities.items()},
                log=(),
                viewers=1,
                read_only=True,
                checkpoints=_last_checkpoints(self.run_dir, samples),
            ),
            ev.Started(
                arch,
                dataset=pretty_name(config.get("dataset", "")),
                device=config.get("device_resolved", "cpu"),
                run_dir=str(self.run_dir),
                steps_per_epoch=max(int(config.get("dataset_size", 0)) // batch, 1),
                epochs=int(config.get("epochs", 0)),
                step=step,
                epoch=epoch,
                params_g=0,
                params_d=0,
            ),
            ev.Stats(
                arch,
                points=(),
                step=step,
                epoch=epoch,
                epoch_progress=0.0,
                images_per_s=losses[arch].images_per_s if arch in losses else 0.0,
                elapsed_s=losses[arch].time_s if arch in losses else 0.0,
            ),
            ev.StateChanged(arch, _ended_state(ended).value, step),
            ev.Notice(
                arch,
                f"replay of a run that ended ({ended}): read-only; continue it with "
                f"tui-gan train --resume {self.run_dir}",
            ),
        ]

    def run(self) -> str:
        for event in self._events:
            self.emit(event)
        self._closed.wait()
        return "detached"

    def send(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Stop):
            self._closed.set()
            return
        self.emit(ev.Notice(self.arch, "this run has ended: the dashboard shows it read-only", "warning"))

    def detach(self) -> None:
        self._closed.set()


def _last_checkpoints(run_dir: Path, archs) -> dict[str, ev.CheckpointSaved]:
    """Each architecture's latest.pt as the status line shows it (step, training time then)."""
    found = {}
    for arch in archs:
        path = run_dir / "checkpoints" / arch / "latest.pt"
        fields = registry.peek_checkpoint(path)
        if isinstance(fields.get("step"), int):
            train_time = float(fields.get("train_time", 0.0))
            found[arch] = ev.CheckpointSaved(arch, str(path), fields["step"], train_time=train_time)
    return found


def _ended_state(outcome: str) -> RunState:
    """A finished run's state from how its job ended (job.json: completed, max_steps, SIGTERM, ...)."""
    finished = ("completed", "max_steps", "max_time", "collapsed", "pruned", "finished")
    return RunState.FINISHED if outcome in finished else RunState.STOPPED
