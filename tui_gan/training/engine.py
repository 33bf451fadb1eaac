"""The training engine: one thread steps a GAN, drains commands between steps, emits events.

The dashboard's job, the headless runner, benchmarks and tests all drive this same class; it
never imports Textual. The Engine keeps the loop and the run state (training/runstate.py);
docs/ARCHITECTURE.md says which file holds each of its parts."""

from __future__ import annotations

import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from tui_gan import cadence
from tui_gan.config import TrainConfig
from tui_gan.data import Dataset
from tui_gan.errors import ConfigError, WriteFailed
from tui_gan.fileio import reason
from tui_gan.models import get_arch
from tui_gan.training import commands as cmd
from tui_gan.training import controls, distributed
from tui_gan.training import events as ev
from tui_gan.training.batches import Batches
from tui_gan.training.checkpoint import build_payload, save_checkpoint
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.quality_judge import QualityJudge
from tui_gan.training.reporter import Reporter, started
from tui_gan.training.rundir import RunDir
from tui_gan.training.runstate import RunState, can_move
from tui_gan.training.setup import set_up
from tui_gan.training.state import ArchState, build_state, set_learning_rates
from tui_gan.training.stats import StepStats
from tui_gan.training.step import gan_step
from tui_gan.training.write_retry import WriteRetry


