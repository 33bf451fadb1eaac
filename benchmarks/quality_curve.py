"""Time to good digits, for benchmarks/quality.py: the FD a run reaches against its training time
(the curve, not only the end point), and the engine precisions compared on it.

A run is judged every --curve-every seconds of training with the same judge and digits as at its
end; the clock stops while it is judged, so the curve's time axis and the budget count training
only. From the curve: the training seconds until FD first drops to 2x and to 1.25x the
real-vs-real floor (None: not within the budget)."""

from __future__ import annotations

import statistics
import time

THRESHOLDS = (2.0, 1.25)  # multiples of the real-vs-real floor


class Curve:
    """The judged points of one run: (training seconds, FD, step), and the wall time spent judging."""

    def __init__(self, every: float, judge) -> None:
        self.every = every  # seconds of training between points (0: no curve)
        self.judge = judge  # judge() -> FD of the generator now
        self.points: list[tuple[float, float, int]] = []
        self.judging_s = 0.0

    def due(self, trained_s: float) -> bool:
        return self.every > 0 and trained_s >= (len(self.points) + 1) * self.every

    def add(self, trained_s: float, step: int) -> None:
        began = time.monotonic()
        self.points.append((round(trained_s, 2), float(self.judge()), step))
        self.judging_s += time.monotonic() - began

    def time_to(self, floor: float, steps: bool = False) -> dict[str, float | None]:
        """The first training second (or step) at which FD <= factor x floor, per THRESHOLDS factor."""
        return {
            f"{factor:g}x": next((p[2 if steps else 0] for p in self.points if p[1] <= factor * floor), None)
            for factor in THRESHOLDS
        }


def precision_label(recipe: str, precision: str, precisions: list[str]) -> str:
    """A table row's recipe column: the first precision keeps the plain recipe name (what the
    targets read), the others carry theirs ("default bf16")."""
    return recipe if precision == precisions[0] else f"{recipe} {precision}"


def summarise_times(rows: list[dict]) -> dict[str, float | None]:
    """Per threshold, the mean time ("2x") and step ("2x_steps") over the repeats, or None unless
    every repeat reached it."""
    out = {}
    for factor in THRESHOLDS:
        key = f"{factor:g}x"
        for field, name in (("time_to", key), ("steps_to", f"{key}_steps")):
            values = [r[field][key] for r in rows if r.get(field)]
            reached = [v for v in values if v is not None]
            out[name] = statistics.fmean(reached) if values and len(reached) == len(rows) else None
        out[f"{key}_reached"] = f"{len(reached)}/{len(rows)}"
    return out


def time_columns(cell: dict) -> str:
    """The table's time-to-quality cells: mean seconds, or how many repeats got there."""

    def one(key: str) -> str:
        value = cell.get(key)
        return f"{value:.0f} s" if value is not None else cell.get(f"{key}_reached", "-")

    return " ".join(f"{one(f'{factor:g}x'):>8}" for factor in THRESHOLDS)


def time_header() -> str:
    return " ".join(f"{'t<=' + format(factor, 'g') + 'x':>8}" for factor in THRESHOLDS)


def precision_lines(archs: list[str], recipes: list[str], precisions: list[str], cells: dict) -> list[str]:
    """Each other precision against the first, per architecture and recipe: FD, speed and the
    time to 2x the floor as ratios (below 1: lower FD / fewer seconds; above 1: faster)."""
    if len(precisions) < 2:
        return []
    base = precisions[0]
    lines = [
        f"precision against {base} (FD ratio: lower is better; img/s ratio; time and steps to 2x the floor):"
    ]
    for precision in precisions[1:]:
        for arch in archs:
            for recipe in recipes:
                a = cells[arch, precision_label(recipe, base, precisions)]
                b = cells[arch, precision_label(recipe, precision, precisions)]
                lines.append(
                    f"  {arch:15} {recipe:8} {precision}: FD {_ratio(b['fd'], a['fd'])}, "
                    f"img/s {_ratio(b['images_per_s'], a['images_per_s'])}, "
                    f"time to 2x {_ratio(b.get('2x'), a.get('2x'))}, "
                    f"steps to 2x {_ratio(b.get('2x_steps'), a.get('2x_steps'))}"
                )
    return lines


def _ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}" if value is not None and reference else "-"
