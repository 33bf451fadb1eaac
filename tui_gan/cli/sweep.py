"""`tui-gan sweep`: a grid of runs (tui_gan/sweeps). Started, it writes the sweep folder and
its coordinator runs the cells: in the background when in a terminal (the workspace opens on
the sweep) or with --detach, in the foreground with plain log lines otherwise. `--resume`
continues a stopped sweep, `--show` prints its leaderboard."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tui_gan.errors import ConfigError


def cmd_sweep(args: argparse.Namespace) -> int:
    from tui_gan.sweeps import results
    from tui_gan.sweeps.state import Sweep

    if args.show:
        print(results.table(Sweep.load(args.show)))
        return 0
    if args.resume:
        if args.train_options:
            raise ConfigError("--resume continues a sweep as it was defined: give no train options with it")
        sweep = Sweep.load(args.resume)
    else:
        sweep = new_sweep(args)
    if args.foreground or not (args.detach or sys.stdout.isatty()):
        from tui_gan.sweeps.runner import Coordinator

        return Coordinator(sweep, say).run()
    sweep.check_free()  # before saying it runs: the detached coordinator would only log the refusal
    pid = start_coordinator(sweep.folder)
    runs = f"{sweep.search['trials']} trials of a search" if sweep.search else f"{len(sweep.cells)} runs"
    print(
        f"sweep {sweep.name}: {runs} in the background (coordinator pid {pid})\n"
        f"  watch it:   tui-gan attach {sweep.folder}\n"
        f"  results:    tui-gan sweep --show {sweep.folder}\n"
        f"  its log:    {sweep.folder / 'sweep.log'}\n"
        f"  stop it:    kill {pid}   (each run writes a final checkpoint; --resume continues)"
    )
    if args.detach:
        return 0
    from tui_gan.ui.app import run_workspace

    return run_workspace(sweep.folder)


def new_sweep(args: argparse.Namespace):
    """The sweep the options describe, every cell checked as `train` checks it, saved."""
    from tui_gan.cadence import duration
    from tui_gan.cli.parser import build_parser
    from tui_gan.sweeps.grid import make_cells, split_options
    from tui_gan.sweeps.state import Sweep

    parser = build_parser()
    train = parser._subcommand("train")
    takes_value = {s: a.nargs != 0 for s, a in train._option_string_actions.items() if s.startswith("--")}
    fixed, swept = split_options(list(args.train_options), takes_value)
    seeds = _seeds(fixed, swept, args.seeds)
    if args.parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {args.parallel}")
    if args.budget is not None:
        try:
            duration(args.budget)
        except ValueError as exc:
            raise ConfigError(f"--budget {exc}") from None
    name = args.name or time.strftime("%Y%m%d-%H%M%S")
    folder = Path(args.runs_dir).absolute() / f"sweep-{name}"
    if folder.exists():
        raise ConfigError(f"{folder} already exists: continue it with tui-gan sweep --resume {folder}")
    sweep = Sweep(folder, name, fixed, {k.lstrip("-"): v for k, v in swept.items()}, seeds, args.parallel, [])
    sweep.budget = args.budget
    sweep.launcher = launcher(args)
    if args.search:
        sweep.search, checks = _search(args, fixed, swept, seeds)
        sweep.grid = {}
    else:
        sweep.cells = checks = make_cells(swept, seeds)
    _check_cells(sweep, parser, checks)
    folder.mkdir(parents=True)
    sweep.save()
    return sweep


def launcher(args: argparse.Namespace) -> dict:
    """Where runs go, as sweep.json keeps it: this machine, or Slurm with its options."""
    import shutil

    from tui_gan.cadence import duration

    given = {
        "--partition": args.partition,
        "--time": args.time,
        "--account": args.account,
        "--sbatch": args.sbatch,
        "--gpus-per-run": args.gpus_per_run,
    }
    if args.launcher == "local":
        extra = [option for option, value in given.items() if value]
        if extra:
            raise ConfigError(f"{', '.join(extra)}: Slurm options, for --launcher slurm")
        return {"kind": "local"}
    if shutil.which("sbatch") is None:
        raise ConfigError("--launcher slurm needs Slurm's sbatch, which is not on this machine's PATH")
    if args.gpus_per_run < 0:
        raise ConfigError(f"--gpus-per-run must be 0 or more, got {args.gpus_per_run}")
    sbatch = {}
    for option in args.sbatch:
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--sbatch {option!r}: give KEY=VALUE, as in --sbatch cpus-per-task=4")
        sbatch[key.strip().lstrip("-").replace("-", "_")] = value
    try:
        time_min = duration(args.time) / 60 if args.time else None
    except ValueError as exc:
        raise ConfigError(f"--time {exc}") from None
    return {
        "kind": "slurm",
        "partition": args.partition,
        "time_min": time_min,
        "gpus": args.gpus_per_run,
        "account": args.account,
        "sbatch": sbatch,
    }


def _seeds(fixed: list[str], swept: dict[str, list[str]], count: int) -> list[int]:
    """The seeds: `--seed 1,2,3`, or `--seeds N` from --seed's value (default 0)."""
    if count < 1:
        raise ConfigError(f"--seeds must be at least 1, got {count}")
    try:
        if "--seed" in swept:
            if count != 1:
                raise ConfigError("give the seeds as --seed 1,2,3 or as --seeds N, not both")
            return [int(v) for v in swept.pop("--seed")]
        base = 0
        if "--seed" in fixed:
            at = fixed.index("--seed")
            base = int(fixed[at + 1])
            del fixed[at : at + 2]
        return list(range(base, base + count))
    except ValueError as exc:
        raise ConfigError(f"--seed takes whole numbers: {exc}") from None


