"""Command line: `tui-gan` (dashboard), `train [--headless|--detach]`, `ls`, `attach`, `archs`,
`sample`, `eval`. This module parses and dispatches; train.py, runs.py and checkpoints.py do
the work of each subcommand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui_gan import __version__
from tui_gan.cli.checkpoints import cmd_archs, cmd_eval, cmd_sample
from tui_gan.cli.runs import cmd_attach, cmd_ls
from tui_gan.cli.train import cmd_train
from tui_gan.config import COMPILE_MODES, DATASETS, PRECISIONS
from tui_gan.errors import TuiGanError
from tui_gan.training.recipes import LOSSES, RECIPES, SCHEDULES

SUBCOMMANDS = ("train", "ls", "attach", "archs", "sample", "eval")


# option dest -> TrainConfig field; only options the user actually gave override a config file
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
    mode.add_argument(
        "--detach", action="store_true", help="train in the background; attach with tui-gan attach"
    )
    train.add_argument(
        "--config", metavar="FILE", help="JSON or TOML file of settings; options given here win"
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR|CKPT",
        help="continue a run in its own folder (a run folder, or a checkpoint in one)",
    )
    train.add_argument(
        "--run-dir", metavar="DIR", help="write the run into DIR instead of a new folder under --runs-dir"
    )
    train.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes with DistributedDataParallel (one per GPU; gloo on CPUs), "
        "started with torchrun; the global batch is kept and split over them",
    )
    train.add_argument(
        "--arch",
        "-a",
        choices=ARCH_NAMES,
        metavar="NAME",
        help=f"architecture: {', '.join(ARCH_NAMES)} (default mlp)",
    )
    train.add_argument(
        "--dataset",
        "-d",
        choices=DATASETS,
        metavar="NAME",
        help=f"dataset: {', '.join(DATASETS)} (default mnist)",
    )
    train.add_argument(
        "--data-dir", metavar="DIR", help="folder with the IDX files (flat or torchvision layout)"
    )
    train.add_argument("--epochs", type=int, metavar="N", help="epochs to train (default 100)")
    train.add_argument("--batch-size", type=int, metavar="N", help="batch size (default 128)")
    recipe = train.add_argument_group(
        "how it trains (each architecture's recipe; `tui-gan archs` lists them)"
    )
    recipe.add_argument(
        "--recipe",
        choices=RECIPES,
        help="default: the per-architecture best found by "
        "benchmarks/quality.py; seed: the reference GANs' BCE + Adam 2e-4",
    )
    recipe.add_argument("--loss", choices=LOSSES, help="GAN loss (bce is the original non-saturating one)")
    recipe.add_argument(
        "--lr", type=float, help="Adam learning rate of both nets (the recipe's: 2e-4 for seed)"
    )
    recipe.add_argument("--lr-g", type=float, metavar="LR", help="the generator's learning rate")
    recipe.add_argument(
        "--lr-d", type=float, metavar="LR", help="the discriminator's learning rate (TTUR: higher than G's)"
    )
    recipe.add_argument(
        "--lr-schedule", choices=SCHEDULES, help="learning-rate decay to 0 over the run's --epochs"
    )
    recipe.add_argument("--warmup", type=int, metavar="STEPS", help="linear learning-rate warm-up")
    recipe.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="generator EMA, e.g. 0.999 (0 off): samples, evaluations and exports use it",
    )
    recipe.add_argument("--n-critic", type=int, metavar="N", help="D steps per G step (wgan-gp: 5)")
    recipe.add_argument("--gp-weight", type=float, metavar="W", help="wgan-gp gradient-penalty weight (10)")
    recipe.add_argument(
        "--early-stop",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE quality "
        "evaluations without a better Frechet distance (best.pt keeps the best)",
    )
    recipe.add_argument(
        "--conditional",
        action="store_true",
        default=None,
        help="class-conditional G and D: the samples panel shows a row per digit, the quality "
        "panel each digit's accuracy, and `tui-gan sample --digit N` draws a chosen digit",
    )
    train.add_argument("--beta1", type=float, help="Adam beta1 (default: the recipe's; seed 0.5)")
    train.add_argument("--beta2", type=float, help="Adam beta2 (default: the recipe's; seed 0.999)")
    train.add_argument("--z-dim", type=int, metavar="N", help="latent size (default 100)")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    train.add_argument("--runs-dir", metavar="DIR", help="where run folders go (default ./runs)")
    train.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps (for quick tries)")
    train.add_argument(
        "--checkpoint-every", type=int, metavar="E", help="epochs between checkpoints (0: only at the end)"
    )
    train.add_argument(
        "--synthetic-size", type=int, metavar="N", help="images in the synthetic set (default 60000)"
    )
    train.add_argument(
        "--eval-every",
        type=float,
        metavar="S",
        help="seconds of training between quality evaluations (default 30, 0 off)",
    )
    train.add_argument(
        "--eval-samples", type=int, metavar="N", help="digits generated per quality evaluation (default 1000)"
    )
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default; TF32 matmuls on Ampere+ GPUs), bf16 or fp16 (GPU) autocast",
    )
    train.add_argument(
        "--compile",
        nargs="?",
        const="default",
        choices=COMPILE_MODES,
        metavar="MODE",
        help="torch.compile G and D (MODE: default, reduce-overhead for CUDA graphs, max-autotune)",
    )
    train.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        default=None,
        help="no TensorBoard event files in the run folder",
    )
    train.add_argument(
        "--log-every", type=float, default=10.0, metavar="S", help="headless: seconds between log lines"
    )

    ls = sub.add_parser("ls", help="list live training jobs and recent runs")
    ls.add_argument(
        "--runs-dir", default="runs", metavar="DIR", help="where to look for finished runs (default ./runs)"
    )

    attach = sub.add_parser("attach", help="open the dashboard on a live job, or a finished run read-only")
    attach.add_argument(
        "target",
        nargs="?",
        default="latest",
        metavar="RUN_DIR|latest",
        help="a run folder (default: the newest live job, else the newest run)",
    )
    attach.add_argument(
        "--runs-dir", default="runs", metavar="DIR", help="where `latest` looks for runs (default ./runs)"
    )

    sub.add_parser("archs", help="list the architectures")

    sample = sub.add_parser("sample", help="draw digits from a checkpoint's generator")
    sample.add_argument("checkpoint", metavar="CKPT")
    sample.add_argument("-n", type=int, default=64, help="how many digits (default 64)")
    sample.add_argument(
        "-o", "--output", required=True, help="out.png (a grid) or out.npy (N x 28 x 28 uint8)"
    )
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument(
        "--digit",
        type=int,
        metavar="D",
        help="only this digit, 0-9 (a --conditional run's "
        "checkpoint; without it such a checkpoint draws 0-9 in turn)",
    )

    evaluate = sub.add_parser("eval", help="quality metrics of a checkpoint's generator, as JSON")
    evaluate.add_argument("checkpoint", metavar="CKPT")
    evaluate.add_argument(
        "-n", "--samples", type=int, default=None, help="digits to generate (default: the run's eval-samples)"
    )
    evaluate.add_argument(
        "--data-dir", metavar="DIR", help="where the run's dataset is (default: as trained)"
    )
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
