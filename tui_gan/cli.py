"""Command line: `tui-gan` (dashboard), `train [--headless|--detach]`, `ls`, `attach`, `archs`,
`sample`, `eval`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tui_gan import __version__
from tui_gan.config import COMPILE_MODES, DATASETS, PRECISIONS, TrainConfig, load_config_file
from tui_gan.errors import CheckpointError, ConfigError, TuiGanError
from tui_gan.training.recipes import LOSSES, RECIPES, SCHEDULES

SUBCOMMANDS = ("train", "ls", "attach", "archs", "sample", "eval")
# option dest -> TrainConfig field; only options the user actually gave override a config file
TRAIN_OPTIONS = {
    "arch": "arch", "dataset": "dataset", "data_dir": "data_dir", "epochs": "epochs", "batch_size": "batch_size",
    "lr": "lr", "beta1": "beta1", "beta2": "beta2", "z_dim": "z_dim", "seed": "seed", "device": "device",
    "runs_dir": "runs_dir", "max_steps": "max_steps", "checkpoint_every": "checkpoint_every",
    "synthetic_size": "synthetic_size", "eval_every": "eval_every", "eval_samples": "eval_samples",
    "tensorboard": "tensorboard", "precision": "precision", "compile": "compile",
    "recipe": "recipe", "loss": "loss", "lr_g": "lr_g", "lr_d": "lr_d", "lr_schedule": "lr_schedule",
    "warmup": "warmup", "ema": "ema", "n_critic": "n_critic", "gp_weight": "gp_weight", "early_stop": "early_stop",
    "conditional": "conditional",
}


def build_parser() -> argparse.ArgumentParser:
    from tui_gan.models import ARCH_NAMES

    parser = argparse.ArgumentParser(
        prog="tui-gan",
        description="Train a GAN on MNIST-style digits and watch it live in the terminal. "
        "With no command, opens the dashboard (headless when not in a terminal).",
    )
    parser.add_argument("--version", action="version", version=f"tui-gan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,ls,attach,archs,sample,eval}")

    train = sub.add_parser("train", help="train (dashboard by default, --headless for a progress bar)")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no dashboard: Rich progress bar and log lines")
    mode.add_argument("--detach", action="store_true", help="train in the background; attach with tui-gan attach")
    train.add_argument("--config", metavar="FILE", help="JSON or TOML file of settings; options given here win")
    train.add_argument("--resume", metavar="RUN_DIR|CKPT",
                       help="continue a run in its own folder (a run folder, or a checkpoint in one)")
    train.add_argument("--run-dir", metavar="DIR", help="write the run into DIR instead of a new folder under --runs-dir")
    train.add_argument("--nproc", type=int, metavar="N",
                       help="train on N processes with DistributedDataParallel (one per GPU; gloo on CPUs), "
                            "started with torchrun; the global batch is kept and split over them")
    train.add_argument("--arch", "-a", choices=ARCH_NAMES, metavar="NAME", help=f"architecture: {', '.join(ARCH_NAMES)} (default mlp)")
    train.add_argument("--dataset", "-d", choices=DATASETS, metavar="NAME", help=f"dataset: {', '.join(DATASETS)} (default mnist)")
    train.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files (flat or torchvision layout)")
    train.add_argument("--epochs", type=int, metavar="N", help="epochs to train (default 100)")
    train.add_argument("--batch-size", type=int, metavar="N", help="batch size (default 128)")
    recipe = train.add_argument_group("how it trains (each architecture's recipe; `tui-gan archs` lists them)")
    recipe.add_argument("--recipe", choices=RECIPES, help="default: the per-architecture best found by "
                        "benchmarks/quality.py; seed: the reference GANs' BCE + Adam 2e-4")
    recipe.add_argument("--loss", choices=LOSSES, help="GAN loss (bce is the original non-saturating one)")
    recipe.add_argument("--lr", type=float, help="Adam learning rate of both nets (the recipe's: 2e-4 for seed)")
    recipe.add_argument("--lr-g", type=float, metavar="LR", help="the generator's learning rate")
    recipe.add_argument("--lr-d", type=float, metavar="LR", help="the discriminator's learning rate (TTUR: higher than G's)")
    recipe.add_argument("--lr-schedule", choices=SCHEDULES, help="learning-rate decay to 0 over the run's --epochs")
    recipe.add_argument("--warmup", type=int, metavar="STEPS", help="linear learning-rate warm-up")
    recipe.add_argument("--ema", type=float, metavar="DECAY", help="generator EMA, e.g. 0.999 (0 off): samples, "
                        "evaluations and exports use it")
    recipe.add_argument("--n-critic", type=int, metavar="N", help="D steps per G step (wgan-gp: 5)")
    recipe.add_argument("--gp-weight", type=float, metavar="W", help="wgan-gp gradient-penalty weight (10)")
    recipe.add_argument("--early-stop", type=int, metavar="PATIENCE", help="stop after PATIENCE quality "
                        "evaluations without a better Frechet distance (best.pt keeps the best)")
    recipe.add_argument("--conditional", action="store_true", default=None,
                        help="class-conditional G and D: the samples panel shows a row per digit, the quality "
                             "panel each digit's accuracy, and `tui-gan sample --digit N` draws a chosen digit")
    train.add_argument("--beta1", type=float, help="Adam beta1 (default 0.5)")
    train.add_argument("--beta2", type=float, help="Adam beta2 (default 0.999)")
    train.add_argument("--z-dim", type=int, metavar="N", help="latent size (default 100)")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    train.add_argument("--runs-dir", metavar="DIR", help="where run folders go (default ./runs)")
    train.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps (for quick tries)")
    train.add_argument("--checkpoint-every", type=int, metavar="E", help="epochs between checkpoints (0: only at the end)")
    train.add_argument("--synthetic-size", type=int, metavar="N", help="images in the synthetic set (default 60000)")
    train.add_argument("--eval-every", type=float, metavar="S", help="seconds of training between quality evaluations (default 30, 0 off)")
    train.add_argument("--eval-samples", type=int, metavar="N", help="digits generated per quality evaluation (default 1000)")
    train.add_argument("--precision", choices=PRECISIONS, help="fp32 (default; TF32 matmuls on Ampere+ GPUs), "
                       "bf16 or fp16 (GPU) autocast")
    train.add_argument("--compile", nargs="?", const="default", choices=COMPILE_MODES, metavar="MODE",
                       help="torch.compile G and D (MODE: default, reduce-overhead for CUDA graphs, max-autotune)")
    train.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", default=None,
                       help="no TensorBoard event files in the run folder")
    train.add_argument("--log-every", type=float, default=10.0, metavar="S", help="headless: seconds between log lines")

    ls = sub.add_parser("ls", help="list live training jobs and recent runs")
    ls.add_argument("--runs-dir", default="runs", metavar="DIR", help="where to look for finished runs (default ./runs)")

    attach = sub.add_parser("attach", help="open the dashboard on a live job, or a finished run read-only")
    attach.add_argument("target", nargs="?", default="latest", metavar="RUN_DIR|latest",
                        help="a run folder (default: the newest live job, else the newest run)")
    attach.add_argument("--runs-dir", default="runs", metavar="DIR", help="where `latest` looks for runs (default ./runs)")

    sub.add_parser("archs", help="list the architectures")

    sample = sub.add_parser("sample", help="draw digits from a checkpoint's generator")
    sample.add_argument("checkpoint", metavar="CKPT")
    sample.add_argument("-n", type=int, default=64, help="how many digits (default 64)")
    sample.add_argument("-o", "--output", required=True, help="out.png (a grid) or out.npy (N x 28 x 28 uint8)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--digit", type=int, metavar="D", help="only this digit, 0-9 (a --conditional run's "
                        "checkpoint; without it such a checkpoint draws 0-9 in turn)")

    evaluate = sub.add_parser("eval", help="quality metrics of a checkpoint's generator, as JSON")
    evaluate.add_argument("checkpoint", metavar="CKPT")
    evaluate.add_argument("-n", "--samples", type=int, default=None, help="digits to generate (default: the run's eval-samples)")
    evaluate.add_argument("--data-dir", metavar="DIR", help="where the run's dataset is (default: as trained)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help", "--version"):
        argv = ["train", *argv]  # `tui-gan --arch dcgan` means train
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "archs":
            return cmd_archs()
        if args.command == "sample":
            return cmd_sample(args.checkpoint, args.n, args.output, args.seed, args.digit)
        if args.command == "eval":
            return cmd_eval(args.checkpoint, args.samples, args.data_dir)
        if args.command == "ls":
            return cmd_ls(Path(args.runs_dir))
        if args.command == "attach":
            return cmd_attach(args.target, Path(args.runs_dir))
        return cmd_train(args, argv)
    except TuiGanError as exc:
        print(f"tui-gan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tui-gan: interrupted", file=sys.stderr)
        return 130


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < the checkpoint's settings (with --resume) < the config file < options given."""
    data = load_config_file(args.config) if args.config else {}
    for dest, field in TRAIN_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            data[field] = value
    if getattr(args, "resume", None):
        from tui_gan.training.checkpoint import load_checkpoint

        saved = load_checkpoint(args.resume, expected_arch=data.get("arch"))["config"]
        saved.setdefault("recipe", "seed")  # checkpoints from before recipes trained the seed way
        try:
            base = TrainConfig.from_dict(saved, source=args.resume)
        except (TypeError, ConfigError) as exc:
            raise CheckpointError(f"{args.resume} holds unusable settings: {exc}") from None
        if "conditional" in data and data["conditional"] != base.conditional:
            raise ConfigError(f"{args.resume} was trained {'with' if base.conditional else 'without'} "
                              "--conditional: a resume cannot change that (start a new run)")
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
        candidates = ([path / "checkpoints" / arch / "latest.pt"] if arch else
                      sorted((path / "checkpoints").glob("*/latest.pt"), key=lambda p: p.stat().st_mtime, reverse=True))
        candidates = [c for c in candidates if c.is_file()]
        if not candidates:
            raise CheckpointError(f"{target} holds no checkpoints/{arch or '<arch>'}/latest.pt to resume from")
        return str(candidates[0]), str(path)
    run = path.parent.parent.parent
    inside_run = path.parent.parent.name == "checkpoints" and (run / "config.json").is_file()
    return target, (str(run) if inside_run else None)


def cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from tui_gan.training.distributed import world_size

    run_dir = args.run_dir
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
        print("tui-gan: not a terminal (output is piped or captured): training headless instead of the dashboard", file=sys.stderr)
        headless = True
    if headless:
        from tui_gan.headless import run_headless

        return run_headless(config, resume=args.resume, run_dir=run_dir, log_every=args.log_every)
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(config, resume=args.resume, run_dir=run_dir)


def detached(info, what: str) -> int:
    """What `--detach` prints: where the job is and how to watch and stop it."""
    print(f"{what} in the background (pid {info.pid}); run folder {info.run_dir}\n"
          f"  watch it:  tui-gan attach {info.run_dir}\n  its log:   {info.run_dir / 'job.log'}\n"
          f"  stop it:   kill {info.pid}   (a final checkpoint is written)")
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

    return run_dashboard(config, resume=args.resume, start=start)


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "tui_gan", *argv]


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


def cmd_ls(runs_root: Path) -> int:
    """Live jobs (wherever their folders are) and the newest finished runs under runs_root."""
    import time

    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import finished_runs, live_jobs

    jobs = live_jobs()
    if not jobs:
        print("no live training jobs")
    else:
        rows = [("RUN FOLDER", "ARCH", "STATE", "STEP", "IMG/S", "VIEWERS", "PID")]
        for job in jobs:
            status = query_status(job) or {}
            rows.append((str(job.run_dir), status.get("arch", job.arch), status.get("state", "not answering"),
                         f"{status.get('step', 0):,}", f"{status.get('images_per_s', 0):,.0f}",
                         str(status.get("viewers", "-")), str(job.pid)))
        _print_rows("live jobs", rows)
    runs = finished_runs(runs_root)
    if runs:
        rows = [("RUN FOLDER", "ARCH", "ENDED", "STEP", "WHEN")]
        for run in runs:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.ended or run.started))
            rows.append((str(run.run_dir), run.arch or "-", run.state, "-" if run.step is None else f"{run.step:,}", when))
        _print_rows(f"recent runs in {runs_root}", rows)
    return 0