def _search(args, fixed: list[str], swept: dict[str, list[str]], seeds: list[int]):
    """A search's settings, and runs to check its options with: each choice, and both ends of
    each range, with the other options at their first."""
    from tui_gan.sweeps.grid import Cell
    from tui_gan.sweeps.search import space

    if args.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {args.trials}")
    if len(seeds) > 1:
        raise ConfigError("a --search runs each trial once (its seed: --seed); --seeds is for grids")
    if any(a == "--eval-every" and b in ("0", "0.0") for a, b in zip(fixed, fixed[1:])):
        raise ConfigError("a --search ranks runs by their Frechet distance: --eval-every cannot be 0")
    dims = space(fixed, swept)
    first = {d.name: d.ends()[0] for d in dims}
    checks = [Cell(0, {**first, d.name: value}, seeds[0], "check") for d in dims for value in d.ends()]
    settings = {"sampler": args.search, "trials": args.trials, "space": [d.to_dict() for d in dims]}
    return settings, checks


def _check_cells(sweep, parser, cells) -> None:
    """Each cell's options as `train` would take them: a bad value is a one-line error now."""
    from tui_gan.cli.train import config_from_args
    from tui_gan.sweeps.grid import cell_argv
    from tui_gan.sweeps.runner import Coordinator

    train = parser._subcommand("train")

    def refuse(message: str):
        raise ConfigError(message)

    train.error = refuse  # a usage error of one run is the sweep's, said once with the run's name
    fixed = Coordinator.fixed_options(sweep)
    for cell in cells:
        argv = cell_argv(fixed, cell, str(sweep.run_dir(cell)), sweep.name)
        try:
            args = train.parse_args(argv[1:])
            args.resume = None  # "auto": nothing to read yet
            config_from_args(args)
        except ConfigError as exc:
            raise ConfigError(f"run {cell.label}: {exc}") from None


def start_coordinator(folder: Path) -> int:
    """The coordinator as a job of its own: it outlives this terminal, its lines in sweep.log."""
    with open(folder / "sweep.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui_gan", "sweep", "--resume", str(folder), "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def say(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)