class Engine:
    """Trains one architecture at a time, keeps every architecture's state, obeys commands."""

    def __init__(
        self,
        config: TrainConfig,
        emit: Callable[[ev.Event], None] | None = None,
        *,
        dataset: Dataset | None = None,
        resume: str | Path | None = None,
        run_dir: bool | str | Path = True,
        exit_when_done: bool = True,
        download: bool = True,
        stats_interval: float = 0.1,
        samples_interval: float = 1.0,
    ):
        self.config = config
        self.emit = emit or (lambda event: None)
        self.commands: queue.Queue[cmd.Command] = queue.Queue()
        self.dataset = dataset
        self.resume_path = Path(resume) if resume else None
        self._run_dir_arg = run_dir
        self.run_dir: RunDir | None = None
        self.exit_when_done = exit_when_done  # return once training ends (else wait for commands)
        self.download = download
        self.stats_interval = stats_interval
        self.samples_interval = samples_interval
        self.state = RunState.STARTING  # changed by enter() alone
        self.final_checkpoint = True  # what STOPPING writes: cmd.Stop(checkpoint=...)
        self.archs: dict[str, ArchState] = {}
        self.current: ArchState | None = None
        self.device: torch.device | None = None
        self.batches: Batches | None = None
        self.steps_this_run = 0
        self.max_time_s = cadence.duration(config.max_time) if config.max_time else None
        self.stats: StepStats | None = None
        self.quality: QualityJudge | None = None
        self.outputs = RunOutputs(None)
        self.writes = WriteRetry(self)  # a run file that could not be written, and its retries
        self.ranks: distributed.Ranks | None = None  # under torchrun with more than one process
        self.pending_switch: str | None = None  # under torchrun: switched to after the next broadcast
        self.devices: tuple = ()  # every rank's GPU (PCI bus id, UUID)
        self.report: Reporter | None = None
        self._setup_notes: list[tuple[str, str]] = []  # (line, level) from setup, said at the start

    # --- public driving API ----------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        self.commands.put(command)

    def setup(self) -> None:
        """Load data, make the run folder and the first architecture (training/setup.py).
        Raises TuiGanError."""
        set_up(self)

    def _note(self, line: str | None, level: str = "warning") -> None:
        if line:
            self._setup_notes.append((line, level))

    @property
    def is_main(self) -> bool:
        """Rank 0 (or the only process): the one that decides divergence and draws samples."""
        return self.ranks is None or self.ranks.main

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.per_epoch

    def run(self) -> str:
        """Train until done, stopped or failed; returns the Finished reason.

        Setup problems (bad config, missing data, unwritable folder) raise TuiGanError before any
        training, so a caller can offer a fix; failures while training become events."""
        if self.current is None:
            self.setup()
        reason = "error"
        try:
            self._announce()
            reason = self._loop()
        except Exception as exc:  # the UI must see it, never a dead thread
            self._report_crash(exc)
        finally:
            self.quality.close()
            self._finish_files()
            self.outputs.close()
            if self.ranks is not None:
                distributed.close(self.ranks)
        current = self.current
        self.emit(
            ev.Finished(current.name, reason, current.step, str(self.run_dir.path) if self.run_dir else None)
        )
        return reason

    def _loop(self) -> str:
        while True:
            try:
                ended = self._iteration()
            except WriteFailed as exc:  # a full disk: pause and write it again later (write_retry.py)
                self.writes.failed(exc, exc.again)
                continue
            if ended:
                return ended

    def _iteration(self) -> str | None:
        """One step of the loop: commands, then a training step; how the run ended, once it has."""
        self.drain_commands()
        self._take_classifier()
        if self.ranks is not None:
            self._follow_main()
        if self.state is RunState.STOPPING:
            return self._stop()
        if self.state.ended and self.exit_when_done:
            if self.state is RunState.FAILED:
                return "error"
            return self.current.outcome or self._hit_limit() or "completed"
        if self.state is not RunState.RUNNING:
            self._wait_for_command()
            return None
        self.train_step()
        self._after_step()
        return None

    def _stop(self) -> str | None:
        """The final flush and checkpoints; while they cannot be written, wait (and retry) for
        space unless a Stop without checkpoints comes."""
        if self.writes.problem is not None:
            if not self.final_checkpoint:
                self.enter(RunState.STOPPED)
                return "stopped"
            if not self.writes.due_now() or not self.writes.retry():
                self._wait_for_command()
                return None
        self.report.flush(self.current, force=True)
        if self.final_checkpoint:
            self.checkpoint_all_dirty()
        self.enter(RunState.STOPPED)
        return "stopped"

    # --- the run state ---------------------------------------------------------------------
    def enter(self, state: RunState) -> None:
        """The one place the run state changes (checked against runstate.TRANSITIONS)."""
        if state is self.state:
            return
        if not can_move(self.state, state):
            raise RuntimeError(f"the run cannot go from {self.state} to {state}")
        self.state = state
        self._say_state()

    def _say_state(self) -> None:
        s = self.current
        self.emit(ev.StateChanged(s.name if s else self.config.arch, self.state.value, s.step if s else 0))

    def state_for(self, s: ArchState) -> RunState:
        """The state training `s` puts the run in: how it ended, or a pause kept, or running."""
        if s.ended is not None:
            return s.ended
        if s.epoch >= self.config.epochs or self._hit_limit():
            return RunState.FINISHED
        return RunState.PAUSED if self.state is RunState.PAUSED else RunState.RUNNING

    def _hit_limit(self) -> str | None:
        """ "max_steps" or "max_time" once the run has trained that much, else None."""
        if self.config.max_steps is not None and self.steps_this_run >= self.config.max_steps:
            return "max_steps"
        if self.max_time_s is not None and self.current.train_time >= self.max_time_s:
            return "max_time"
        return None

    def _follow_main(self) -> None:
        """Every rank adopts rank 0's run state and architecture (see distributed.py)."""
        s = self.current
        state, final, arch = distributed.follow(
            self.ranks, self.state, self.final_checkpoint, self.pending_switch or s.name
        )
        self.pending_switch = None
        if arch != s.name:
            self.switch(arch)
        if self.is_main:
            return
        if state.ended and self.current.ended is None:  # rank 0 alone judges divergence and early stops
            self.current.end(state, f"rank 0 ended {arch}: {state}")
        self.final_checkpoint = final
        self.enter(state)

    def _wait_for_command(self) -> None:
        # Blocking on the queue (with a timeout) wakes at once for any command, quit included.
        if self.state is RunState.PAUSED and self.writes.due_now() and self.writes.retry():
            self.enter(RunState.RUNNING)
            return
        try:
            command = self.commands.get(timeout=0.2)
        except queue.Empty:
            return
        controls.handle(self, command)

    def drain_commands(self) -> None:
        """Carry out every command sent so far (the loop does, between steps)."""
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            controls.handle(self, command)

    # --- one step --------------------------------------------------------------------------
    def train_step(self, state: ArchState | None = None) -> None:
        """The next batch of the epoch's shuffle through gan_step, and its bookkeeping."""
        s = state or self.current
        if s.recipe.lr_schedule != "none" or s.recipe.warmup:  # the decay spans the configured epochs
            set_learning_rates(s, self.config.epochs * self.steps_per_epoch)
        real, z, y = self.batches.next(s)
        if self._mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        values = gan_step(s, real, z, self._autocast, lambda: self.batches.latents(s), y)
        if s.grows and (change := s.grow(self.batches.batch_size)):
            self.emit(ev.Notice(s.name, f"{s.name} grows: {change}"))
        s.step += 1
        s.pos += 1
        self.steps_this_run += 1
        if self.stats.record(s.step, s.epoch, values):
            self.report.collect(s)

    def _after_step(self) -> None:
        s = self.current
        if epoch_ended := s.pos >= self.steps_per_epoch:
            self._end_epoch(s)
        self.report.after_step(s)
        if self.ranks is not None and s.step % distributed.RATES_EVERY == 0:
            rate = self.stats.images_per_s / self.ranks.world
            self.report.rank_rates = distributed.gather_rates(self.ranks, rate)
        trained = s.train_time + self.stats.open_seconds(time.perf_counter())
        if self.quality.due(s, trained):
            self.evaluate_quality(s)
        state = self.state_for(s)
        if state is RunState.FAILED:
            self.report.flush(s, force=True)
            self.emit(ev.Failed(s.name, s.why))
        elif state is RunState.FINISHED:
            self.report.flush(s, force=True)
            self.report.samples(s)
            if self.run_dir is not None and s.step != s.checkpoint_step:
                self.checkpoint(s, "latest")
        elif self.run_dir is not None and self.cadence.due(epoch_ended, s.epoch, trained - s.checkpoint_time):
            self.checkpoint(s, "latest", routine=True)  # the one place routine checkpoints are decided
        self.enter(state)

    def _end_epoch(self, s: ArchState) -> None:
        s.epoch, s.pos, s.perm = s.epoch + 1, 0, None
        self.report.collect(s)
        if self.run_dir is not None and not s.failed:
            self.outputs.epoch_samples(s.name, s.epoch, s.step, s.train_time, s.digits)

    # --- events ----------------------------------------------------------------------------
    def _announce(self) -> None:
        """Everything a viewer needs about the architecture now training (at the start and
        after each switch)."""
        s = self.current
        self.outputs.begin(s.name, s.train_time)
        self.emit(started(self, s))
        data_notes = [(self.dataset.note, "warning")] if self.dataset.note else []
        for note, level in data_notes + self._setup_notes:
            self.emit(ev.Notice(s.name, note, level))
        self._setup_notes.clear()
        self.quality.announce(s.name)
        state = self.state_for(s)
        if state is self.state:
            self._say_state()  # a viewer learns the state of each architecture it is shown
        self.enter(state)
        self.report.samples(s)
        self.report.restart_window()

    # --- architectures ---------------------------------------------------------------------
    def switch(self, name: str) -> None:
        """Train architecture `name` from where it was (a fresh one from the seed's weights)."""
        old = self.current
        try:
            spec = get_arch(name)
        except ConfigError as exc:
            self.emit(ev.Notice(old.name, str(exc), "error"))
            return
        if spec.name == old.name:
            return
        self.report.flush(old, force=True)
        if spec.name not in self.archs:
            self.archs[spec.name] = build_state(spec, self.config, self.device, self.ranks)
        self.current = new = self.archs[spec.name]
        self.stats.images_per_s = 0.0
        self.emit(ev.ArchSwitched(new.name, previous=old.name, step=new.step))
        self._announce()

    # --- quality ---------------------------------------------------------------------------
    def _take_classifier(self) -> None:
        """A classifier finished in the background is handed to this thread (which alone emits)."""
        if self.quality.take(self.current.name):
            self.evaluate_quality()

    def evaluate_quality(self, s: ArchState | None = None):
        s = s or self.current
        self.report.flush(self.current, force=True)  # evaluation time must not count as training time
        report = self.quality.judge(s, self.device)
        self.stats.reset_window()
        return report

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint_payload(self, s: ArchState) -> dict:
        return build_payload(s, self.config, self.device, self.dataset)

    def checkpoint(self, s: ArchState, name: str, routine: bool = False) -> str | None:
        """Write checkpoints/<arch>/<name>.pt (`routine`: for --checkpoint-every, not asked for nor
        final); its path, or None (and a notice) when there is nothing to write. WriteFailed when
        the disk refuses it (the run pauses, write_retry.py)."""
        if self.run_dir is None:
            self.emit(ev.Notice(s.name, "no run folder: checkpoints are off for this run", "warning"))
            return None
        if s.failed:
            self.emit(ev.Notice(s.name, "not writing a checkpoint of non-finite weights", "warning"))
            return None
        path = self.run_dir.checkpoint_path(s.name, name)
        try:
            if s is self.current:  # metrics.csv gets a row ending here: a resume truncates cleanly
                self.report.flush(s, force=True)
            save_checkpoint(path, self.checkpoint_payload(s))
        except (WriteFailed, OSError) as exc:  # the previous checkpoint is intact: pause until written
            failed = exc if isinstance(exc, WriteFailed) else WriteFailed(path, reason(exc))
            failed.again = lambda: self.checkpoint(s, name, routine)
            raise failed from None
        s.last_checkpoint = str(path)
        if name == "latest":  # where a resume of the run folder continues, and the cadence counts from
            s.checkpoint_step, s.checkpoint_time = s.step, s.train_time
        self.emit(ev.CheckpointSaved(s.name, str(path), s.step, routine=routine, train_time=s.train_time))
        return str(path)

    def checkpoint_all_dirty(self) -> None:
        """latest.pt of every architecture trained since its last checkpoint."""
        for s in self.archs.values():
            if s.step and s.step != s.checkpoint_step:
                self.checkpoint(s, "latest")

    # --- the end ---------------------------------------------------------------------------
    def _report_crash(self, exc: BaseException) -> None:
        path = self.outputs.crash(traceback.format_exc())
        name = self.current.name if self.current else self.config.arch
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.emit(ev.Failed(name, message, path))
        self.enter(RunState.FAILED)

    def _finish_files(self) -> None:
        for s in self.archs.values():
            try:
                self.outputs.finish(s.name, s.history, lambda s=s: None if s.failed else s.digits())
            except Exception as exc:  # a plot must never cost the user the run
                self.emit(ev.Notice(s.name, f"could not write the loss plot/GIF: {exc}", "warning"))
