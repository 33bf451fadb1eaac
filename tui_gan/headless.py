"""`tui-gan train --headless`: a training job in this process, with log lines (and a Rich progress
bar on a terminal); viewers can attach to it like to any job (`tui-gan attach`). The same log
lines go to job.log for a job running in the background (tui_gan/loglines.py writes them)."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tui_gan.config import TrainConfig
from tui_gan.jobs.protocol import Viewers
from tui_gan.jobs.server import Job, setup_logging
from tui_gan.loglines import ConsoleSink, LogWriter, Record, StreamSink, plain_fields
from tui_gan.training import events as ev


def describe(point: ev.StepPoint) -> str:
    return f"D {point.d_loss:.3f}  G {point.g_loss:.3f}  D(x) {point.d_real:.2f}  D(G(z)) {point.d_fake:.2f}"


class ConsoleReporter:
    """Turns a job's events into log lines through `writer` (a terminal's or a file's, text or
    JSON: the caller chose), and moves the progress bar when `progress` is given."""

    def __init__(
        self, writer: LogWriter, config: TrainConfig, log_every: float, progress: Progress | None = None
    ) -> None:
        self.writer = writer
        self.epochs = config.epochs
        self.max_steps = config.max_steps
        self.log_every = log_every
        self.progress = progress
        self.task = None
        self.last_log = time.monotonic()
        self.latest: ev.StepPoint | None = None
        self.failed = False
        self.finished: ev.Finished | None = None
        self.arch = config.arch  # the architecture training now
        self.summary = ""
        self.viewers = 0
        self._handlers = {  # what each event type logs, by type
            ev.Started: self._started,
            ev.Stats: self._stats,
            ev.Quality: self._quality,
            ev.CheckpointSaved: self._checkpoint,
            ev.Notice: self._notice,
            ev.Failed: self._failed,
            Viewers: self._viewers,
            ev.Finished: self._finished,
        }

    def log(self, event: ev.Event, text: str, level: str = "info", **extra) -> None:
        """A line about `event`: its plain fields (and `extra`) go along for JSON lines."""
        fields = {**plain_fields(event), **extra}
        self.writer.write(Record(text, type(event).__name__, event.arch, fields, level))

    def __call__(self, event: ev.Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def end(self, code: int, run_dir) -> None:
        """The last line: how the run ended (the Finished event's fields) and the exit code."""
        level = "error" if self.failed else "info"
        if self.finished is not None:
            self.log(self.finished, f"{self.summary} (exit code {code})", level, exit_code=code)
            return
        fields = {"run_dir": str(run_dir), "exit_code": code}
        text = f"stopped. Run folder: {run_dir} (exit code {code})"
        self.writer.write(Record(text, "Ended", self.arch, fields, level))

    def _started(self, event: ev.Started) -> None:
        self.arch = event.arch
        recipe = f"; {event.arch} trains with {event.recipe}" if event.recipe else ""
        self.log(
            event,
            f"training {event.arch}{f' ({event.built})' if event.built else ''} on {event.dataset} "
            f"({event.device}), {event.steps_per_epoch} "
            f"steps/epoch, {event.epochs} epochs; run folder {event.run_dir}{recipe}",
        )
        if self.progress is not None and self.task is None:
            total = event.epochs * event.steps_per_epoch
            if self.max_steps is not None:
                total = min(total, event.step + self.max_steps)
            self.task = self.progress.add_task(event.arch, total=total, completed=event.step, rate="-")

    def _stats(self, event: ev.Stats) -> None:
        if event.points:
            self.latest = event.points[-1]
        if self.task is not None:
            self.progress.update(
                self.task,
                completed=event.step,
                rate=f"{event.images_per_s:,.0f}",
                description=f"{event.arch} epoch {event.epoch + 1}/{self.epochs}",
            )
        if self.latest is not None and time.monotonic() - self.last_log >= self.log_every:
            self.last_log = time.monotonic()
            ranks = (
                f" (ranks: {', '.join(f'{r:,.0f}' for r in event.rank_images_per_s)})"
                if event.rank_images_per_s
                else ""
            )
            losses = {k: v for k, v in plain_fields(self.latest).items() if k not in ("step", "epoch")}
            self.log(
                event,
                f"epoch {event.epoch + 1} step {event.step}  {describe(self.latest)}  "
                f"{event.images_per_s:,.0f} img/s{ranks}",
                **losses,
            )

    def _quality(self, event: ev.Quality) -> None:
        r = event.report
        self.log(
            event,
            f"quality at step {event.step}: {r.classes_covered}/10 classes, "
            f"confidence {r.mean_confidence:.2f}, score {r.classifier_score:.2f}, "
            f"Frechet {r.frechet_distance:.2f} (real {event.real_floor:.2f})"
            + (f", {r.accuracy:.1%} drawn as the digit asked for" if r.accuracy is not None else ""),
        )

    def _checkpoint(self, event: ev.CheckpointSaved) -> None:
        # Routine ones too (the dashboard leaves them to its status line): a log is read after the
        # fact, where "which step can this run resume from?" is a grep, and 10m apart they are few.
        self.log(event, f"checkpoint written: {event.path}{' (routine)' if event.routine else ''}")

    def _notice(self, event: ev.Notice) -> None:
        self.log(event, event.message, event.level)

    def _failed(self, event: ev.Failed) -> None:
        self.failed = True
        where = f" (traceback in {event.traceback_path})" if event.traceback_path else ""
        self.log(event, f"error: {event.message}{where}", "error")

    def _viewers(self, event: Viewers) -> None:
        came = "attached" if event.count > self.viewers else "left"
        self.viewers = event.count
        self.log(event, f"a dashboard {came} ({event.count} watching)")

    def _finished(self, event: ev.Finished) -> None:
        self.finished = event
        last = f" last: {describe(self.latest)}." if self.latest else ""
        self.summary = f"{event.reason}: {event.arch} at step {event.step}.{last} Run folder: {event.run_dir}"


def run_headless(
    config: TrainConfig,
    resume: str | None = None,
    run_dir: str | None = None,
    log_every: float = 10.0,
    stream: TextIO | None = None,
) -> int:
    """Train to the end in this process. SIGINT (ctrl+c), SIGTERM and SIGHUP stop at the next step
    with a final checkpoint (exit code 128 + the signal). Returns the exit code.

    On a terminal the lines scroll above a progress bar; into a file or pipe (`> run.log`) they
    are plain lines in config.log_format, and no bar."""
    stream = stream or sys.stdout
    progress = None
    if stream.isatty():
        console = Console(file=stream, highlight=False)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        sink = ConsoleSink(console)
    else:
        sink = StreamSink(stream)
    reporter = ConsoleReporter(LogWriter(config.log_format, sink), config, log_every, progress)
    job = Job(config, resume=resume, run_dir=run_dir, reporter=reporter)
    job.setup()  # bad input raises TuiGanError here, before anything trains
    # dropped viewer connections to stderr, in the same format; attaches get a log line anyway
    setup_logging(level=logging.WARNING, line_format=config.log_format)
    with progress or contextlib.nullcontext():
        reporter(ev.Notice(config.arch, f"attach a dashboard: tui-gan attach {job.run_dir}"))
        code = job.serve()
    code = code or (1 if reporter.failed else 0)
    reporter.end(code, job.run_dir)
    return code
