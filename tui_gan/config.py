"""Training configuration: every setting once, a JSON/TOML config file, validation.

Each TrainConfig field is declared with `option(...)`: its command-line help, metavar, short
flags, choices and validation rule sit next to its default. cli/parser.py makes the `train`
options from them and validate() checks them, so a new setting is one new field here.
Torch-free: the dashboard's process validates settings too."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_gan import cadence
from tui_gan import config_checks as checks
from tui_gan.errors import ConfigError
from tui_gan.models.knobs import ACTIVATIONS, D_NORMS, MAX_WIDTH

DATASETS = ("mnist", "fashion-mnist", "synthetic")
NUM_CLASSES = 10  # in every dataset: digits, Fashion-MNIST's ten kinds of clothing
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "synthetic": "synthetic digits"}


def pretty_name(dataset: str) -> str:
    """How the status line and messages name a dataset."""
    return _PRETTY.get(dataset, dataset)


def suggest(word: str, options: Sequence[str]) -> str:
    """' (did you mean X?)' when `word` looks like a typo of one of `options`, else ''."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


@dataclass(frozen=True)
class Option:
    """How one TrainConfig field meets the user. `help` may name {choices} and {default}; the
    command line adds "(default X)" itself when it does not."""

    help: str
    metavar: str | None = None
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None  # a callable: looked up late
    flags: tuple[str, ...] = ()  # short flags besides --the-field-name
    check: checks.Check | None = None
    label: str | None = None  # how an unknown choice is named: "unknown <label> 'x'"
    group: str | None = None  # "recipe": train's "how it trains" options
    const: Any = None  # what the option means when given without a value (`--compile`)
    parse: Callable[[str], Any] | None = None  # the command line's text -> value; ValueError if bad

    def choice_list(self) -> tuple[str, ...]:
        return tuple((self.choices() if callable(self.choices) else self.choices) or ())

    def problem(self, name: str, value: Any, config: TrainConfig) -> str | None:
        choices = self.choice_list()
        if choices and value not in choices:
            label = self.label or name.replace("_", "-")
            hint = suggest(str(value), choices)
            return f"unknown {label} {value!r}{hint}; choose one of: {', '.join(choices)}"
        return self.check(value, config) if self.check else None


def option(default: Any, help: str, **details: Any) -> Any:
    """A TrainConfig field with its Option (see Option for the details)."""
    return dataclasses.field(default=default, metadata={"option": Option(help, **details)})


def option_fields() -> tuple[dataclasses.Field, ...]:
    """TrainConfig's fields, each with its Option in metadata["option"]."""
    return dataclasses.fields(TrainConfig)


def _arch_names() -> Sequence[str]:
    from tui_gan.models import ARCH_NAMES  # the registry is torch-free

    return ARCH_NAMES


def _log_formats() -> Sequence[str]:
    from tui_gan.loglines import FORMATS  # torch-free

    return tuple(FORMATS)


def _recipe_names(kind: str) -> Callable[[], Sequence[str]]:
    def names() -> Sequence[str]:
        from tui_gan.training import recipes  # torch-free

        return getattr(recipes, kind)

    return names


