"""Training configuration: defaults, a JSON/TOML config file, command-line overrides, validation."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_gan.errors import ConfigError

DATASETS = ("mnist", "fashion-mnist", "synthetic")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "synthetic": "synthetic digits"}


def pretty_name(dataset: str) -> str:
    """How the status line and messages name a dataset."""
    return _PRETTY.get(dataset, dataset)


@dataclass
class TrainConfig:
    arch: str = "mlp"
    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 100
    batch_size: int = 128
    # How it trains: `recipe` (tui_gan/training/recipes.py) per architecture; a value set here wins.
    recipe: str = "default"  # or "seed": the reference GANs' own BCE + Adam 2e-4
    loss: str | None = None  # bce, hinge, lsgan, wgan-gp
    lr: float | None = None  # both nets (unless lr_g / lr_d)
    lr_g: float | None = None
    lr_d: float | None = None
    lr_schedule: str | None = None  # none, linear, cosine
    warmup: int | None = None  # steps of learning-rate warm-up
    ema: float | None = None  # generator EMA decay, 0 off
    n_critic: int | None = None  # D steps per G step
    gp_weight: float | None = None  # wgan-gp gradient-penalty weight
    early_stop: int | None = None  # stop after this many evaluations without a better Frechet distance
    conditional: bool = False  # G and D take the digit's class (models/conditional.py)
    beta1: float | None = None  # Adam's betas (default: the recipe's)
    beta2: float | None = None
    z_dim: int = 100
    seed: int = 0
    device: str = "auto"
    runs_dir: str = "runs"
    max_steps: int | None = None  # stop early (demos, tests, benchmarks)
    synthetic_size: int = 60000
    sample_count: int = 64  # fixed-noise digits in the sample grid (conditional: rounded up to 10 per row)
    checkpoint_every: int = 1  # epochs between automatic checkpoints (0: only at the end)
    eval_every: float = 30.0  # seconds of training between quality evaluations (0: off)
    eval_samples: int = 1000  # generated digits per quality evaluation
    tensorboard: bool = True  # event files in RUN_DIR/tensorboard
    precision: str = "fp32"  # bf16/fp16: the forward passes under autocast
    compile: str = "off"  # torch.compile mode for G and D ("reduce-overhead" captures CUDA graphs)

    def validate(self) -> TrainConfig:
        from tui_gan.models import get_arch

        get_arch(self.arch)
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        kind, colon, index = str(self.device).partition(":")
        if self.device not in DEVICES and not (kind == "cuda" and colon and index.isdigit()):
            raise ConfigError(
                f"unknown device {self.device!r}; choose one of: {', '.join(DEVICES)} or cuda:N "
                "(N a GPU number: 0, 1, ...)"
            )
        _positive_int("epochs", self.epochs)
        _positive_int("batch size", self.batch_size)
        _positive_int("z-dim", self.z_dim)
        _positive_int("synthetic size", self.synthetic_size)
        _positive_int("sample count", self.sample_count)
        if self.max_steps is not None:
            _positive_int("max steps", self.max_steps)
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint-every must be 0 or more, got {self.checkpoint_every!r}")
        _positive_int("eval samples", self.eval_samples)
        if not _finite(self.eval_every) or self.eval_every < 0:
            raise ConfigError(
                f"eval-every must be 0 (off) or a positive number of seconds, got {self.eval_every!r}"
            )
        self._validate_recipe()
        for name, beta in (("beta1", self.beta1), ("beta2", self.beta2)):
            if beta is not None and (not _finite(beta) or not 0 <= beta < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {beta!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(
                f"unknown compile mode {self.compile!r}; choose one of: {', '.join(COMPILE_MODES)}"
            )
        for name in ("tensorboard", "conditional"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        return self

    def _validate_recipe(self) -> None:
        from tui_gan.training.recipes import LOSSES, RECIPES, SCHEDULES

        for name, value, choices in (
            ("recipe", self.recipe, RECIPES),
            ("loss", self.loss, LOSSES),
            ("lr-schedule", self.lr_schedule, SCHEDULES),
        ):
            if value is not None and value not in choices:
                raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
        for name, label in (
            ("lr", "learning rate"),
            ("lr_g", "learning rate --lr-g"),
            ("lr_d", "learning rate --lr-d"),
            ("gp_weight", "gp-weight"),
        ):
            value = getattr(self, name)
            if value is not None and (not _finite(value) or value <= 0):
                raise ConfigError(f"{label} must be a positive number, got {value!r}")
        if self.ema is not None and (not _finite(self.ema) or not 0 <= self.ema < 1):
            raise ConfigError(f"ema must be 0 (off) or a decay in (0, 1) such as 0.999, got {self.ema!r}")
        if self.warmup is not None and (
            isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0
        ):
            raise ConfigError(f"warmup must be 0 or a whole number of steps, got {self.warmup!r}")
        if self.n_critic is not None:
            _positive_int("n-critic", self.n_critic)
        if self.early_stop is not None:
            _positive_int("early-stop patience (evaluations)", self.early_stop)
            if not self.eval_every:
                raise ConfigError("--early-stop needs quality evaluations: --eval-every must not be 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a .json or .toml file of TrainConfig settings (dashes or underscores in keys)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"config file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of settings")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
