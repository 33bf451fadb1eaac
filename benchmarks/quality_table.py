"""The table and the targets of benchmarks/quality.py: each cell (architecture x recipe x
precision) summarised over its seeds, the lines printed, and the targets judged on them."""

from __future__ import annotations

import re
import statistics

from quality_curve import summarise_times, time_columns, time_header

from tui_gan.models import ARCH_NAMES
from tui_gan.quality.report import ACCURATE_SHARE

HALVERS = ("mlp", "dcgan", "simple", "relu-mlp")  # the architectures that must halve their seed FD
HALVE_RATIO = 0.5
CONDITIONAL_ACCURACY = ACCURATE_SHARE  # the conditional dcgan's target
FLOOR_FACTOR = 2.0


def mean_of(rows: list[dict], key: str) -> float | None:
    values = [r["report"][key] for r in rows if r["report"]]
    return statistics.fmean(values) if len(values) == len(rows) else None


def summarise(rows: list[dict]) -> dict:
    """The mean of a cell's repeats; a figure is None when any repeat diverged."""
    rates = [r["images_per_s"] for r in rows if r["images_per_s"]]
    covered = [r["report"]["classes_covered"] for r in rows if r["report"]]
    fds = [r["report"]["frechet_distance"] for r in rows if r["report"]]
    return {
        "fd": mean_of(rows, "frechet_distance"),
        "fd_sd": statistics.stdev(fds) if len(fds) == len(rows) > 1 else None,
        "classes": mean_of(rows, "classes_covered"),
        "min_classes": min(covered) if len(covered) == len(rows) else None,
        "score": mean_of(rows, "classifier_score"),
        "accuracy": mean_of(rows, "accuracy")
        if rows[0]["report"] and rows[0]["report"]["accuracy"] is not None
        else None,
        "confidence": mean_of(rows, "mean_confidence"),
        "steps": statistics.fmean(r["steps"] for r in rows),
        "images_per_s": statistics.fmean(rates) if rates else None,
        "judged": "/".join(sorted({r["judged"] for r in rows if r["judged"]})) or "-",
        "diverged": sum(1 for r in rows if r["diverged"]),
        **summarise_times(rows),
    }


def fmt(value: float | None, spec: str) -> str:
    """format(value, spec), or "-" (as wide) for a missing figure."""
    width = re.match(r"\d*", spec).group()
    return format(value, spec) if value is not None else "-".rjust(int(width or 0))


def row_text(
    name: str,
    recipe: str,
    judged: str,
    fd: str,
    classes: str,
    score,
    conf,
    steps: str,
    rate,
    accuracy: float | None = None,
    conditional: bool = False,
) -> str:
    return (
        f"{name:15} {recipe:22} {judged:6} {fd:>16} {classes:>8} {fmt(score, '6.2f')} "
        f"{fmt(conf, '6.3f')} "
        + (f"{fmt(accuracy, '6.1%')} " if conditional else "")
        + f"{steps:>7} {fmt(rate, '7,.0f')}"
    )


def table(
    archs: list[str], recipes: list[str], cells: dict, real: dict, conditional: bool = False
) -> list[str]:
    lines = [
        f"{'arch':15} {'recipe':22} {'judged':6} {'FD (± sd)':>16} {'classes':>8} {'score':>6} {'conf':>6} "
        + (f"{'acc':>6} " if conditional else "")
        + f"{'steps':>7} {'img/s':>7} {time_header()}"
    ]
    for arch in archs:
        for i, recipe in enumerate(recipes):
            c = cells[arch, recipe]
            classes = "-" if c["classes"] is None else f"{c['classes']:.3g}/10"
            note = f"  ({c['diverged']} diverged)" if c["diverged"] else ""
            lines.append(
                row_text(
                    arch if i == 0 else "",
                    recipe,
                    c["judged"],
                    fmt(c["fd"], ".2f") + ("" if c["fd_sd"] is None else f" ± {c['fd_sd']:.1f}"),
                    classes,
                    c["score"],
                    c["confidence"],
                    f"{c['steps']:.0f}",
                    c["images_per_s"],
                    c["accuracy"],
                    conditional,
                )
                + f" {time_columns(c)}"
                + note
            )
    lines.append(
        row_text(
            "real digits",
            "-",
            "-",
            fmt(real["frechet_distance"], ".2f"),
            f"{real['classes_covered']}/10",
            real["classifier_score"],
            real["mean_confidence"],
            "-",
            None,
            None,
            conditional,
        )
    )
    return lines


