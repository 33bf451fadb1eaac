"""One run of benchmarks/quality.py: the real Engine trained for a budget of seconds or steps
(judged along the way for the time-to-quality curve), then the generator it samples with judged
by the quality classifier."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

import torch
from bf16_sim import Bf16Sim
from quality_curve import Curve

from tui_gan.config import TrainConfig
from tui_gan.quality import evaluate
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.engine import Engine
from tui_gan.training.quality_judge import eval_images

BATCH = 128
SIM = "bf16-sim"
WARMUP_STEPS = 2  # one-off costs (allocator, kernel choice) land here; img/s leaves them out


class BenchError(Exception):
    pass


class BudgetEngine(Engine):
    """The real Engine; it asks itself to stop once `seconds` of training time have passed since
    the end of its warm-up steps (the time its curve spent judging left out) or at step `steps`,
    and keeps the time at which each of its steps ended. With a Bf16Sim its steps run under that
    in place of the precision's autocast."""

    def __init__(
        self,
        config: TrainConfig,
        emit,
        *,
        seconds: float,
        steps: int | None,
        curve: Curve,
        sim: Bf16Sim | None = None,
        **kwargs,
    ) -> None:
        super().__init__(config, emit, **kwargs)
        self.seconds, self.steps = seconds, steps
        self.curve = curve
        self.sim = sim
        self.ends: list[float] = []

    @property
    def trained_s(self) -> float:
        return self.ends[-1] - self.ends[WARMUP_STEPS - 1] - self.curve.judging_s

    def setup(self) -> None:
        super().setup()
        if self.sim:  # the benchmark never switches architectures: the first one is all there is
            self.sim.hook(self.current.G, self.current.D)
            self._autocast = self.sim.autocast

    def train_step(self, state=None) -> None:
        super().train_step(state)
        self.ends.append(time.monotonic())
        if len(self.ends) <= WARMUP_STEPS:
            return
        if self.curve.due(self.trained_s):
            self.curve.add(self.trained_s, self.current.step)
        # The loop reads commands before its next step, so exactly one Stop is ever sent.
        if self.trained_s >= self.seconds or (self.steps and self.current.step >= self.steps):
            self.send(cmd.Stop(checkpoint=False))


def cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds all processes have used, this process's), or None without /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    mine = os.times()
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), mine.user + mine.system


