"""The quality benchmark: how good are the digits each architecture's training recipe makes in a
fixed wall-clock budget?

For each architecture (default: all of them) and each recipe (default: `seed`, the reference GANs'
own recipe - BCE, Adam lr 2e-4, betas 0.5/0.999, no schedule, no EMA - and `default`, the
project's per-architecture defaults), the real Engine trains headless (no run folder, live
evaluations off so they cost no budget) on the same data (the shared MNIST test split when
present, else 10,000 synthetic digits) with batch 128 for --seconds of wall time after 2 warm-up
steps. Runs are strictly sequential; per architecture the recipes run back to back, in an order
that alternates between architectures (and repeats), so a slow patch of the machine does not
always hit the same recipe. --seeds N (or --repeats N) trains each cell N times with seeds --seed,
--seed+1, ... and reports the mean. --precision fp32,bf16 trains each cell in each engine precision
(a row each; the rows of the second are named "default bf16") and compares them on FD, img/s and
time to quality.

Precision at a matched step count: --steps N also stops each run at step N (give --seconds more
than it needs), so FD compares what each precision does per step, whatever its speed here.
`--precision bf16-sim` trains with bf16 autocast's roundings on fp32 kernels
(benchmarks/bf16_sim.py; `bf16-sim:acts`, `:grads`, `:weights`, joined with +, keep those in
fp32): bf16's effect on quality, measured on a CPU where real bf16 is emulated ~100x slower.

Time to quality: every --curve-every seconds of training (default 15; the clock stops while it
judges, so the budget and the curve count training only) each run is judged as at its end; the
table's t<=2x and t<=1.25x columns give the training seconds until FD first dropped to 2x and 1.25x
the real-vs-real floor (mean over seeds; "k/n" when only k of the n seeds got there). The JSON
keeps each run's curve, (seconds, FD, step) points, and the steps to each threshold
(benchmarks/quality_curve.py).

Then the generator the engine samples with (its EMA copy when the recipe keeps one, else G)
makes --samples digits from the engine's own evaluation latents (quality_judge.eval_images), and
the LeNet quality classifier judges them (tui_gan.quality.evaluate):
  FD       Frechet distance to the classifier's held-out real digits in its 84-d features (lower
           is better); read it against the real-vs-real floor, the FD of held-out real digits
           against the other held-out ones (quality.real_floor; with MNIST's 1,000 held-out
           images it compares two halves of 500, so it sits well above what 2,000 samples get:
           13.6 against 3.6 for real digits on the shared MNIST split)
  classes  classes with at least 2% of the samples, out of 10
  score    classifier score, exp(E KL(p(y|x) || p(y))): 1 .. 10, higher is better
  conf     mean max-softmax: low means digits that look like no digit
  steps    training steps in the run (warm-up included); img/s after the warm-up
The table's last row, "real digits", judges --samples real digits from outside the held-out set
the same way: what a perfect generator would score at this sample count (its FD is the fairer
floor, if a little low: the classifier trained on those digits; the target uses real_floor, as
the engine's quality panel does).

    python benchmarks/quality.py [--arch mlp --arch dcgan] [--recipe seed --recipe default]
                                 [--seconds 180] [--samples 2000] [--seeds 1] [--threads N]
                                 [--precision fp32,bf16] [--curve-every 15] [--steps N]
                                 [--conditional] [--json quality.json] [--set KEY=VALUE ...]

--set passes a train setting to every run, as a config file would (`--set grow_images=2000`
fits progan's growth into a CPU's 180 s; `--set loss=wgan-gp`); FD is the mean over repeats
with its standard deviation.

--conditional trains class-conditional G and D (tui-gan train --conditional) and asks each
generator for every digit in turn: the table gains "acc", the share of digits the classifier reads
as the digit asked for.

Targets (judged on the runs made; a target whose runs are missing is "not judged"):
  - every architecture covers 10/10 classes with the default recipe (every repeat);
  - mlp, dcgan, simple and relu-mlp each at least halve their seed-recipe FD (default/seed <= 0.5);
  - the best architecture's default-recipe FD is at most 2x the real-vs-real floor;
  - with --conditional: dcgan (default recipe) draws >= 90% of its digits as the digit asked for.

On a 2-core CPU anything else running steals training steps: the benchmark prints the 1-minute
load average at the start (a warning when it exceeds the cores), measures the CPU time other
processes take during every run (/proc/stat less this process's own) and flags runs where they took
over a tenth of a core. Oversubscription hurts torch's default of a thread per core badly: with one
other busy process, 2 threads trained `simple` ~40x slower than 1 thread did (--threads 1).
Errors are one line on stderr and exit 1 (130 when interrupted); unmet targets still exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import load_images  # noqa: E402 - benchmarks/ is sys.path[0]
from quality_curve import precision_label, precision_lines  # noqa: E402
from quality_run import (  # noqa: E402
    BATCH,
    WARMUP_STEPS,
    BenchError,
    engine_precision,
    make_config,
    parse_settings,
    real_digits,
    simulation,
    train_and_judge,
)
from quality_table import FLOOR_FACTOR, fmt, judge_targets, summarise, table  # noqa: E402

from tui_gan.errors import TuiGanError  # noqa: E402
from tui_gan.models import ARCH_NAMES, get_arch  # noqa: E402
from tui_gan.models.progan import PHASE_IMAGES  # noqa: E402
from tui_gan.quality import load_or_train, real_floor  # noqa: E402
from tui_gan.training.device import native_bf16  # noqa: E402

RECIPES = ("seed", "default")
BUSY_CORES = 0.1  # other processes' CPU use during a run (in cores) above which the run is flagged


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arch", action="append", choices=ARCH_NAMES, help="architecture (repeatable; default: all)"
    )
    parser.add_argument(
        "--recipe", action="append", choices=RECIPES, help="recipe (repeatable; default: seed and default)"
    )
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="training wall time per run, after the warm-up"
    )
    parser.add_argument(
        "--steps", type=int, help="also stop each run at this step (a matched step count: set --seconds high)"
    )
    parser.add_argument("--samples", type=int, default=2000, help="generated digits judged per run")
    parser.add_argument(
        "--seeds",
        "--repeats",
        dest="repeats",
        type=int,
        default=1,
        help="runs per cell, seeds --seed, --seed+1, ...; the table shows means",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        help="engine precisions, comma-separated (fp32,bf16): a row each; compared against the first; "
        "bf16-sim[:PLACE+PLACE] simulates bf16 on fp32 kernels (benchmarks/bf16_sim.py)",
    )
    parser.add_argument(
        "--curve-every",
        type=float,
        default=15.0,
        metavar="S",
        help="judge each run every S s of training too (the clock stops meanwhile): the time to "
        "2x and 1.25x the floor; 0: only at the end",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's own choice, one per core)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every run and the summary here as JSON")
    parser.add_argument(
        "--conditional", action="store_true", help="class-conditional G and D; adds per-digit accuracy"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a train setting for every run, as in a config file (grow_images=16000, loss=lsgan)",
    )
    args = parser.parse_args()
    args.settings = parse_settings(parser, args.set)
    if (
        args.seconds <= 0
        or args.samples < 2
        or args.repeats < 1
        or (args.threads is not None and args.threads < 1)
        or args.curve_every < 0
        or (args.steps is not None and args.steps <= WARMUP_STEPS)
    ):
        parser.error(
            "--seconds must be positive, --samples at least 2, --seeds and --threads at least 1, "
            f"--curve-every 0 or more, --steps above {WARMUP_STEPS}"
        )
    # Each is checked as TrainConfig checks it, before the first run (benchmark()).
    args.precisions = list(dict.fromkeys(p.strip() for p in args.precision.split(",") if p.strip()))
    if not args.precisions:
        parser.error(f"--precision takes engine precisions, comma-separated; got {args.precision!r}")
    args.arch = list(dict.fromkeys(args.arch or ARCH_NAMES))
    args.recipe = list(dict.fromkeys(args.recipe or RECIPES))
    return args


def benchmark(args: argparse.Namespace) -> None:
    """Every run, then the table and the targets (and the JSON). Raises BenchError or TuiGanError."""
    archs, recipes = args.arch, args.recipe
    precisions = args.precisions
    variants = [(r, p) for p in precisions for r in recipes]
    labels = [precision_label(r, p, precisions) for r, p in variants]  # the table's rows
    for recipe in recipes:  # a recipe or precision this checkout lacks fails now, not after hours of runs
        for precision in precisions:
            simulation(precision)
            settings = {**args.settings, "precision": engine_precision(precision)}
            make_config(archs[0], recipe, args.seed, "mnist", args.device, "runs", args.conditional, settings)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise BenchError(f"cannot write {args.json}: no folder {Path(args.json).resolve().parent}")
    growing = [a for a in archs if get_arch(a).grows]
    if growing and "grow_images" not in args.settings:
        print(
            f"note: {', '.join(growing)} grows every {PHASE_IMAGES:,} images by default: a CPU's budget "
            "may end before 28x28 (README measures it with --set grow_images=2000)"
        )
    if "bf16" in precisions and not native_bf16(torch.device(args.device)):
        print(
            f"warning: {args.device} has no bf16 in hardware (no AMX or AVX512-BF16 on a CPU): bf16 is "
            "emulated, so its img/s and time to quality say nothing about bf16 on hardware that has it"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_images(args.dataset)
    if dataset.labels is None:
        raise BenchError("the dataset has no labels: the quality classifier cannot be trained")
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cores} cores, "
        f"1-minute load {load:.2f}; "
        f"data: {dataset.source} ({len(dataset)} images)"
    )
    if load > cores:
        print(
            f"warning: the load average ({load:.2f}) exceeds the {cores} cores: "
            "another process is taking CPU time, so runs get fewer steps than on an idle machine"
        )
    t = time.perf_counter()
    classifier = load_or_train(dataset)
    floor = args.floor = real_floor(classifier, n=args.samples)
    real = real_digits(classifier, dataset, args.samples, args.seed)
    print(
        f"classifier: {classifier.val_accuracy:.1%} on {len(classifier.reference_images)} held-out digits "
        f"(ready in {time.perf_counter() - t:.1f} s); real-vs-real floor FD {floor:.2f}; {real['n']} real "
        f"training digits judged like a run's samples: FD {real['frechet_distance']:.2f}"
    )
    print(
        f"{args.seconds:g} s"
        + (f" or {args.steps} steps" if args.steps else "")
        + f" per run after {WARMUP_STEPS} warm-up steps, batch {BATCH}, "
        f"{args.samples} digits "
        f"judged per run (and every {args.curve_every:g} s of training), recipes {', '.join(recipes)}, "
        f"precisions {', '.join(precisions)}, {args.repeats} seed(s), {args.device}"
        + (f"; set {args.settings}" if args.settings else "")
    )
    sys.stdout.flush()

    rows: list[dict] = []
    busy: list[str] = []  # runs during which other processes took CPU time
    total = len(archs) * len(variants) * args.repeats
    for repeat in range(args.repeats):
        for i, arch in enumerate(archs):
            for recipe, precision in variants if (i + repeat) % 2 == 0 else variants[::-1]:
                began = time.monotonic()
                row = train_and_judge(arch, recipe, precision, args.seed + repeat, dataset, classifier, args)
                row["label"] = precision_label(recipe, precision, precisions)
                rows.append(row)
                rep = row["report"]
                found = (
                    f"FD {rep['frechet_distance']:.2f}, {rep['classes_covered']}/10 classes "
                    f"(judged {row['judged']})"
                    + (f", {rep['accuracy']:.1%} as asked" if rep["accuracy"] is not None else "")
                    if rep
                    else f"diverged: {row['diverged']}"
                )
                print(
                    f"  [{len(rows)}/{total}] {arch} / {row['label']} (seed {row['seed']}): "
                    f"{row['steps']} steps, "
                    f"{fmt(row['images_per_s'], ',.0f')} img/s; {found}; {time.monotonic() - began:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if (row["others_cores"] or 0) > BUSY_CORES:
                    busy.append(f"{arch} / {recipe} (seed {row['seed']}) {row['others_cores']:.2f}")
                    print(
                        f"    warning: other processes used {row['others_cores']:.2f} of a core meanwhile",
                        file=sys.stderr,
                        flush=True,
                    )

    cells = {
        (a, label): summarise([row for row in rows if row["arch"] == a and row["label"] == label])
        for a in archs
        for label in labels
    }
    # The targets read the first precision's rows (named by the plain recipe).
    summary, target_lines = judge_targets(archs, recipes, cells, floor, args.conditional)
    print()
    print("\n".join(table(archs, labels, cells, real, args.conditional)))
    print()
    print("\n".join(precision_lines(archs, recipes, precisions, cells) + target_lines))
    if busy:
        print(
            f"warning: other processes took CPU time during {len(busy)} run(s) (cores they used: "
            f"{', '.join(busy)}): "
            + (
                "their img/s and times are not comparable (their FD at --steps is)"
                if args.steps
                else "those runs trained fewer steps, so their figures are not comparable"
            )
        )
    print(
        f"real-vs-real floor FD: {floor:.2f} ({FLOOR_FACTOR:g}x: {FLOOR_FACTOR * floor:.2f}); "
        f"{real['n']} real digits judged like a run's samples (the 'real digits' row): "
        f"{real['frechet_distance']:.2f}"
    )
    if args.json:
        result = {
            "machine": {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "cores": cores,
                "load_at_start": round(load, 2),
            },
            "settings": {
                "seconds": args.seconds,
                "steps": args.steps,
                "warmup_steps": WARMUP_STEPS,
                "batch": BATCH,
                "samples": args.samples,
                "repeats": args.repeats,
                "seed": args.seed,
                "device": args.device,
                "data": dataset.source,
                "recipes": recipes,
                "precisions": precisions,
                "curve_every": args.curve_every,
                "archs": archs,
                "conditional": args.conditional,
                "set": args.settings,
            },
            "classifier_accuracy": classifier.val_accuracy,
            "real_floor_fd": floor,
            "real_digits": real,
            "cells": [{"arch": a, "recipe": label, **cells[a, label]} for a in archs for label in labels],
            **summary,
            "runs": rows,
        }
        try:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"cannot write {args.json}: {exc.strerror or exc}") from None
        print(f"results written to {args.json}")


def main() -> int:
    args = parse_args()
    code, message = 0, ""
    try:
        benchmark(args)
    except (BenchError, TuiGanError) as exc:
        code, message = 1, str(exc)
    except KeyboardInterrupt:
        code, message = 130, "interrupted"
    if message:
        print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
