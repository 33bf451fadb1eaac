"""What live quality evaluation costs training: images/s with evaluations off and on, measured
in the same run.

For each architecture the real Engine trains headless (no run folder) on the same data (the
shared MNIST test split when present, else 10,000 synthetic digits) for the same wall time,
alternating eval_every=0 (off) and eval_every=--eval-every (on, default the app's 30 s). Each
evaluation generates eval_samples (1,000) digits and runs the LeNet classifier on them; the engine
spaces evaluations by max(eval_every, 20 x the last evaluation's cost), so they should never take
more than ~5% of training time; try --eval-every 5 to see that cap at work.

images/s = steps x batch / wall time from the end of step --warmup to the end of the last step,
evaluations included (the engine's own Stats leave evaluation time out of their images/s, so
they cannot show this cost). Also printed: the number of evaluations in that window, their mean
cost (the Quality events' `seconds`), the mean wall time between them, the share of the on-run's
wall time they took, and the steady-state share the budget rule implies, s / (interval + s).

The classifier itself: with eval_every > 0 the engine starts a background thread that calls
quality.load_or_train(dataset) and computes the real-vs-real floor. When the classifier is
cached (default_cache_dir()/classifiers, i.e. $TUI_GAN_DATA/classifiers, else
$XDG_CACHE_HOME/tui-gan/data/classifiers, else ~/.cache/tui-gan/data/classifiers) that thread
only loads it (well under a second); when it is not, it trains one first, once per dataset, in
the background while the GAN trains. This benchmark makes sure it is cached before measuring,
so the runs exclude that one-off training; it reports it separately by timing load_or_train
into an empty temporary cache (skip with --no-cold).

    python benchmarks/quality_cost.py [--arch mlp --arch dcgan] [--seconds 62] [--eval-every 30] [--repeats 1]

Target: slowdown <= 5%. With 2 CPU cores and a busy machine, run-to-run noise is several %: the
"eval share" column (measured directly from the evaluations' own timings) is the steadier number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import load_images  # noqa: E402 - benchmarks/ is sys.path[0]

from tui_gan.config import TrainConfig  # noqa: E402
from tui_gan.data import Dataset, default_cache_dir  # noqa: E402
from tui_gan.errors import TuiGanError  # noqa: E402
from tui_gan.quality import load_or_train, real_floor  # noqa: E402
from tui_gan.training import commands as cmd  # noqa: E402
from tui_gan.training import events as ev  # noqa: E402
from tui_gan.training.engine import Engine  # noqa: E402

BATCH = 128


class BenchError(Exception):
    pass


def timed_run(
    arch: str, dataset: Dataset, eval_every: float, seconds: float, warmup: int, device: str
) -> dict:
    """Train for `seconds` of wall time after `warmup` steps; what happened, with timestamps."""
    step_times: list[float] = []
    quality: list[tuple[float, float]] = []  # (emitted at, seconds it took)
    failures: list[str] = []
    ready: list[float] = []

    class TimedEngine(Engine):
        deadline = float("inf")
        asked_to_stop = False

        def train_step(self, state=None) -> None:
            super().train_step(state)
            now = time.monotonic()
            step_times.append(now)
            if len(step_times) == warmup + 1:
                self.deadline = now + seconds
            elif now >= self.deadline and not self.asked_to_stop:
                self.asked_to_stop = True
                self.send(cmd.Stop(checkpoint=False))

    def record(event: ev.Event) -> None:
        if isinstance(event, ev.Quality):
            quality.append((time.monotonic(), event.seconds))
        elif isinstance(event, ev.Failed):
            failures.append(event.message)
        elif isinstance(event, ev.Notice) and event.topic == "quality":
            if "ready" in event.message:
                ready.append(time.monotonic())
            elif event.level != "info":
                failures.append(event.message)

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tui-gan-bench-runs-") as runs_dir:
        config = TrainConfig(
            arch=arch,
            dataset=dataset.name,
            epochs=1_000_000,
            batch_size=BATCH,
            eval_every=eval_every,
            device=device,
            runs_dir=runs_dir,
            seed=0,
        )
        engine = TimedEngine(config, record, dataset=dataset, run_dir=False, exit_when_done=True)
        reason = engine.run()
    if failures:
        raise BenchError(f"{arch} (eval_every {eval_every:g}): {failures[0]}")
    if reason != "stopped" or len(step_times) < warmup + 2:
        raise BenchError(
            f"{arch} (eval_every {eval_every:g}): training ended ({reason}) after {len(step_times)} steps"
        )
    start, end = step_times[warmup], step_times[-1]
    inside = [(t, s) for t, s in quality if start <= t <= end]
    return {
        "images_per_s": (len(step_times) - 1 - warmup) * BATCH / (end - start),
        "steps": len(step_times) - 1 - warmup,
        "evals": [s for _, s in inside],  # costs of the evaluations inside the timed window
        "all_evals": [s for _, s in quality],  # warm-up steps included
        "eval_times": [t for t, _ in quality],
        "wall": end - start,
        "ready_after": ready[0] - step_times[0] if ready else None,
        "run_s": time.monotonic() - began,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", help="architecture (repeatable; default: mlp and dcgan)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=62.0,
        help="wall time per run (62: room for two evaluations 30 s apart)",
    )
    parser.add_argument(
        "--eval-every", type=float, default=TrainConfig.eval_every, help="seconds between evaluations when on"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="off/on pairs per architecture (order flips each pair)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the timing")
    parser.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-cold", action="store_true", help="skip timing a classifier trained from an empty cache"
    )
    args = parser.parse_args()
    archs = args.arch or ["mlp", "dcgan"]
    if args.eval_every <= 0:
        parser.error("--eval-every must be positive (0 is the 'off' run, always measured)")

    try:
        dataset = load_images(args.dataset)
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, data: {dataset.source} "
            f"({len(dataset)} images), {TrainConfig.eval_samples} samples per evaluation"
        )
        if dataset.labels is None:
            raise BenchError("the dataset has no labels: the quality classifier cannot be trained")
        if not args.no_cold:
            with tempfile.TemporaryDirectory(prefix="tui-gan-bench-cache-") as cold:
                t = time.perf_counter()
                clf = load_or_train(dataset, cache_dir=cold)
                trained = time.perf_counter() - t
                t = time.perf_counter()
                real_floor(clf, n=TrainConfig.eval_samples)
                floor = time.perf_counter() - t
            print(
                "classifier from an empty cache (one-off, in the engine's background thread): "
                "trained in "
                f"{trained:.1f} s ({clf.val_accuracy:.1%} held-out accuracy), "
                f"real-vs-real floor {floor:.2f} s"
            )
        t = time.perf_counter()
        clf = load_or_train(dataset)  # the cache the engine will use: trains once if it is missing
        print(
            f"classifier from the cache the engine uses ({default_cache_dir() / 'classifiers'}): "
            f"{time.perf_counter() - t:.2f} s; the runs below start with it cached"
        )
        print(
            f"on = eval_every {args.eval_every:g} s (the engine spaces them by max(that, 20 x last cost)); "
            f"{args.seconds:g} s per run; {args.repeats} off/on pair(s) per arch"
        )
        rows = []
        worst = 0.0
        for arch in archs:
            timed_run(arch, dataset, 0.0, 1.0, args.warmup, args.device)  # warm-up: allocator, kernels
            off, on = [], []
            for r in range(args.repeats):
                order = [(0.0, off), (args.eval_every, on)]
                for eval_every, runs in order if r % 2 == 0 else order[::-1]:
                    run = timed_run(arch, dataset, eval_every, args.seconds, args.warmup, args.device)
                    runs.append(run)
                    print(
                        f"  {arch:6} {'on ' if eval_every else 'off'} #{r + 1}: "
                        f"{run['images_per_s']:8,.0f} img/s, "
                        f"{run['steps']} steps in {run['wall']:.1f} s, "
                        f"{len(run['evals'])} evaluation(s) in that time "
                        f"({', '.join(f'{x:.2f}' for x in run['all_evals']) or '-'} s each, "
                        "warm-up included); "
                        f"whole run {run['run_s']:.1f} s"
                    )
            best_off = max(run["images_per_s"] for run in off)
            best_on = max(run["images_per_s"] for run in on)
            slowdown = 1 - best_on / best_off
            worst = max(worst, slowdown)
            inside = sum(len(run["evals"]) for run in on) / len(on)
            costs = [s for run in on for s in run["all_evals"]]
            gaps = [b - a for run in on for a, b in zip(run["eval_times"], run["eval_times"][1:])]
            share = sum(s for run in on for s in run["evals"]) / sum(run["wall"] for run in on)
            mean = statistics.fmean(costs) if costs else 0.0
            steady = mean / (max(args.eval_every, 20 * mean) + mean) if costs else 0.0
            readies = [run["ready_after"] for run in on if run["ready_after"] is not None]
            rows.append(
                f"{arch:8} {best_off:10,.0f} {best_on:10,.0f} {slowdown:9.1%} {inside:6.1f} "
                f"{mean:7.3f} {f'{statistics.fmean(gaps):.1f} s' if gaps else '-':>8} {share:10.1%} "
                f"{steady:7.1%} {f'{statistics.fmean(readies):.2f} s' if readies else '-':>9}"
            )
        print()
        print(
            f"{'arch':8} {'off img/s':>10} {'on img/s':>10} {'slowdown':>9} {'evals':>6} {'s/eval':>7} "
            f"{'spacing':>8} {'eval share':>10} {'steady':>7} {'clf ready':>9}"
        )
        print("\n".join(rows))
        print()
        print(
            "slowdown: best on vs best off images/s (evaluations included); "
            "evals: per on-run, in the timed window; "
            "s/eval: mean cost, warm-up included; spacing: mean wall time "
            "between evaluations; eval share: evaluation time / on-run wall time; "
            "steady: s/eval / (interval + s/eval) "
            "for a long run; clf ready: seconds from the first step to the classifier being handed over "
            "(negative: before it)"
        )
        print(f"target: slowdown <= 5%: {'met' if worst <= 0.05 else 'NOT met'}")
    except (BenchError, TuiGanError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
