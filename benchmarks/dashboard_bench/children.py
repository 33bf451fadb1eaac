"""What `benchmarks/dashboard.py --child dashboard|viewer` runs: the two kinds of viewer whose
cost the benchmark measures. Each writes its results as JSON to --result for the parent."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .common import ENGINE_CLASS, first_line, write_child_result
from .jobs import CountingSocket, bench_config, timed_kwargs


def child_dashboard(args: argparse.Namespace) -> int:
    """The dashboard on this pty, its engine a job as a user's is; results as JSON to args.result."""
    result: dict = {"mode": "dashboard", "arch": args.arch, "steps": args.steps}
    status_fd = args.status_fd

    def status(line: str) -> None:  # one short line per event worth telling the parent about
        if status_fd is None:
            return
        try:
            os.write(status_fd, (line + "\n").encode())
        except OSError:
            pass  # the parent is gone: the pty hang-up ends us soon enough

    try:
        from timed_engine import thread_cpu  # noqa: I001 - benchmarks/ is sys.path[0]

        from tui_gan.jobs.client import JobClient
        from tui_gan.jobs.launch import start_job
        from tui_gan.training import commands as cmd
        from tui_gan.training import events as ev
        from tui_gan.ui.app import TuiGanApp

        states: list[tuple[float, str, int]] = []  # as they reached the app
        stats: list[tuple[float, float, int]] = []
        toggles: list[float] = []  # when the app handed TogglePause to the client (UI thread)
        failures: list[str] = []
        ui_cpu: list[tuple[float, dict]] = []  # the dashboard process's threads, while training

        def record(event) -> None:
            t = time.monotonic()
            if isinstance(event, ev.StateChanged):
                if event.state == "finished" and ui_cpu:
                    ui_cpu.append((t, thread_cpu()))
                states.append((t, event.state, event.step))
                status(f"state {event.state} {event.step} {t!r}")
            elif isinstance(event, ev.Stats):
                if not stats:
                    status(f"first {t!r}")
                if event.step > args.warmup and not ui_cpu:
                    ui_cpu.append((t, thread_cpu()))
                stats.append((t, event.images_per_s, event.step))
            elif isinstance(event, ev.Failed):
                failures.append(event.message)
                status(f"failed {event.message}")

        timing_path = Path(f"{args.result}.timing")
        config = bench_config(args.arch, args.steps, args.dataset, args.device, args.runs_dir)
        engine_kwargs = timed_kwargs(args, timing_path)
        if args.switch_interval:  # the UI process too
            sys.setswitchinterval(args.switch_interval / 1000)

        class TimedClient(JobClient):
            """The dashboard's viewer of its job, noting when the app hands it a pause."""

            def send(self, command) -> None:
                if isinstance(command, cmd.TogglePause):
                    toggles.append(time.monotonic())
                super().send(command)

            def setup(self) -> None:
                try:
                    super().setup()
                except Exception as exc:  # the dashboard would show it and wait: tell the parent
                    status(f"failed setup: {first_line(exc)}")
                    raise

        def engine_factory(config, emit, *, resume=None, **_):
            # exit_when_done and stats_interval are the job's business (linger=True, 0.5 s), as
            # in the app's own job_engine_factory
            def both(event) -> None:
                record(event)
                emit(event)

            def start(cancel):
                info = start_job(
                    config,
                    resume=resume,
                    linger=True,
                    engine_class=ENGINE_CLASS,
                    engine_kwargs=engine_kwargs,
                    cancel=cancel,
                )
                status(f"job {info.pid} {info.run_dir}")
                return info

            return TimedClient(both, start=start)

        app = TuiGanApp(config, engine_factory=engine_factory)
        app.run()
        result["return_code"] = app.return_code
        end = time.monotonic() + 10.0  # the job writes its timing as its engine returns, before it hangs up
        while not timing_path.exists() and time.monotonic() < end:
            time.sleep(0.05)
        timing = json.loads(timing_path.read_text())
        result.update(timing)
        failures += timing.pop("engine_failures", [])
        result.update(states=states, stats=stats, toggles=toggles, failures=failures, ui_cpu=ui_cpu)
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the parent gets a reason
        result["error"] = first_line(exc)
    return write_child_result(args.result, result)


def child_viewer(args: argparse.Namespace) -> int:
    """A plain viewer: told the job on stdin, attaches, says "attached" on stdout once it has the
    Replay, decodes every event until the job hangs up; results as JSON to args.result."""
    result: dict = {}
    try:
        from tui_gan.jobs import protocol as proto
        from tui_gan.jobs.client import JobClient
        from tui_gan.jobs.registry import JobInfo

        line = sys.stdin.readline()
        if not line:
            return 0  # the parent gave up before the job served
        job = json.loads(line)
        info = JobInfo(Path(job["run_dir"]), int(job["pid"]), Path(job["socket"]), "running")
        chunks: list[tuple[float, int]] = []
        counts: dict[str, int] = {}
        cpu0 = time.process_time()
        t0 = time.monotonic()

        def emit(event) -> None:
            name = type(event).__name__
            counts[name] = counts.get(name, 0) + 1
            if isinstance(event, proto.Replay):
                result.update(replay_at=time.monotonic(), replay_bytes=sum(n for _, n in chunks))
                print(f"attached {result['replay_at']!r}", flush=True)

        client = JobClient(emit, info=info)
        client.setup()
        result["setup_s"] = time.monotonic() - t0
        client.sock = CountingSocket(client.sock, chunks)
        result["reason"] = client.run()
        result.update(
            attached_at=t0,
            ended_at=time.monotonic(),
            cpu_s=time.process_time() - cpu0,
            chunks=chunks,
            counts=counts,
        )
    except BaseException as exc:  # noqa: BLE001
        result["error"] = first_line(exc)
    return write_child_result(args.result, result)