def _print_rows(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"{title}:")
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_attach(target: str, runs_root: Path) -> int:
    from tui_gan.jobs.client import query_status
    from tui_gan.jobs.registry import JobError, pid_alive, read_job, resolve_run

    run_dir = resolve_run(target, runs_root)
    job = read_job(run_dir)
    live = job is not None and job.state == "running"
    if live and (not pid_alive(job.pid) or query_status(job) is None):
        raise JobError(f"the job of {run_dir} is gone (pid {job.pid} died without cleaning up): "
                       f"continue it with tui-gan train --resume {run_dir}")
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise ConfigError("attach needs a terminal (use tui-gan ls to see a job's progress from a script)")
    from tui_gan.ui.app import run_dashboard

    return run_dashboard(run_config(run_dir), attach=job if live else run_dir)


def run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig a run folder's config.json records (its extra keys ignored)."""
    import dataclasses
    import json

    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}/config.json is not readable: {exc}") from None
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        return TrainConfig.from_dict({k: v for k, v in saved.items() if k in known})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{run_dir}/config.json holds unusable settings: {exc}") from None


def cmd_archs() -> int:
    from rich.console import Console
    from rich.table import Table

    from tui_gan.models import ARCHS, count_params
    from tui_gan.training.recipes import DEFAULTS, SEED, describe

    table = Table(title="tui-gan architectures")
    for heading in ("name", "G params", "D params"):
        table.add_column(heading, no_wrap=True)  # the description and recipe wrap instead
    for heading in ("description", "default recipe", "from"):
        table.add_column(heading)
    for spec in ARCHS.values():
        G, D = spec.build(100)
        table.add_row(spec.name, f"{count_params(G):,}", f"{count_params(D):,}", spec.description,
                      describe(DEFAULTS.get(spec.name, SEED)), spec.origin)
    Console().print(table)
    print(f"--recipe seed, for every architecture: {describe(SEED)}")
    return 0


