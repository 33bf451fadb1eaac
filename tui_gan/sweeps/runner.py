"""The coordinator: one process per sweep that runs its cells through submitit, K at a time on
each visible GPU (or K on the CPU, the cores split between them), records each cell's state
in sweep.json as it changes, and writes the results when cells end.

SIGTERM (or Ctrl-C) stops the sweep: every running cell gets SIGTERM (its training writes a
final checkpoint), the coordinator waits for them, and `tui-gan sweep --resume` later runs
what is left; a cell that was stopped continues in its folder (`--resume auto`)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tui_gan.cadence import duration
from tui_gan.sweeps import launchers, results
from tui_gan.sweeps.grid import Cell, cell_argv, folder_name
from tui_gan.sweeps.state import DONE, Sweep

POLL_S = 0.5
# How a cell's job ended (job.json's state) -> the cell's state.
OUTCOMES = {
    "completed": "finished",
    "max_steps": "finished",
    "max_time": "finished",
    "collapsed": "collapsed",
    "pruned": "pruned",
    "error": "failed",
}


def slots(parallel: int, gpus: int, cores: int) -> list[dict]:
    """What each of the cells running at once gets: a GPU (K per GPU), or a share of the cores."""
    if gpus:
        return [{"gpu": g, "env": {}} for g in range(gpus) for _ in range(parallel)]
    threads = max(1, cores // parallel)
    return [{"gpu": None, "env": {"OMP_NUM_THREADS": str(threads)}} for _ in range(parallel)]


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class Coordinator:
    def __init__(self, sweep: Sweep, say: Callable[[str], None]) -> None:
        self.sweep = sweep
        self.say = say
        self.running: dict[int, tuple[object, int]] = {}  # cell index -> (submitit job, slot)
        self.adopted: set[int] = set()  # cells a killed coordinator left training (see _adopt)
        self.stopping = False
        self.launcher = sweep.launcher or {"kind": "local"}
        self.watch = launchers.Watch(self.launcher)
        if self.launcher["kind"] == "slurm":  # K jobs in the queue at once; Slurm places them
            self.slots = [{"gpu": None, "env": {}} for _ in range(sweep.parallel)]
        else:
            self.slots = slots(sweep.parallel, visible_gpus(), len(os.sched_getaffinity(0)))
        self.study = None  # a search's Optuna study (sweeps/search.py)
        if sweep.search:
            from tui_gan.sweeps import search

            self.study = search.open_study(sweep.folder, sweep.name, sweep.seeds[0])
            self.dims = [search.Dimension.from_dict(d) for d in sweep.search["space"]]

    def run(self) -> int:
        """Until every cell has ended, or the sweep is stopped; 0 either way (cells say how)."""
        sweep = self.sweep
        sweep.claim()
        self._adopt()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        where = f"{len(self.slots)} at a time" + (" on the GPUs" if self.slots[0]["gpu"] is not None else "")
        runs = f"{sweep.search['trials']} trials of a search" if sweep.search else f"{len(sweep.cells)} runs"
        self.say(f"sweep {sweep.name}: {runs}, {where}; folder {sweep.folder}")
        while True:
            self._reap()
            if not self.stopping:
                self._start_due()
            if not (self.running or self.adopted) and (
                self.stopping or not self._due() and not self._trials_left()
            ):
                break
            time.sleep(POLL_S)
        sweep.coordinator["ended"] = time.time()
        sweep.save()
        results.write(sweep)
        counts = ", ".join(f"{n} {state}" for state, n in sorted(sweep.counts().items()))
        ending = "stopped" if self.stopping else "done"
        self.say(f"sweep {ending}: {counts}; results in {sweep.folder / results.RESULTS_CSV}")
        if self.stopping and any(c.state not in DONE for c in sweep.cells):
            self.say(f"continue it: tui-gan sweep --resume {sweep.folder}")
        return 0

    def _adopt(self) -> None:
        """Cells a killed coordinator left running: a run whose job still trains is watched
        through its run folder until it ends; the others go on from their checkpoints."""
        from tui_gan.jobs.registry import classify

        for cell in self.sweep.cells:
            if cell.state != "running":
                continue
            if classify(self.sweep.run_dir(cell)).state == "running":
                self.adopted.add(cell.index)
                self.say(f"still training, watched from its folder: {cell.label}")
            else:
                cell.state = "stopped"

    def _reap_adopted(self) -> None:
        from tui_gan.jobs.registry import classify, read_job

        for index in list(self.adopted):
            run_dir = self.sweep.run_dir(self.sweep.cells[index])
            if classify(run_dir).state == "running":
                continue
            self.adopted.discard(index)
            job = read_job(run_dir)
            self._ended(self.sweep.cells[index], job.exit_code if job else None, "")

    def _due(self) -> list[Cell]:
        return [c for c in self.sweep.cells if c.state in ("pending", "stopped")]

    def _trials_left(self) -> bool:
        return self.study is not None and len(self.sweep.cells) < self.sweep.search["trials"]

    def _start_due(self) -> None:
        free = [i for i in range(len(self.slots)) if i not in {slot for _, slot in self.running.values()}]
        due = self._due()
        while len(due) < len(free) and self._trials_left():
            due.append(self._new_trial())
        for cell, slot in zip(due, free):
            self._start(cell, slot)

    def _new_trial(self) -> Cell:
        """A search's next run: the values its sampler picks now, from what has ended so far."""
        from tui_gan.sweeps import search

        number, values = search.ask(self.study, self.dims)
        index, seed = len(self.sweep.cells), self.sweep.seeds[0]
        cell = Cell(index, values, seed, folder_name(index, values, seed), extra={"trial": number})
        self.sweep.cells.append(cell)
        return cell

    def _start(self, cell: Cell, slot: int) -> None:
        from tui_gan.sweeps.cell import TrainCell

        sweep, place = self.sweep, self.slots[slot]
        budget_s = duration(sweep.budget) if sweep.budget else None
        limit = launchers.time_limit_min(budget_s, self.launcher.get("time_min"))
        executor = launchers.executor(self.launcher, sweep.folder, place, limit, sweep.name)
        argv = cell_argv(self.fixed_options(sweep), cell, str(sweep.run_dir(cell)), sweep.name)
        env = dict(place["env"])
        if "trial" in cell.extra:
            from tui_gan.sweeps.search import trial_env

            env.update(trial_env(sweep.folder, sweep.name, cell.extra["trial"]))
        job = executor.submit(TrainCell(argv, env))
        self.running[cell.index] = (job, slot)
        cell.state, cell.detail = "running", ""
        cell.extra.update(job_id=str(job.job_id), started=time.time())
        sweep.save()
        on = f"GPU {place['gpu']}" if place["gpu"] is not None else "CPU"
        on = "Slurm" if self.launcher["kind"] == "slurm" else on
        self.say(f"started {cell.label} on {on} (job {job.job_id}): {sweep.run_dir(cell)}")

    @staticmethod
    def fixed_options(sweep: Sweep) -> list[str]:
        """The train options of every cell: the sweep's own, and its budget."""
        return [*sweep.fixed, *(["--max-time", sweep.budget] if sweep.budget else [])]

    def _reap(self) -> None:
        self._reap_adopted()
        for index, (job, _) in list(self.running.items()):
            if not self.watch.ended(job):
                continue
            del self.running[index]
            self._ended(self.sweep.cells[index], *self.watch.result(job))

    def _ended(self, cell: Cell, code: int | None, why: str) -> None:
        """A cell's run has ended: its state, what the search learns from it, the results."""
        run_dir = self.sweep.run_dir(cell)
        cell.state, detail = outcome(run_dir, code)
        cell.detail = detail or why
        cell.extra["ended"] = time.time()
        self.sweep.save()
        rows = results.write(self.sweep)  # a row per cell, in order: this one's best FD too
        if "trial" in cell.extra and cell.state in DONE:
            from tui_gan.sweeps.search import tell

            tell(self.study, cell.extra["trial"], cell.state, rows[cell.index]["best_fd"])
        self.say(f"{cell.state}: {cell.label}" + (f" ({cell.detail})" if cell.detail else ""))

    def _stop(self, signum, frame) -> None:
        if self.stopping:
            return
        self.stopping = True
        count = len(self.running) + len(self.adopted)
        self.say(f"stopping: {count} running runs write their checkpoints and end")
        for job, _ in self.running.values():
            launchers.stop(self.launcher, job)
        from tui_gan.jobs.registry import read_job

        for index in self.adopted:  # no submitit job here: the training itself, where it runs here
            job = read_job(self.sweep.run_dir(self.sweep.cells[index]))
            if job is not None and job.live:
                os.kill(job.pid, signal.SIGTERM)


def outcome(run_dir: Path, code: int | None) -> tuple[str, str]:
    """A cell's state from how its training's job ended, and a line on why when not as planned."""
    from tui_gan.jobs.registry import read_job

    job = read_job(run_dir)
    how = job.state if job is not None else None
    if how in OUTCOMES and (code in (0, None) or OUTCOMES[how] == "failed"):
        state = OUTCOMES[how]
        return state, "" if state == "finished" else f"it ended {how}"
    if how is not None and how != "running" and how not in OUTCOMES:
        return "stopped", f"it ended {how}"
    return "failed", f"exit code {code}" if code is not None else "its process died"
