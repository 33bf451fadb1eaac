"""A training job: the engine, plus a Unix socket any number of viewers attach to and leave.

The engine keeps its one-thread loop (a worker thread here); this process's main thread runs an
asyncio loop that owns everything else: it keeps what a late viewer needs (downsampled losses,
the sample grids, quality evaluations, recent log lines), serves the socket, and turns SIGTERM,
SIGHUP and SIGINT into "stop at the next step with a final checkpoint" (exit code 128+signal).

A slow viewer never slows training: the engine hands events to the loop without waiting, and
each viewer has its own queue and writer (jobs/viewer.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

from tui_gan.config import TrainConfig
from tui_gan.fileio import reason
from tui_gan.jobs import protocol as proto
from tui_gan.jobs import registry
from tui_gan.jobs.runfiles import (
    QUALITY_EVENTS,
    LossPoints,
    SampleStore,
    read_quality,
    rebuild_summary,
    truncate_after,
)
from tui_gan.jobs.status import job_status
from tui_gan.jobs.viewer import HELLO_TIMEOUT_S, Viewer, read_frame, same_user
from tui_gan.notify import EventHook
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.runstate import RunState

log = logging.getLogger("tui_gan.job")

LOG_EVENTS = 200  # recent event-log lines a viewer gets on attach
# SIGUSR1: what Slurm sends before the time limit with `--signal=USR1@90` (a requeued job then
# continues with `train --resume auto`).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1)
_LOGGED = (ev.Notice, ev.CheckpointSaved, ev.ArchSwitched, ev.Failed, ev.Finished)


class Job:
    """Owns an engine (`engine_class(config, emit, **kwargs)`) and serves it to viewers.

    linger: keep a finished or failed run open while a viewer is attached (the dashboard's jobs,
    so the user can still switch architecture); a job with no viewer ends when training does.
    reporter(event): called on the loop thread for every event (the headless console output)."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        resume: str | None = None,
        run_dir: str | Path | None = None,
        linger: bool = False,
        engine_class: type | None = None,
        reporter: Callable | None = None,
        **engine_kwargs,
    ) -> None:
        self.config = config
        self.resume = resume
        self._run_dir_arg = run_dir
        self.linger = linger
        self.reporter = reporter
        self.hook = EventHook(config.on_event) if config.on_event else None  # --on-event
        if engine_class is None:
            from tui_gan.training.engine import Engine as engine_class
        engine_kwargs.setdefault("stats_interval", 0.5)
        self.engine = engine_class(
            config,
            self._emit,
            resume=resume,
            run_dir=run_dir or True,
            exit_when_done=not linger,
            **engine_kwargs,
        )
        self.run_dir: Path | None = None
        self.socket_path: Path | None = None
        self.info: registry.JobInfo | None = None
        self._entry: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[ev.Event] = []  # emitted before the loop runs (setup notices)
        self._early_lock = threading.Lock()
        self.viewers: set[Viewer] = set()
        self._viewer_numbers = 0
        self.signal: int | None = None
        self._outcome: str | None = None  # how a lingering job's training ended, once it stops for that
        # what a viewer attaching now needs (only the loop thread touches these)
        self.losses: defaultdict[str, LossPoints] = defaultdict(LossPoints)
        self.samples: SampleStore | None = None
        self.qualities: defaultdict[str, deque] = defaultdict(lambda: deque(maxlen=QUALITY_EVENTS))
        self.log_events: deque[ev.Event] = deque(maxlen=LOG_EVENTS)
        self.started: ev.Started | None = None
        self.last_stats: dict[str, ev.Stats] = {}
        self.last_state: ev.StateChanged | None = None
        self.checkpoints: dict[str, ev.CheckpointSaved] = {}  # each architecture's last, for the status line
        # What each event type leaves for late viewers, by type (see _remember).
        self._keep: dict[type, Callable] = {
            ev.Started: self._keep_started,
            ev.Stats: self._keep_stats,
            ev.Samples: self._keep_samples,
            ev.Quality: self._keep_quality,
            ev.StateChanged: self._keep_state,
            ev.CheckpointSaved: self._keep_checkpoint,
        }

    # --- setup -----------------------------------------------------------------------------
    def setup(self) -> None:
        """Load data and weights, claim the run folder and its socket. Raises TuiGanError."""
        registry.runtime_dir()  # an unsafe runtime folder fails here, before anything trains
        if self._run_dir_arg:  # resuming in place: never under a job that still runs there (JobError),
            stale = registry.clear_stale(Path(self._run_dir_arg))  # and without what a killed one left
            if stale:
                names = ", ".join(sorted({p.name for p in stale}))[:200]
                self._emit(ev.Notice(self.config.arch, f"removed what a killed job left behind: {names}"))
        self.engine.setup()
        self.run_dir = Path(self.engine.run_dir.path).resolve()
        self.samples = SampleStore(self.run_dir)
        for name, state in self.engine.archs.items():  # a resumed run: its history so far
            if self.resume:
                truncate_after(self.run_dir, name, state.step)
                self.samples.drop_after(name, state.step)
            self.losses[name] = LossPoints.of(state.history)
        if self.resume:
            rebuild_summary(self.run_dir)
        for name, events in read_quality(self.run_dir).items():
            self.qualities[name].extend(events)
        self.socket_path = registry.socket_path(self.run_dir)

    def _bind(self) -> socket.socket:
        path = self.socket_path
        if path.exists() or path.is_symlink():
            path.unlink()  # a socket left by a killed job (setup checked that no live job owns it)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        return sock

    # --- running -----------------------------------------------------------------------------
    def serve(self, ready: Callable[[], None] | None = None) -> int:
        """Train and serve until the engine finishes; returns the process exit code.
        ready() is called once viewers can connect."""
        return asyncio.run(self._main(ready))

    async def _main(self, ready: Callable[[], None] | None) -> int:
        # Everything set up so far (torch, the data, the models) lives as long as the job: out of
        # the collector's sight, a full collection costs milliseconds instead of ~200 ms pauses.
        gc.freeze()
        loop = self._loop = asyncio.get_running_loop()
        sock = self._bind()
        server = await asyncio.start_unix_server(self._client, sock=sock)
        self.info = registry.JobInfo(
            self.run_dir,
            os.getpid(),
            self.socket_path,
            "running",
            self.config.arch,
            time.time(),
            host=registry.HOST,
        )
        registry.write_job(self.info)
        self._entry = registry.register(self.info)
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                loop.add_signal_handler(sig, self._on_signal, sig)
        with self._early_lock:
            early, self._early = self._early, None
        for event in early:
            self._on_event(event)
        if ready is not None:
            ready()
        done: asyncio.Future = loop.create_future()

        def train() -> None:
            try:
                reason = self.engine.run()
            except BaseException as exc:  # noqa: BLE001 - run() reports its own crashes; never hang the loop
                reason = "error"
                log.error("engine crashed: %s", exc)
            loop.call_soon_threadsafe(done.set_result, reason)

        threading.Thread(target=train, name="tui-gan-engine", daemon=True).start()
        try:
            reason = await done
        finally:
            server.close()
            await self._drain_viewers()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            self.socket_path.unlink(missing_ok=True)
            registry.unregister(self._entry)
            if self.hook is not None:
                self.hook.close()  # the last event's command may still be running
        reason = self._outcome or reason
        code = 128 + self.signal if self.signal else (1 if reason == "error" else 0)
        step = self.engine.current.step if self.engine.current else 0
        ended = signal.Signals(self.signal).name if self.signal else reason
        registry.write_job(
            dataclasses.replace(
                self.info,
                state=ended,
                ended=time.time(),
                step=step,
                arch=self.engine.current.name,
                exit_code=code,
            )
        )
        return code

    async def _drain_viewers(self) -> None:
        """Give viewers the last events (Finished) before the socket goes."""
        deadline = time.monotonic() + 2.0
        while any(v.queue or v.samples for v in self.viewers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for viewer in list(self.viewers):
            viewer.writer.close()

    def _on_signal(self, sig: int) -> None:
        if self.signal is None:
            self.signal = sig
            self.engine.send(cmd.Stop(checkpoint=True))
            self._on_event(
                ev.Notice(
                    self.engine.current.name if self.engine.current else self.config.arch,
                    f"{signal.Signals(sig).name}: stopping at the next step with a final checkpoint",
                    "warning",
                )
            )

    # --- events ------------------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:  # the engine thread (or setup's)
        with self._early_lock:
            if self._early is not None:
                self._early.append(event)
                return
        self._loop.call_soon_threadsafe(self._on_event, event)

    def _on_event(self, event: ev.Event) -> None:
        self._remember(event)
        if self.viewers:
            frame = proto.pack({"op": "event", "event": proto.encode_event(event)})
            for viewer in self.viewers:
                viewer.push(event, frame)
        if self.reporter is not None:
            self.reporter(event)
        if self.hook is not None:
            self.hook(event, str(self.run_dir) if self.run_dir else None)
        if isinstance(event, ev.StateChanged):
            self._maybe_end()

    def _remember(self, e: ev.Event) -> None:
        """Keep what a viewer attaching later needs (see replay)."""
        keep = self._keep.get(type(e))
        if keep is not None:
            keep(e)
        if isinstance(e, ev.CheckpointSaved) and e.routine:
            return  # no event-log line: the status line has it (replay's checkpoints)
        if isinstance(e, _LOGGED) or isinstance(e, ev.StateChanged) and RunState(e.state).ended:
            self.log_events.append(e)

    def _keep_started(self, e: ev.Started) -> None:
        self.started = e

    def _keep_stats(self, e: ev.Stats) -> None:
        self.losses[e.arch].extend(e.points)
        self.last_stats[e.arch] = e

    def _keep_samples(self, e: ev.Samples) -> None:
        try:
            self.samples.add(e)
        except OSError as exc:
            log.warning("could not keep a sample grid (the scrubber's history): %s", reason(exc))

    def _keep_quality(self, e: ev.Quality) -> None:
        self.qualities[e.arch].append(e)

    def _keep_state(self, e: ev.StateChanged) -> None:
        self.last_state = e

    def _keep_checkpoint(self, e: ev.CheckpointSaved) -> None:
        if not e.best:
            self.checkpoints[e.arch] = e

    def _maybe_end(self) -> None:
        """A lingering job with nobody watching ends once its training has ended."""
        state = self.last_state
        if self.linger and not self.viewers and state is not None and RunState(state.state).ended:
            self._outcome = (
                "completed" if state.state == RunState.FINISHED else "error"
            )  # not "stopped" by anyone
            self.engine.send(cmd.Stop(checkpoint=True))

    def replay(self) -> list[ev.Event]:
        """What a viewer attaching now gets before the live events: the run so far, then the
        current architecture's Started, its newest Stats (without points: they are in the
        replay), state and sample grid."""
        archs = list(dict.fromkeys([*self.losses, *self.samples.histories, *self.qualities]))
        samples = {}
        for arch in archs:
            history = self.samples.history(arch)
            samples[arch] = tuple(ev.Samples(arch, **vars(s)) for s in history.snapshots)
        out: list[ev.Event] = [
            proto.Replay(
                self.config.arch,
                histories={a: self.losses[a].points() for a in archs if a in self.losses},
                samples=samples,
                qualities={a: tuple(self.qualities[a]) for a in archs if a in self.qualities},
                log=tuple(self.log_events),
                checkpoints=dict(self.checkpoints),
                viewers=len(self.viewers) + 1,
            )
        ]
        if self.started is not None:
            out.append(self.started)
            arch = self.started.arch
            if arch in self.last_stats:
                out.append(dataclasses.replace(self.last_stats[arch], points=()))
            if self.last_state is not None:
                out.append(self.last_state)
        return out

    def status(self) -> dict:
        """For `tui-gan ls` and the workspace: a row's worth (jobs/status.py)."""
        return job_status(self)

    # --- viewers -----------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        viewer = None
        pump = None
        try:
            if not same_user(writer.get_extra_info("socket")):
                log.warning("refused a connection from another user")
                return
            hello = await asyncio.wait_for(read_frame(reader), HELLO_TIMEOUT_S)
            if hello.get("op") != "hello" or hello.get("v") != proto.VERSION:
                raise proto.ProtocolError(f"expected hello v{proto.VERSION}")
            if hello.get("role") == "status":
                writer.write(proto.pack(self.status()))
                await writer.drain()
                return
            if hello.get("role") == "control":  # one command from the shell (`tui-gan pause RUN`)
                command = proto.decode_command(hello.get("command"))
                log.info("control: %s", type(command).__name__)
                self.engine.send(command)
                writer.write(proto.pack({"op": "ok"}))
                await writer.drain()
                return
            self._viewer_numbers += 1
            viewer = Viewer(writer, self._viewer_numbers)
            # No await between the replay and joining: the viewer misses no event and sees none twice.
            writer.write(proto.pack({"op": "welcome", "v": proto.VERSION}))
            for event in self.replay():
                viewer.push(event, proto.pack({"op": "event", "event": proto.encode_event(event)}))
            self.viewers.add(viewer)
            pump = asyncio.ensure_future(viewer.pump())
            self._viewers_changed()
            while True:
                message = await read_frame(reader)
                if message.get("op") == "bye":
                    return
                if message.get("op") != "command":
                    raise proto.ProtocolError(f"unexpected {message.get('op')!r}"[:80])
                command = proto.decode_command(message.get("command"))
                log.info("viewer %d: %s", viewer.number, type(command).__name__)
                self.engine.send(command)
        except (EOFError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass  # the viewer left (detach, a closed terminal, a dropped link)
        except asyncio.CancelledError:
            pass  # the job is ending
        except proto.ProtocolError as exc:
            log.warning("dropped a viewer connection: %s", exc)
        finally:
            if pump is not None:
                pump.cancel()
            writer.close()
            if viewer is not None:
                self.viewers.discard(viewer)
                self._viewers_changed()
                self._maybe_end()

    def _viewers_changed(self) -> None:
        self._on_event(
            proto.Viewers(self.started.arch if self.started else self.config.arch, len(self.viewers))
        )


def setup_logging(stream=None, level: int = logging.INFO, line_format: str = "text") -> None:
    """Job log lines (viewers, dropped connections) to `stream` (default stderr: job.log when
    detached), dated and formatted as the job's own lines."""
    from tui_gan.loglines import RecordFormatter

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RecordFormatter(line_format))
    log.handlers[:] = [handler]
    log.setLevel(level)
