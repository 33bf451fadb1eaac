"""Architecture knobs for experiments and sweeps, one meaning for every family: `--width` scales
hidden widths (MLPs) or channels (DCGAN, progan), `--depth` sets the MLPs' hidden layers (the
convolutional families' extra blocks), `--activation` replaces both nets' activation, `--d-norm`
D's normalisation; `--grow-images` is progan's alone (the images per growth phase).
Left at their defaults they build today's architectures exactly (same modules, same names), so
every checkpoint loads as before. Torch-free: the command line checks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIVATIONS = ("leaky_relu", "relu", "silu", "gelu")
D_NORMS = ("own", "none", "spectral", "layer")  # own: the family's (BatchNorm, Dropout or none)
MAX_WIDTH = 16.0


@dataclass(frozen=True)
class Knobs:
    width: float = 1.0
    depth: int | None = None  # None: the family's
    activation: str | None = None  # None: the family's
    d_norm: str = "own"
    grow_images: int | None = None  # progan's images per growth phase (None: the family's)

    @classmethod
    def of(cls, config: Any) -> Knobs:
        """From a TrainConfig, or a checkpoint's config dict (older ones have none: defaults)."""
        get = (
            config.get
            if isinstance(config, dict)
            else lambda key, default=None: getattr(config, key, default)
        )
        return cls(
            float(get("width", 1.0) or 1.0),
            get("depth", None),
            get("activation", None),
            get("d_norm", None) or "own",
            get("grow_images", None),
        )

    @property
    def default(self) -> bool:
        return self == Knobs()

    def describe(self) -> str:
        """What differs from the family's build, in a few words ("" when nothing does)."""
        parts = []
        if self.width != 1.0:
            parts.append(f"width ×{self.width:g}")
        if self.depth is not None:
            parts.append(f"depth {self.depth}")
        if self.activation:
            parts.append(self.activation)
        if self.d_norm != "own":
            parts.append(f"D norm {self.d_norm}")
        if self.grow_images is not None:
            parts.append(f"growth phases of {self.grow_images:,} images")
        return ", ".join(parts)


def scaled(width: int, knobs: Knobs) -> int:
    return max(1, round(width * knobs.width))


def depth_widths(widths: list[int], depth: int | None) -> list[int]:
    """`depth` hidden widths going from the family's first to its last geometrically (the
    family's own list when depth is None or its length)."""
    if depth is None or depth == len(widths):
        return list(widths)
    first, last = widths[0], widths[-1]
    if depth == 1:
        return [first]
    return [round(first * (last / first) ** (i / (depth - 1))) for i in range(depth)]