def parse_settings(parser, items: list[str]) -> dict:
    """--set KEY=VALUE items as train settings: JSON values (16000, 0.5), else the word itself
    (loss=lsgan); an unknown key is the parser's error."""
    settings = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            parser.error(f"--set {item!r}: give KEY=VALUE")
        try:
            settings[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            settings[key.replace("-", "_")] = value
    unknown = set(settings) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        parser.error(f"--set: unknown train setting(s) {', '.join(sorted(unknown))}")
    return settings


def make_config(
    arch: str,
    recipe: str,
    seed: int,
    dataset_name: str,
    device: str,
    runs_dir: str,
    conditional: bool = False,
    settings: dict | None = None,
) -> TrainConfig:
    return TrainConfig(
        arch=arch,
        dataset=dataset_name,
        epochs=1_000_000,
        batch_size=BATCH,
        eval_every=0,
        seed=seed,
        device=device,
        runs_dir=runs_dir,
        recipe=recipe,
        conditional=conditional,
        **(settings or {}),
    ).validate()


def train_and_judge(arch: str, recipe: str, precision: str, seed: int, dataset, classifier, args) -> dict:
    """One cell of the table: train for the budget (judged every --curve-every s on the way),
    then judge the generator the engine samples with."""
    problems: list[str] = []

    def listen(event: ev.Event) -> None:
        if isinstance(event, ev.Failed):
            problems.append(event.message)

    load, cpu_before, began = os.getloadavg()[0], cpu_seconds(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tui-gan-quality-") as runs_dir:
        settings = {**args.settings, "precision": engine_precision(precision)}
        config = make_config(
            arch, recipe, seed, dataset.name, args.device, runs_dir, args.conditional, settings
        )
        curve = Curve(args.curve_every, lambda: judge(engine, config, classifier, args).frechet_distance)
        engine = BudgetEngine(
            config,
            listen,
            seconds=args.seconds,
            steps=args.steps,
            curve=curve,
            sim=simulation(precision),
            dataset=dataset,
            run_dir=False,
        )
        reason = engine.run()
    cpu_after, wall = cpu_seconds(), time.monotonic() - began
    state, ends = engine.current, engine.ends
    others = None  # CPU time other processes took while this one trained, in cores: the fairness check
    if cpu_before and cpu_after:
        others = max(0.0, (cpu_after[0] - cpu_before[0]) - (cpu_after[1] - cpu_before[1])) / wall
    row = {
        "arch": arch,
        "recipe": recipe,
        "precision": precision,
        "seed": seed,
        "load_at_start": round(load, 2),
        "steps": state.step,
        "images_per_s": None,
        "diverged": state.why if state.failed else None,
        "judged": None,
        "report": None,
        "others_cores": others,
        "settings": dataclasses.asdict(state.recipe),  # what the engine resolved the recipe to
    }
    if len(ends) > WARMUP_STEPS + 1:
        row["images_per_s"] = (len(ends) - WARMUP_STEPS) * BATCH / engine.trained_s
    if state.failed:
        return row  # a result, not an error: the recipe blew up within the budget
    if reason != "stopped" or problems:
        raise BenchError(
            f"{arch} / {recipe}: training ended ({reason}) after {state.step} steps"
            + (f": {problems[0]}" if problems else "")
        )
    row["judged"] = "G" if state.G_ema is None else "G_ema"
    report = judge(engine, config, classifier, args)
    row["report"] = {**report.to_dict(), "accuracy": report.accuracy}
    curve.points.append((round(engine.trained_s, 2), report.frechet_distance, state.step))  # the end point
    row["curve"], row["time_to"] = curve.points, curve.time_to(args.floor)
    row["steps_to"] = curve.time_to(args.floor, steps=True)
    return row


def engine_precision(precision: str) -> str:
    """The engine's own precision for a --precision value: a simulated bf16 trains fp32 kernels."""
    return "fp32" if precision.startswith(SIM) else precision


def simulation(precision: str) -> Bf16Sim | None:
    """The Bf16Sim for "bf16-sim" or "bf16-sim:PLACE+PLACE" (those places kept in fp32), else None."""
    if not precision.startswith(SIM):
        return None
    name, _, keep = precision.partition(":")
    if name != SIM:
        raise BenchError(f"--precision {precision}: write {SIM} or {SIM}:PLACE+PLACE")
    try:
        return Bf16Sim(tuple(p for p in keep.split("+") if p))
    except ValueError as exc:
        raise BenchError(str(exc)) from None


def judge(engine: BudgetEngine, config: TrainConfig, classifier, args):
    """The quality report of the generator the engine samples with (its EMA copy if it keeps one)."""
    state = engine.current
    sampler = state.G if state.G_ema is None else state.G_ema
    images, labels = eval_images(
        sampler, config.seed, args.samples, config.z_dim, engine.device, args.conditional
    )
    return evaluate(classifier, images, labels)


def outside_held_out(classifier, dataset) -> torch.Tensor:
    """The indices of the dataset's digits that are not among the classifier's held-out ones."""
    held = {row.tobytes() for row in classifier.reference_images.flatten(1).numpy()}
    return torch.tensor(
        [i for i, row in enumerate(dataset.images.flatten(1).numpy()) if row.tobytes() not in held]
    )


def real_digits(classifier, dataset, n: int, seed: int) -> dict:
    """The judge on up to n real digits from outside its held-out set, as many as a run's samples:
    what a perfect generator would score (an FD floor at the runs' own sample count)."""
    pool = outside_held_out(classifier, dataset)
    if len(pool) < 2:
        raise BenchError("no real digits outside the classifier's held-out set to compare with")
    pick = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]]
    return evaluate(classifier, dataset.images[pick]).to_dict()
