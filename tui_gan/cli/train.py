"""`tui-gan train` (and plain `tui-gan`): options -> TrainConfig, resuming, the dashboard,
headless or detached job, and torchrun for --nproc."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tui_gan.cli.checkpoints import find_checkpoint
from tui_gan.config import TrainConfig, load_config_file, option_fields
from tui_gan.errors import CheckpointError, ConfigError


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < the checkpoint's settings (with --resume) < the config file < options given."""
    data = load_config_file(args.config) if args.config else {}
    for field in option_fields():  # every field is a train option of the same name
        if getattr(args, field.name, None) is not None:
            data[field.name] = getattr(args, field.name)
    if getattr(args, "resume", None):
        from tui_gan.training.checkpoint import load_checkpoint

        saved = load_checkpoint(args.resume, expected_arch=data.get("arch"))["config"]
        saved.setdefault("recipe", "seed")  # checkpoints from before recipes trained the seed way
        if type(saved.get("checkpoint_every")) is int and saved["checkpoint_every"] == 1:
            # Before times were taken, 1 (every epoch, at most one a minute) was the default: as a
            # plain 1 now, a GPU would write one each second or two. Today's default stands in.
            del saved["checkpoint_every"]
        try:
            base = TrainConfig.from_dict(saved, source=args.resume)
        except (TypeError, ConfigError) as exc:
            raise CheckpointError(f"{args.resume} holds unusable settings: {exc}") from None
        if "conditional" in data and data["conditional"] != base.conditional:
            raise ConfigError(
                f"{args.resume} was trained {'with' if base.conditional else 'without'} "
                "--conditional: a resume cannot change that (start a new run)"
            )
        data = {**base.to_dict(), "max_steps": None, **data}
    return TrainConfig.from_dict(data, source=args.config or "options").validate()


def resolve_resume(target: str, arch: str | None) -> tuple[str, str | None]:
    """--resume's argument -> (checkpoint, run folder to continue in, or None for a new one).
    A run folder resumes its newest architecture's latest.pt (or --arch's)."""
    from tui_gan.jobs.registry import ensure_free, read_job

    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{target} is neither a checkpoint nor a run folder (no config.json there)")
        ensure_free(path)  # before looking for its checkpoint, which a live job may not have written yet
        job = read_job(path)
        if arch is None:
            arch = job.arch if job and job.arch else None
        found = find_checkpoint(path, ("latest.pt",), arch)
        if found is None:
            raise CheckpointError(
                f"{target} holds no checkpoints/{arch or '<arch>'}/latest.pt to resume from"
            )
        return str(found), str(path)
    run = path.parent.parent.parent
    inside_run = path.parent.parent.name == "checkpoints" and (run / "config.json").is_file()
    return target, (str(run) if inside_run else None)