def judge_targets(
    archs: list[str], recipes: list[str], cells: dict, floor: float, conditional: bool = False
) -> tuple[dict, list[str]]:
    """Ratios per architecture and the three targets: (for the JSON, the lines to print)."""
    ratios, lines = {}, ["FD ratio default/seed (lower is better):"]
    for arch in archs:
        seed_fd = cells.get((arch, "seed"), {}).get("fd")
        default_fd = cells.get((arch, "default"), {}).get("fd")
        ratio = default_fd / seed_fd if seed_fd and default_fd is not None else None
        ratios[arch] = ratio
        goal = (
            f" (target <= {HALVE_RATIO:g}: {'met' if ratio <= HALVE_RATIO else 'NOT met'})"
            if arch in HALVERS and ratio is not None
            else ""
        )
        lines.append(f"  {arch:15} {fmt(ratio, '.3f')}{goal}")

    targets = {}
    if "default" not in recipes:
        targets["coverage"] = targets["floor"] = None
    else:
        lowest = {a: cells[a, "default"]["min_classes"] for a in archs}
        short = [f"{a} diverged" if n is None else f"{a} {n}/10" for a, n in lowest.items() if n != 10]
        targets["coverage"] = (not short, "; short: " + ", ".join(short) if short else "")
        fds = [(cells[a, "default"]["fd"], a) for a in archs if cells[a, "default"]["fd"] is not None]
        if fds:
            best_fd, best = min(fds)
            targets["floor"] = (
                best_fd <= FLOOR_FACTOR * floor,
                f" ({best} {best_fd:.2f} vs {FLOOR_FACTOR:g} x {floor:.2f} = {FLOOR_FACTOR * floor:.2f})",
            )
        else:
            targets["floor"] = (False, " (every default run diverged)")
    halvers = [a for a in HALVERS if a in archs]
    if not halvers or not {"seed", "default"} <= set(recipes):
        targets["halving"] = None
    else:
        missing = [a for a in halvers if ratios[a] is None]
        failing = [
            f"{a} {ratios[a]:.2f}" for a in halvers if ratios[a] is not None and ratios[a] > HALVE_RATIO
        ]
        targets["halving"] = (
            not missing and not failing,
            "".join(
                f"; {label}: {', '.join(names)}"
                for label, names in (("no ratio (diverged)", missing), (f"above {HALVE_RATIO:g}", failing))
                if names
            ),
        )
    if conditional:
        accuracy = cells.get(("dcgan", "default"), {}).get("accuracy")
        targets["conditional"] = (
            None if accuracy is None else (accuracy >= CONDITIONAL_ACCURACY, f" ({accuracy:.1%})")
        )
    wanted = {
        "coverage": f"every architecture covers 10/10 classes with the default recipe ({', '.join(archs)})",
        "halving": f"the seed-recipe FD at least halved by each of {', '.join(halvers or HALVERS)}",
        "floor": f"the best architecture's default-recipe FD <= {FLOOR_FACTOR:g}x the real-vs-real floor",
    }
    if conditional:
        wanted["conditional"] = (
            f"conditional dcgan (default recipe) draws >= {CONDITIONAL_ACCURACY:.0%} of its "
            "digits as the digit asked for"
        )
    lines += ["targets:"]
    for key, text in wanted.items():
        verdict = targets[key]
        needs = {
            "halving": "the seed and default recipes",
            "conditional": "dcgan with the default recipe",
        }.get(key, "the default recipe")
        said = (
            f"not judged (needs {needs})"
            if verdict is None
            else ("met" if verdict[0] else "NOT met") + verdict[1]
        )
        lines.append(f"  {text}: {said}")
    if len(archs) < len(ARCH_NAMES):
        lines.append(f"  (judged on {len(archs)} of the {len(ARCH_NAMES)} architectures)")
    verdicts = {key: None if v is None else v[0] for key, v in targets.items()}
    return {"fd_ratio_default_over_seed": ratios, "targets_met": verdicts}, lines
