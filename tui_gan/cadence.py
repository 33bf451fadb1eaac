"""When the engine writes a routine (automatic) checkpoint: `--checkpoint-every`'s grammar and the
one rule that decides whether one is due. Torch-free: the command line parses it too.

A number counts epochs (`3`); a number with s, m or h counts training time (`90s`, `10m`, `1h`),
pauses and evaluations excluded; 0 writes none (the final checkpoint is written anyway). Time is
the default because epoch length varies a thousandfold: an MNIST epoch is a second or two on a
GPU and a minute on a CPU."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

DEFAULT = "10m"
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_EPOCHS = re.compile(r"[0-9]+")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smh])")
USAGE = "neither a number of epochs (3), a training time (90s, 10m, 1h) nor 0 (only at the end)"


@dataclass(frozen=True)
class Cadence:
    """Every `epochs` epochs, or every `seconds` of training; neither: only at the end."""

    epochs: int = 0
    seconds: float = 0.0

    @classmethod
    def parse(cls, value: Any) -> Cadence:
        """From `--checkpoint-every`'s text, or a config file's number; ValueError says what is wrong."""
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)  # config files from before the time option hold an int of epochs
        elif isinstance(value, str):
            text = value.strip().lower()
        else:
            raise ValueError(f"{value!r} is {USAGE}")
        if _EPOCHS.fullmatch(text):
            return cls(epochs=int(text))
        match = _DURATION.fullmatch(text)
        if match is None:
            raise ValueError(f"{value!r} is {USAGE}")
        seconds = float(match[1]) * UNITS[match[2]]
        if not 0 < seconds < math.inf:
            raise ValueError(f"{value!r} is no training time: 0 alone means only at the end")
        return cls(seconds=seconds)

    def due(self, epoch_ended: bool, epoch: int, trained_since: float) -> bool:
        """Whether a routine checkpoint is due after a step: `epoch` counts the completed epochs,
        `trained_since` the training seconds since latest.pt was last written."""
        if self.epochs:
            return epoch_ended and epoch % self.epochs == 0
        return bool(self.seconds) and trained_since >= self.seconds


def normalize(value: Any) -> Any:
    """The value as config.json keeps it: a string ("3", "10m"); anything unparsable as given,
    for validation to name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip().lower() if isinstance(value, str) else value


def duration(value: Any) -> float:
    """A training time (`90s`, `10m`, `1.5h`) in seconds; ValueError says what is wrong."""
    match = _DURATION.fullmatch(str(value).strip().lower())
    seconds = float(match[1]) * UNITS[match[2]] if match else 0.0
    if not 0 < seconds < math.inf:
        raise ValueError(f"{value!r} is not a training time (90s, 10m, 1.5h)")
    return seconds


def from_command_line(text: str) -> str:
    """`--checkpoint-every`'s value, checked as it is parsed: a bad one is a usage error."""
    Cadence.parse(text)
    return normalize(text)


def problem(value: Any, config: Any) -> str | None:
    """TrainConfig's check: what is wrong with a config file's value, or None."""
    try:
        Cadence.parse(value)
    except ValueError as exc:
        return f"checkpoint-every {exc}"
    return None