def cmd_sample(checkpoint: str, n: int, output: str, seed: int, digit: int | None = None) -> int:
    import numpy as np
    import torch

    from tui_gan.fileio import atomic_write
    from tui_gan.render import save_grid_png, to_uint8

    if n < 1:
        raise ConfigError(f"-n must be at least 1, got {n}")
    if digit is not None and not 0 <= digit <= 9:
        raise ConfigError(f"--digit must be 0-9, got {digit}")
    out = Path(output)
    if out.suffix.lower() not in (".png", ".npy"):
        raise ConfigError(f"output must end in .png or .npy, got {output!r}")
    if not out.parent.exists() or not os.access(out.parent, os.W_OK):
        raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist or is not writable")
    data, G, z_dim = load_generator(checkpoint)
    if digit is not None and not G.n_classes:
        raise ConfigError(f"{checkpoint} is from a run without --conditional: its generator cannot be asked for "
                          "a digit (train with --conditional)")
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    y = None
    if G.n_classes:
        y = torch.full((n,), digit) if digit is not None else torch.arange(n) % G.n_classes
    with torch.no_grad():
        images = to_uint8((G(z) if y is None else G(z, y)).numpy())
    if out.suffix.lower() == ".npy":
        atomic_write(out, lambda f: np.save(f, images))
    else:  # a conditional grid of 0-9 in turn: a column per digit
        save_grid_png(images, out, columns=G.n_classes if y is not None and digit is None else None, scale=2)
    what = f"{n} digits" if y is None else (f"{n} x digit {digit}" if digit is not None else f"{n} digits, 0-9 in turn")
    print(f"wrote {what} from {data['arch']} (step {data['step']}) to {out}")
    return 0


def load_generator(checkpoint: str):
    """(checkpoint data, its generator in eval mode on the CPU, latent size)."""
    from tui_gan.models import get_arch
    from tui_gan.models.conditional import NUM_CLASSES
    from tui_gan.training.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint)
    spec = get_arch(data["arch"])
    z_dim = int(data["config"].get("z_dim", 100))
    G, _ = spec.build(z_dim, NUM_CLASSES if data["config"].get("conditional") else 0)
    try:  # the EMA of G when the run kept one: what the run itself sampled and judged
        G.load_state_dict(data.get("generator_ema") or data["generator"])
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint}: generator weights do not fit {spec.name!r}: {str(exc).splitlines()[0]}") from None
    return data, G.eval(), z_dim


def cmd_eval(checkpoint: str, samples: int | None, data_dir: str | None) -> int:
    import json

    from tui_gan.data import load_dataset
    from tui_gan.quality import evaluate, load_or_train, real_floor
    from tui_gan.training.quality_judge import eval_images

    data, G, z_dim = load_generator(checkpoint)
    config = data["config"]
    n = samples if samples is not None else int(config.get("eval_samples", 1000))
    if n < 2:
        raise ConfigError(f"--samples must be at least 2, got {n}")
    dataset = load_dataset(config.get("dataset", "mnist"), data_dir or config.get("data_dir"),
                           synthetic_size=int(config.get("synthetic_size", 60000)), seed=int(config.get("seed", 0)))
    print(f"judging {n} digits from {data['arch']} at step {data['step']} against {dataset.source}...", file=sys.stderr)
    classifier = load_or_train(dataset)
    # the digits the engine judges
    images, labels = eval_images(G, int(config.get("seed", 0)), n, z_dim, conditional=bool(G.n_classes))
    report = evaluate(classifier, images, labels)
    result = {
        "checkpoint": str(checkpoint), "arch": data["arch"], "step": data["step"], "epoch": data["epoch"],
        "dataset": dataset.name, "classifier_accuracy": classifier.val_accuracy,
        "real_floor": real_floor(classifier, n=n), **report.to_dict(),
    }
    if report.accuracy is not None:
        result["accuracy"] = report.accuracy
    print(json.dumps(result, indent=2))
    return 0
