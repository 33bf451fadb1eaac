"""`tui-gan train --headless`: the engine in a worker thread, a Rich progress bar and log lines."""

from __future__ import annotations

import queue
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tui_gan.config import TrainConfig
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.engine import Engine


def describe(point: ev.StepPoint) -> str:
    return f"D {point.d_loss:.3f}  G {point.g_loss:.3f}  D(x) {point.d_real:.2f}  D(G(z)) {point.d_fake:.2f}"


def run_headless(
    config: TrainConfig,
    resume: str | None = None,
    log_every: float = 10.0,
    console: Console | None = None,
) -> int:
    """Train to the end; ctrl+c stops at a step boundary with a final checkpoint. Returns an exit code."""
    console = console or Console(stderr=False, highlight=False)
    events: queue.Queue[ev.Event] = queue.Queue()
    engine = Engine(config, events.put, resume=resume)
    engine.setup()  # bad input raises TuiGanError here, before any thread starts

    state = engine.current
    total = engine.config.epochs * engine.steps_per_epoch
    if engine.config.max_steps is not None:
        total = min(total, state.step + engine.config.max_steps)
    result: dict[str, str] = {}

    def work() -> None:
        result["reason"] = engine.run()

    worker = threading.Thread(target=work, name="tui-gan-engine", daemon=True)
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
    task = progress.add_task(state.name, total=total, completed=state.step, rate="-")
    last_log = time.monotonic()
    latest: ev.StepPoint | None = None
    exit_code = 0
    def handle(event: ev.Event) -> None:
        nonlocal last_log, latest, exit_code
        log = progress.console.log
        if isinstance(event, ev.Started):
            log(f"training [bold]{event.arch}[/] on {event.dataset} ({event.device}), "
                f"{event.steps_per_epoch} steps/epoch, {event.epochs} epochs; run folder {event.run_dir}")
        elif isinstance(event, ev.Stats):
            if event.points:
                latest = event.points[-1]
            progress.update(task, completed=event.step, rate=f"{event.images_per_s:,.0f}",
                            description=f"{event.arch} epoch {event.epoch + 1}/{engine.config.epochs}")
            if latest is not None and time.monotonic() - last_log >= log_every:
                last_log = time.monotonic()
                log(f"epoch {event.epoch + 1} step {event.step}  {describe(latest)}  {event.images_per_s:,.0f} img/s")
        elif isinstance(event, ev.Quality):
            r = event.report
            log(f"quality at step {event.step}: {r.classes_covered}/10 classes, confidence {r.mean_confidence:.2f}, "
                f"score {r.classifier_score:.2f}, Frechet {r.frechet_distance:.2f} (real {event.real_floor:.2f})")
        elif isinstance(event, ev.CheckpointSaved):
            log(f"checkpoint written: {event.path}")
        elif isinstance(event, ev.Notice):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "")
            log(f"[{style}]{event.message}[/]" if style else event.message)
        elif isinstance(event, ev.Failed):
            exit_code = 1
            where = f" (traceback in {event.traceback_path})" if event.traceback_path else ""
            log(f"[bold red]error:[/] {event.message}{where}")

    with progress:
        worker.start()
        finished = False
        while not finished:
            try:
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                handle(event)
                finished = isinstance(event, ev.Finished)
            except KeyboardInterrupt:
                progress.console.log("[yellow]ctrl+c: stopping at the next step and writing a checkpoint...")
                engine.send(cmd.Stop(checkpoint=True))
    worker.join(timeout=30)
    reason = result.get("reason", "error")
    summary = f" last: {describe(latest)}." if latest else ""
    console.print(f"{reason}: {engine.current.name} at step {engine.current.step}.{summary} Run folder: {engine.run_dir.path}")
    return 1 if reason == "error" else exit_code
