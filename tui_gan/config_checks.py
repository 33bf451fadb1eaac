"""The rules config.py's options are checked by: each takes (value, the whole config) and says
what is wrong, or None. Torch-free: the dashboard's process validates settings too."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tui_gan import cadence

# A validation rule: (value, the whole config) -> what is wrong, or None. It sees the whole
# config for the few settings that depend on another one (--early-stop on --eval-every).
Check = Callable[[Any, Any], "str | None"]
DEVICES = ("auto", "cpu", "cuda", "mps")


def whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rule(ok: Callable[[Any], bool], message: str) -> Check:
    """A check from a test of the value and what to say when it fails ({value!r} in it)."""
    return lambda value, config: None if ok(value) else message.format(value=value)


def time_limit(value: Any, config: Any) -> str | None:
    if value is None:
        return None
    try:
        cadence.duration(value)
    except ValueError as exc:
        return f"max time {exc}"
    return None


def depth(value: Any, config: Any) -> str | None:
    if value is None:
        return None
    if not whole_number(value) or value < 0:
        return f"depth must be a whole number of at least 0, got {value!r}"
    if value == 0 and not _convolutional(config.arch):
        return f"depth 0 leaves {config.arch} no hidden layer: give at least 1 (dcgan's 0: no extra block)"
    return None


def whole(label: str) -> Check:
    return rule(
        lambda v: whole_number(v) and v >= 1, label + " must be a whole number of at least 1, got {value!r}"
    )


def positive(label: str) -> Check:
    return rule(lambda v: finite(v) and v > 0, label + " must be a positive number, got {value!r}")


def below_one(message: str) -> Check:
    return rule(lambda v: finite(v) and 0 <= v < 1, message)


def boolean(label: str) -> Check:
    return rule(lambda v: isinstance(v, bool), label + " must be true or false, got {value!r}")


def device(value: Any, config: Any) -> str | None:
    kind, colon, index = str(value).partition(":")
    if value in DEVICES or (kind == "cuda" and colon and index.isdigit()):
        return None
    return (
        f"unknown device {value!r}; choose one of: {', '.join(DEVICES)} or cuda:N (N a GPU number: 0, 1, ...)"
    )


def patience(value: Any, config: Any) -> str | None:
    problem = whole("early-stop patience (evaluations)")(value, config)
    if not problem and not config.eval_every:  # early stopping counts evaluations
        problem = "--early-stop needs quality evaluations: --eval-every must not be 0"
    return problem


def _convolutional(arch: str) -> bool:
    from tui_gan.models import ARCHS  # the registry is torch-free

    return arch in ARCHS and ARCHS[arch].convolutional