def auto_resume(run_dir: str | None, arch: str | None) -> str | None:
    """`--resume auto`: the run folder to continue, or None to start it there. A folder left
    without any checkpoint (killed, or requeued, before its first) holds nothing to continue
    from: it is started again from scratch."""
    import shutil

    from tui_gan.jobs.registry import ensure_free

    if not run_dir:
        raise ConfigError("--resume auto needs --run-dir: the folder to continue in, or to start the run in")
    path = Path(run_dir)
    if not (path / "config.json").is_file():
        return None
    ensure_free(path)
    if find_checkpoint(path, ("latest.pt",), arch) is not None:
        return str(path)
    print(f"tui-gan: {path} holds no checkpoint to continue from: starting it again", file=sys.stderr)
    shutil.rmtree(path)
    return None


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from tui_gan.training.distributed import world_size

    run_dir = args.run_dir
    if args.resume == "auto":
        args.resume = auto_resume(run_dir, args.arch)
    if args.resume:
        args.resume, resumed_in = resolve_resume(args.resume, args.arch)
        run_dir = run_dir or resumed_in
    elif run_dir and (Path(run_dir) / "config.json").exists():
        raise ConfigError(f"{run_dir} already holds a run: continue it with --resume {run_dir}")
    config = config_from_args(args)
    if args.log_every <= 0:
        raise ConfigError("--log-every must be a positive number of seconds")
    if args.nproc is not None and args.nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {args.nproc}")
    if world_size() > 1:  # one of torchrun's processes
        if os.environ.get("RANK", "0") != "0":
            return run_rank(config, args.resume)
        args.headless, args.detach = True, False  # rank 0: the job, in torchrun's foreground
    elif args.nproc and args.nproc > 1:
        return launch_ranks(args, argv, config, run_dir)
    if args.detach:
        from tui_gan.jobs.launch import start_job

        return detached(start_job(config, resume=args.resume, run_dir=run_dir), f"training {config.arch}")
    headless = args.headless
    if not headless and not (sys.stdout.isatty() and sys.stdin.isatty()):
        print(
            "tui-gan: not a terminal (output is piped or captured): "
            "training headless instead of the dashboard",
            file=sys.stderr,
        )
        headless = True
    if headless:
        from tui_gan.headless import run_headless

        return run_headless(config, resume=args.resume, run_dir=run_dir, log_every=args.log_every)
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(config, resume=args.resume, run_dir=run_dir, notify=args.notify, pixels=args.pixels)


def detached(info, what: str) -> int:
    """What `--detach` prints: where the job is and how to watch and stop it."""
    print(
        f"{what} in the background (pid {info.pid}); run folder {info.run_dir}\n"
        f"  watch it:  tui-gan attach {info.run_dir}\n  its log:   {info.run_dir / 'job.log'}\n"
        f"  stop it:   kill {info.pid}   (a final checkpoint is written)"
    )
    return 0


def run_rank(config: TrainConfig, resume: str | None) -> int:
    """A torchrun process other than rank 0: trains its slice, writes nothing, says nothing."""
    from tui_gan.training.engine import Engine

    engine = Engine(config, resume=resume, run_dir=False, exit_when_done=True)
    engine.setup()
    return 1 if engine.run() == "error" else 0


def launch_ranks(args: argparse.Namespace, argv: list[str], config: TrainConfig, run_dir: str | None) -> int:
    """`--nproc N`: the same command under torchrun's elastic agent, N processes on this machine.
    Headless, torchrun takes this process's place; detached or with the dashboard, it starts in
    the background with its run folder fixed in advance, and its rank 0 is the job to attach to."""
    if config.batch_size % args.nproc:
        raise ConfigError(f"batch size {config.batch_size} does not split evenly over {args.nproc} processes")
    worker_argv = _without_options(argv, {"--nproc": 1, "--detach": 0, "--headless": 0, "--run-dir": 1})
    worker_argv.append("--headless")
    if args.headless or not (args.detach or (sys.stdout.isatty() and sys.stdin.isatty())):
        if run_dir:
            worker_argv += ["--run-dir", run_dir]
        os.execv(sys.executable, torchrun_command(args.nproc, worker_argv))
    from tui_gan.jobs.launch import start_torchrun
    from tui_gan.training.rundir import RunDir

    folder = str(RunDir.open(run_dir).path if run_dir else RunDir.create(config.runs_dir, config.arch).path)
    worker_argv += ["--run-dir", folder]

    def start(cancel=None):
        return start_torchrun(torchrun_command(args.nproc, worker_argv), Path(folder), cancel)

    if args.detach:
        return detached(start(), f"training {config.arch} on {args.nproc} processes (rank 0 below)")
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(config, resume=args.resume, start=start, notify=args.notify, pixels=args.pixels)


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "tui_gan",
        *argv,
    ]


def _without_options(argv: list[str], options: dict[str, int]) -> list[str]:
    """argv less the named options (each with its number of values, also as --opt=value)."""
    out, skip = [], 0
    for token in argv:
        if skip:
            skip -= 1
            continue
        name = token.split("=", 1)[0]
        if name in options:
            skip = options[name] if "=" not in token else 0
            continue
        out.append(token)
    return out
