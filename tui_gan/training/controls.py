"""What each command does to the engine: one handler per command type, run by the engine's
thread between steps (Engine.drain_commands), so nothing here needs a lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tui_gan.errors import TuiGanError
from tui_gan.models import ARCH_NAMES
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint, restore_state
from tui_gan.training.runstate import RunState

if TYPE_CHECKING:
    from tui_gan.training.engine import Engine


def handle(engine: Engine, command: cmd.Command) -> None:
    HANDLERS[type(command)](engine, command)


def pause(e: Engine, _: cmd.Command) -> None:
    if e.state is RunState.RUNNING:
        e.report.flush(e.current, force=True)
        e.enter(RunState.PAUSED)
        e.report.samples(e.current)  # the paused step's digits


def resume(e: Engine, _: cmd.Command) -> None:
    if e.state is RunState.PAUSED and e.writes.problem is not None and not e.writes.retry():
        return  # still cannot write: it said why, and stays paused
    if e.state is RunState.PAUSED:
        e.report.restart_window()  # the pause is not training time
        e.enter(RunState.RUNNING)


def toggle_pause(e: Engine, c: cmd.Command) -> None:
    (resume if e.state is RunState.PAUSED else pause)(e, c)


def save_checkpoint(e: Engine, _: cmd.Command) -> None:
    s = e.current
    e.checkpoint(s, f"step_{s.step:07d}")


def switch(e: Engine, c: cmd.SwitchArch) -> None:
    if e.ranks is None:
        e.switch(c.name)
    elif c.name in ARCH_NAMES:  # after this iteration's broadcast, on every rank at once
        e.pending_switch = c.name
    else:
        e.emit(ev.Notice(e.current.name, f"unknown architecture {c.name!r}", "error"))


def rollback(e: Engine, _: cmd.Command) -> None:
    """`b`: continue from best.pt (after a collapse, say); the run folder keeps everything."""
    s = e.current
    if e.ranks is not None:  # every rank would have to load it at the same step
        message = "rolling back is for single-process runs: resume from best.pt with tui-gan train --resume"
        e.emit(ev.Notice(s.name, message, "warning"))
        return
    path = e.run_dir.checkpoint_path(s.name, "best") if e.run_dir else None
    if path is None or not path.is_file():
        message = f"{s.name} has no best.pt yet (written at the first quality evaluation)"
        e.emit(ev.Notice(s.name, message, "warning"))
        return
    e.report.flush(e.current, force=True)
    try:
        restore_state(s, load_checkpoint(path, expected_arch=s.name), path, e.device, e.dataset, e.config)
    except TuiGanError as exc:
        e.emit(ev.Notice(s.name, str(exc), "error"))
        return
    s.ended, s.why, s.outcome = None, "", None
    s.evals_since_best = 0
    message = f"{s.name}: rolled back to best.pt (step {s.step:,}, FD {s.best_fd:.1f})"
    e.emit(ev.Notice(s.name, message, "success"))
    e.enter(e.state_for(s))
    e.report.samples(e.current)


def toggle_raw(e: Engine, _: cmd.Command) -> None:
    """`r`: samples from the raw G or from its EMA (evaluations always judge the EMA)."""
    s = e.current
    if s.G_ema is None:
        e.emit(ev.Notice(s.name, f"{s.name} trains without an EMA generator (--ema): samples are G's"))
        return
    s.show_raw = not s.show_raw
    e.emit(ev.Notice(s.name, f"samples now from {'the raw G' if s.show_raw else 'the EMA of G'}"))
    e.report.samples(e.current)


def evaluate(e: Engine, _: cmd.Command) -> None:
    if e.quality.request(e.current.name):
        e.evaluate_quality()


def stop(e: Engine, c: cmd.Stop) -> None:
    e.final_checkpoint = c.checkpoint
    e.writes.hurry()  # a write still waiting (TensorBoard's can fail late): try it now
    e.enter(RunState.STOPPING)


HANDLERS: dict[type, Callable[[Engine, cmd.Command], None]] = {
    cmd.Pause: pause,
    cmd.Resume: resume,
    cmd.TogglePause: toggle_pause,
    cmd.SaveCheckpoint: save_checkpoint,
    cmd.SwitchArch: switch,
    cmd.RollbackToBest: rollback,
    cmd.ToggleRawSamples: toggle_raw,
    cmd.EvaluateNow: evaluate,
    cmd.Stop: stop,
}
