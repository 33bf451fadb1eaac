"""Does D memorise the real digits, and do the samples get worse when it does?

Trains one architecture on the benchmark data minus the quality classifier's held-out digits,
for --steps steps; every --every steps it prints the Frechet distance of --samples samples (and
its ratio to the real-vs-real floor) beside D's mean score on 1,000 of the digits it trains on,
on the held-out digits it never sees, and on 1,000 fakes. A D that generalises scores the two
real sets alike; one that memorises scores its training digits above the held-out ones, which
drift down towards the fakes (Karras et al. 2020 saw the same before a GAN's FD turned up).

    python benchmarks/overfit.py --arch mlp --steps 12000 --every 500
    python benchmarks/overfit.py --arch mlp --steps 12000 --set augment=translation+cutout

Step-matched, so other load on the machine changes its duration, not its figures."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from bench_data import load_images  # noqa: E402 - benchmarks/ is sys.path[0]
from quality_curve import Curve  # noqa: E402
from quality_run import BudgetEngine, judge, make_config, outside_held_out, parse_settings  # noqa: E402

from tui_gan.models import ARCH_NAMES  # noqa: E402
from tui_gan.quality import load_or_train, real_floor  # noqa: E402
from tui_gan.training.state import evaluating  # noqa: E402

PROBE = 1000  # training digits and fakes D scores at each point


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="mlp", choices=ARCH_NAMES)
    parser.add_argument("--recipe", default="default", choices=("seed", "default"))
    parser.add_argument("--steps", type=int, default=12000)
    parser.add_argument("--every", type=int, default=500, help="steps between points")
    parser.add_argument("--samples", type=int, default=2000, help="generated digits judged per point")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="auto", choices=("auto", "mnist", "synthetic"))
    parser.add_argument("--json", help="also write the points here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train setting")
    args = parser.parse_args()
    args.settings = parse_settings(parser, args.set)
    if args.steps < 1 or args.every < 1 or args.samples < 2:
        parser.error("--steps, --every and --samples must be positive (--samples at least 2)")
    args.conditional = False  # what quality_run.judge reads
    return args


def held_out_split(dataset, classifier):
    """(the dataset without the classifier's held-out digits, those digits)."""
    keep = outside_held_out(classifier, dataset)
    train = dataclasses.replace(dataset, images=dataset.images[keep], labels=dataset.labels[keep])
    return train, classifier.reference_images


def as_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 digits as D sees them in training (training/batches.py): (n, 1, 28, 28) in [-1, 1]."""
    return images_u8.unsqueeze(1).float().mul(2 / 255).sub(1)


class ProbedEngine(BudgetEngine):
    """The benchmark's engine, stopping every `every` steps to score and judge."""

    def __init__(self, *args, every: int, judge_point, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.every, self.judge_point = every, judge_point

    def train_step(self, state=None) -> None:
        super().train_step(state)
        if self.current.step % self.every == 0:
            self.judge_point(self)


def d_scores(engine, train_real, held_real, z) -> tuple[float, float, float]:
    """D's mean adversarial score (column 0) on training digits, held-out digits and fakes."""
    s = engine.current
    with evaluating(s.G) as G, evaluating(s.D) as D:
        fakes = G(z.to(engine.device))
        return tuple(
            D(x.to(engine.device), None)[:, 0].float().mean().item()
            for x in (as_input(train_real), as_input(held_real), fakes)
        )


def main() -> int:
    args = parse_args()
    dataset = load_images(args.dataset)
    classifier = load_or_train(dataset)
    floor = real_floor(classifier, n=args.samples)
    train, held = held_out_split(dataset, classifier)
    gen = torch.Generator().manual_seed(args.seed + 1)
    train_real = train.images[torch.randperm(len(train.images), generator=gen)[:PROBE]]
    points: list[dict] = []
    print(
        f"{args.arch} / {args.recipe} {args.settings or ''}: {len(train.images)} training digits, "
        f"{len(held)} held out; real-vs-real floor {floor:.2f}"
    )
    print(f"{'step':>6} {'FD':>7} {'/floor':>6} {'D train':>8} {'D held':>8} {'D fake':>8} {'gap':>6}")

    def point(engine) -> None:
        z = torch.randn(PROBE, config.z_dim, generator=torch.Generator().manual_seed(args.seed + 2))
        d_train, d_held, d_fake = d_scores(engine, train_real, held, z)
        fd = judge(engine, config, classifier, args).frechet_distance
        row = dict(step=engine.current.step, fd=fd, d_train=d_train, d_held=d_held, d_fake=d_fake)
        points.append(row)
        print(
            f"{row['step']:>6} {fd:>7.2f} {fd / floor:>6.2f} {d_train:>8.3f} {d_held:>8.3f} "
            f"{d_fake:>8.3f} {d_train - d_held:>6.3f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="tui-gan-overfit-") as runs_dir:
        config = make_config(
            args.arch, args.recipe, args.seed, dataset.name, "cpu", runs_dir, settings=args.settings
        )
        engine = ProbedEngine(
            config,
            lambda event: None,
            seconds=float("inf"),
            steps=args.steps,
            curve=Curve(0, None),
            dataset=train,
            run_dir=False,
            every=args.every,
            judge_point=point,
        )
        engine.run()
    best = min(points, key=lambda p: p["fd"])
    print(
        f"best FD {best['fd']:.2f} ({best['fd'] / floor:.2f}x the floor) at step {best['step']}; "
        f"at the end {points[-1]['fd']:.2f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"floor": floor, "settings": vars(args) | {"set": args.settings}, "points": points},
                indent=2,
                default=str,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