@dataclass
class TrainConfig:
    arch: str = option(
        "mlp",
        "architecture: {choices}",
        metavar="NAME",
        flags=("-a",),
        choices=_arch_names,
        label="architecture",
    )
    dataset: str = option("mnist", "dataset: {choices}", metavar="NAME", flags=("-d",), choices=DATASETS)
    data_dir: str | None = option(
        None, "folder with the IDX files (flat or torchvision layout)", metavar="DIR"
    )
    epochs: int = option(100, "epochs to train", metavar="N", check=checks.whole("epochs"))
    batch_size: int = option(128, "batch size", metavar="N", check=checks.whole("batch size"))
    # How it trains: `recipe` (tui_gan/training/recipes.py) per architecture; a value set here wins
    # over the recipe's, and None means the recipe's.
    recipe: str = option(
        "default",
        "{default} (the default): each architecture's best found by benchmarks/quality.py; "
        "seed: the reference GANs' BCE + Adam 2e-4",
        choices=_recipe_names("RECIPES"),
        group="recipe",
    )
    loss: str | None = option(
        None,
        "GAN loss (bce is the original non-saturating one)",
        choices=_recipe_names("LOSSES"),
        group="recipe",
    )
    lr: float | None = option(
        None,
        "Adam learning rate of both nets (the recipe's: 2e-4 for seed)",
        metavar="LR",
        check=checks.positive("learning rate"),
        group="recipe",
    )
    lr_g: float | None = option(
        None,
        "the generator's learning rate",
        metavar="LR",
        check=checks.positive("learning rate --lr-g"),
        group="recipe",
    )
    lr_d: float | None = option(
        None,
        "the discriminator's learning rate (TTUR: higher than G's)",
        metavar="LR",
        check=checks.positive("learning rate --lr-d"),
        group="recipe",
    )
    lr_schedule: str | None = option(
        None,
        "learning-rate decay to 0 over the run's --epochs",
        choices=_recipe_names("SCHEDULES"),
        label="lr-schedule",
        group="recipe",
    )
    warmup: int | None = option(
        None,
        "steps of linear learning-rate warm-up",
        metavar="STEPS",
        check=checks.rule(
            lambda v: checks.whole_number(v) and v >= 0,
            "warmup must be 0 or a whole number of steps, got {value!r}",
        ),
        group="recipe",
    )
    ema: float | None = option(
        None,
        "generator EMA, e.g. 0.999 (0 off): samples, evaluations and exports use it",
        metavar="DECAY",
        check=checks.below_one("ema must be 0 (off) or a decay in (0, 1) such as 0.999, got {value!r}"),
        group="recipe",
    )
    n_critic: int | None = option(
        None, "D steps per G step (wgan-gp: 5)", metavar="N", check=checks.whole("n-critic"), group="recipe"
    )
    gp_weight: float | None = option(
        None,
        "wgan-gp gradient-penalty weight (10)",
        metavar="W",
        check=checks.positive("gp-weight"),
        group="recipe",
    )
    drift: float | None = option(
        None,
        "penalty on D's squared score for real digits, keeping a WGAN critic's scores near 0 "
        "(progan's recipe: 1e-3; 0 off)",
        metavar="W",
        check=checks.rule(
            lambda v: checks.finite(v) and v >= 0, "drift must be 0 (off) or a positive weight, got {value!r}"
        ),
        group="recipe",
    )
    augment: str | None = option(
        None,
        "what every digit D sees, real and fake, goes through first (DiffAugment): a shift of up to "
        "2 pixels, a cutout or both; keeps D from memorising the training digits",
        choices=_recipe_names("AUGMENTS"),
        group="recipe",
    )
    early_stop: int | None = option(
        None,
        "stop after PATIENCE quality evaluations without a better Frechet distance (best.pt keeps the best)",
        metavar="PATIENCE",
        check=checks.patience,
        group="recipe",
    )
    conditional: bool = option(
        False,
        "class-conditional G and D (models/conditional.py): the samples panel shows a row per digit, "
        "the quality panel each digit's accuracy, and `tui-gan sample --digit N` draws a chosen digit",
        check=checks.boolean("conditional"),
        group="recipe",
    )
    beta1: float | None = option(
        None,
        "Adam's beta1 (default: the recipe's; seed 0.5)",
        metavar="BETA",
        check=checks.below_one("beta1 must be in [0, 1), got {value!r}"),
        group="recipe",
    )
    beta2: float | None = option(
        None,
        "Adam's beta2 (default: the recipe's; seed 0.999)",
        metavar="BETA",
        check=checks.below_one("beta2 must be in [0, 1), got {value!r}"),
        group="recipe",
    )
    width: float = option(
        1.0,
        "scale every hidden width (MLPs) or channel count (dcgan, progan) by X",
        metavar="X",
        check=checks.rule(
            lambda v: checks.finite(v) and 0 < v <= MAX_WIDTH,
            f"width must be above 0 and at most {MAX_WIDTH:g}, got {{value!r}}",
        ),
        group="architecture",
    )
    depth: int | None = option(
        None,
        "hidden layers of the MLPs (their widths from the first to the last, as the family's), "
        "extra 3x3 blocks at 14x14 for dcgan, extra 3x3 convolutions per resolution for progan "
        "(default: the family's)",
        metavar="N",
        check=checks.depth,
        group="architecture",
    )
    activation: str | None = option(
        None,
        "the activation of G and D: {choices} (default: the family's)",
        metavar="NAME",
        choices=ACTIVATIONS,
        group="architecture",
    )
    d_norm: str = option(
        "own",
        "D's normalisation: own (the family's), none, spectral (every layer, as SNGAN) or layer",
        metavar="NAME",
        choices=D_NORMS,
        group="architecture",
    )
    grow_images: int | None = option(
        None,
        "progan: images per growth phase (7x7, fade in 14x14, 14x14, fade in 28x28, then 28x28; "
        "default 32000)",
        metavar="N",
        check=checks.whole("grow images"),
        group="architecture",
    )
    z_dim: int = option(100, "latent size", metavar="N", check=checks.whole("z-dim"))
    seed: int = option(
        0,
        "random seed",
        metavar="N",
        check=checks.rule(checks.whole_number, "seed must be an integer, got {value!r}"),
    )
    device: str = option(
        "auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps", metavar="DEVICE", check=checks.device
    )
    runs_dir: str = option("runs", "where run folders go", metavar="DIR")
    name: str | None = option(
        None,
        "the run's name in tui-gan ls and the workspace (default: its folder's name)",
        metavar="NAME",
        check=checks.rule(
            lambda v: isinstance(v, str) and 0 < len(v) <= 64 and v.isprintable(),
            "name must be 1 to 64 printable characters, got {value!r}",
        ),
    )
    max_steps: int | None = option(
        None, "stop after N steps (demos, tests, quick tries)", metavar="N", check=checks.whole("max steps")
    )
    max_time: str | None = option(
        None,
        "stop after TIME of training (90s, 10m, 2h; loading and pauses do not count, a resume "
        "goes on counting): a sweep's budget per run",
        metavar="TIME",
        check=checks.time_limit,
    )
    stop_collapsed: bool = option(
        False,
        "end the run when the quality checks see a mode collapse (its state says collapsed); a "
        "diverged run (non-finite loss) always ends",
        check=checks.boolean("stop collapsed"),
        group="recipe",
    )
    synthetic_size: int = option(
        60000,
        "images in the set of --dataset synthetic",
        metavar="N",
        check=checks.whole("synthetic size"),
    )
    sample_count: int = option(
        64,
        "fixed-noise digits in the sample grid, rounded up to 10 per row when conditional",
        metavar="N",
        check=checks.whole("sample count"),
    )
    checkpoint_every: str = option(
        cadence.DEFAULT,
        "automatic checkpoints (latest.pt): every N epochs (3) or every TIME of training (90s, 10m, "
        "1h; pauses do not count); 0: only the final one, at the end or a stop. The default, "
        "{default}, suits a GPU's 2-second MNIST epochs and a CPU's minute-long ones alike",
        metavar="N|TIME",
        check=cadence.problem,
        parse=cadence.from_command_line,
    )
    eval_every: float = option(
        30.0,
        "seconds of training between quality evaluations, 0 off",
        metavar="S",
        check=checks.rule(
            lambda v: checks.finite(v) and v >= 0,
            "eval-every must be 0 (off) or a positive number of seconds, got {value!r}",
        ),
    )
    eval_samples: int = option(
        1000, "digits generated per quality evaluation", metavar="N", check=checks.whole("eval samples")
    )
    log_every_step: bool = option(
        False,
        "a metrics.csv / TensorBoard row per step (default: a row per ~0.1 s of training with the "
        "mean, min, max and last values of its steps)",
        check=checks.boolean("log-every-step"),
    )
    # A flag that is on by default is the command line's --no-<name>; its help says what that does.
    tensorboard: bool = option(
        True, "no TensorBoard event files in RUN_DIR/tensorboard", check=checks.boolean("tensorboard")
    )
    precision: str = option(
        "fp32",
        "fp32 (TF32 matmuls on Ampere+ GPUs), bf16 or fp16 (GPU) autocast, or auto: bf16 where the "
        "device computes it in hardware (AMX or AVX512-BF16 CPUs, bf16 GPUs), fp32 elsewhere",
        choices=PRECISIONS,
    )
    on_event: str | None = option(
        None,
        "a shell command run (in the run folder) when the run finishes, diverges, collapses or "
        "crashes, with TUI_GAN_EVENT, TUI_GAN_ARCH, TUI_GAN_MESSAGE and TUI_GAN_RUN_DIR set: "
        "mail or chat hooks for detached jobs",
        metavar="CMD",
        check=checks.rule(lambda v: isinstance(v, str) and v.strip() != "", "on-event must be a command"),
    )
    log_format: str = option(
        "text",
        "headless and background jobs' log lines: text (dated, one event a line) or json (one "
        "object a line, for log shippers)",
        metavar="FORMAT",
        choices=_log_formats,
        label="log format",
    )
    compile: str = option(
        "off",
        "torch.compile G and D, MODE one of: {choices} (default {default}; --compile alone means "
        "default; reduce-overhead captures CUDA graphs)",
        metavar="MODE",
        choices=COMPILE_MODES,
        label="compile mode",
        const="default",
    )

    def __post_init__(self) -> None:
        # config.json keeps a string: an int there is from before the time option (cli/train.py)
        self.checkpoint_every = cadence.normalize(self.checkpoint_every)

    def validate(self) -> TrainConfig:
        for f in option_fields():
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue  # not set: the recipe's value, or no limit
            problem = f.metadata["option"].problem(f.name, value, self)
            if problem:
                raise ConfigError(problem)
        return self

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
