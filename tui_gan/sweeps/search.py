"""`--search tpe --trials N`: instead of every combination, Optuna's TPE sampler picks each run's
values from the search space, and its median pruner ends runs whose Frechet distance lags the
others' at the same step. The study lives in an Optuna journal file in the sweep folder.

The space comes from the train options: `--loss hinge,lsgan` is a choice, `--lr 1e-4:1e-3` a
range (log scale when both ends are positive floats, whole numbers when both are integers).
A run of the search reports each evaluation to its trial from inside its training process: the
coordinator hands it the trial in the environment (training/search_trial.py reads it)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tui_gan.errors import ConfigError
from tui_gan.training.search_trial import TRIAL_ENV, pruner

JOURNAL = "optuna.journal"
SAMPLERS = ("tpe",)


@dataclass(frozen=True)
class Dimension:
    name: str  # the train option without its dashes, as a Cell's values name it
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    integer: bool = False

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choices:
            return CategoricalDistribution(self.choices)
        if self.integer:
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(self.low, self.high, log=self.low > 0)

    def ends(self) -> tuple[str, ...]:
        """The values a check of every run's options must try: each choice, or both ends."""
        return self.choices or (_text(self.low, self.integer), _text(self.high, self.integer))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "choices": list(self.choices),
            "low": self.low,
            "high": self.high,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Dimension:
        choices = tuple(data["choices"])
        return cls(str(data["name"]), choices, data["low"], data["high"], bool(data["integer"]))


def space(fixed: list[str], swept: dict[str, list[str]]) -> list[Dimension]:
    """The search space: every swept option is a choice, and every fixed one whose value is a
    numeric range (`1e-4:1e-3`) becomes one; those are taken out of `fixed`."""
    dims = [Dimension(name.lstrip("-"), tuple(values)) for name, values in swept.items()]
    i = 0
    while i < len(fixed) - 1:
        span = _range(fixed[i + 1]) if fixed[i].startswith("--") else None
        if span is None:
            i += 1
            continue
        (low, high), integer = span
        dims.append(Dimension(fixed[i].lstrip("-"), low=low, high=high, integer=integer))
        del fixed[i : i + 2]
    if not dims:
        raise ConfigError(
            "--search needs a space: give choices (--loss hinge,lsgan) or ranges (--lr 1e-4:1e-3)"
        )
    return dims


def _range(text: str) -> tuple[tuple[float, float], bool] | None:
    parts = text.split(":")
    if len(parts) != 2:
        return None
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{text!r} is no range: give LOW:HIGH with LOW < HIGH")
    integer = all(p.strip().lstrip("-").isdigit() for p in parts)
    return (low, high), integer


def _text(value: float, integer: bool) -> str:
    return str(int(value)) if integer else f"{value:.4g}"


def open_study(folder: Path, name: str, seed: int):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=name,
        storage=JournalStorage(JournalFileBackend(str(folder / JOURNAL))),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner(),
        direction="minimize",
        load_if_exists=True,
    )


def ask(study, dims: list[Dimension]) -> tuple[int, dict[str, str]]:
    """A new trial: its number and the values of each option, as command-line text."""
    trial = study.ask({d.name: d.distribution() for d in dims})
    values = {}
    for d in dims:
        value = trial.params[d.name]
        values[d.name] = value if isinstance(value, str) else _text(value, d.integer)
    return trial.number, values


def tell(study, number: int, state: str, best_fd: float | None) -> None:
    """How the trial's run ended: its best Frechet distance, pruned, or failed."""
    from optuna.trial import TrialState

    if state == "pruned":
        study.tell(number, state=TrialState.PRUNED)
    elif state in ("finished", "collapsed") and best_fd is not None and math.isfinite(best_fd):
        study.tell(number, best_fd)
    else:
        study.tell(number, state=TrialState.FAIL)


def trial_env(folder: Path, study: str, number: int) -> dict[str, str]:
    return {TRIAL_ENV: json.dumps({"journal": str(folder / JOURNAL), "study": study, "trial": number})}
