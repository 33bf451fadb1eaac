"""`tui-gan archs`, `sample` and `eval`: the architectures, and what a checkpoint's generator draws."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tui_gan.errors import CheckpointError, ConfigError

WIDTH = 80  # `archs` fits an 80-column terminal, and a pipe (no terminal to ask)


def cmd_archs(args) -> int:
    """Every architecture with its parameter counts, as the architecture knobs given would build it."""
    import dataclasses
    import shutil
    import textwrap

    from tui_gan.config import TrainConfig
    from tui_gan.models import ARCHS, count_params
    from tui_gan.models.knobs import Knobs
    from tui_gan.training.recipes import SEED, describe

    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Knobs)
        if getattr(args, f.name, None) is not None
    }
    knobs = Knobs.of(given)
    for spec in ARCHS.values():  # each knob checked as train checks it, for every architecture
        TrainConfig(arch=spec.name, **given).validate()

    # a block per architecture, not a table: six columns in 80 cut the descriptions to shreds
    width = max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))
    name_width = max(len(name) for name in ARCHS) + 2
    print(
        textwrap.fill("tui-gan architectures (G, D: the generator's and discriminator's parameters)", width)
    )
    if not knobs.default:
        print(textwrap.fill(f"built with {knobs.describe()}", width))
    for spec in ARCHS.values():
        G, D = spec.build(100, knobs=spec.knobs_of(given))
        print(f"\n{spec.name:<{name_width}}G {count_params(G):,}  D {count_params(D):,}")
        for label, text in (
            ("", spec.description),
            ("default recipe: ", describe(spec.recipe)),
            ("from: ", spec.origin),
        ):
            print(textwrap.fill(label + text, width, initial_indent="  ", subsequent_indent="    "))
    print("\n" + textwrap.fill(f"--recipe seed, for every architecture: {describe(SEED)}", width))
    return 0


def find_checkpoint(run: Path, names: tuple[str, ...], arch: str | None = None) -> Path | None:
    """checkpoints/<arch>/<the first of names there> in a run folder, for `arch` or else for the
    architecture trained most recently (whose such file is newest); None when there is none."""
    folders = [run / "checkpoints" / arch] if arch else (run / "checkpoints").glob("*")
    found = []
    for folder in folders:
        files = [folder / name for name in names if (folder / name).is_file()]
        if files:
            found.append((max(f.stat().st_mtime for f in files), files[0]))
    return max(found, key=lambda pair: pair[0])[1] if found else None


def checkpoint_in(target: str) -> str:
    """sample's and eval's argument: a checkpoint, or a run folder's best.pt, else latest.pt."""
    path = Path(target).expanduser()
    if not path.is_dir():
        return target  # load_checkpoint says what is wrong with it
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{target} is a folder but not a run folder (no config.json)")
    found = find_checkpoint(path, ("best.pt", "latest.pt"))
    if found is None:
        raise CheckpointError(f"{target} holds no checkpoints/<arch>/best.pt or latest.pt yet")
    print(f"tui-gan: using {found}", file=sys.stderr)  # which of the run's checkpoints it chose
    return str(found)


def cmd_sample(
    checkpoint: str, n: int, output: str | None, seed: int, digit: int | None = None, pixels: str = "auto"
) -> int:
    import numpy as np
    import torch

    from tui_gan.fileio import atomic_write
    from tui_gan.render import save_grid_png
    from tui_gan.training.state import sample_digits

    if n < 1:
        raise ConfigError(f"-n must be at least 1, got {n}")
    if digit is not None and not 0 <= digit <= 9:
        raise ConfigError(f"--digit must be 0-9, got {digit}")
    out = Path(output) if output is not None else None  # None: drawn in the terminal
    if out is not None and out.suffix.lower() not in (".png", ".npy"):
        raise ConfigError(f"output must end in .png or .npy, got {output!r}")
    if out is not None and (not out.parent.exists() or not os.access(out.parent, os.W_OK)):
        raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist or is not writable")
    checkpoint = checkpoint_in(checkpoint)
    data, G, z_dim = load_generator(checkpoint)
    if digit is not None and not G.n_classes:
        raise ConfigError(
            f"{checkpoint} is from a run without --conditional: its generator cannot be asked for "
            "a digit (train with --conditional)"
        )
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    y = None
    if G.n_classes:
        y = torch.full((n,), digit) if digit is not None else torch.arange(n) % G.n_classes
    images = sample_digits(G, z, y)
    columns = G.n_classes if y is not None and digit is None else None  # a column per digit
    if out is None:
        return draw_in_terminal(images, columns, f"{data['arch']} (step {data['step']:,})", pixels)
    if out.suffix.lower() == ".npy":
        atomic_write(out, lambda f: np.save(f, images))
    else:
        save_grid_png(images, out, columns=columns, scale=2)
    what = (
        f"{n} digits"
        if y is None
        else (f"{n} x digit {digit}" if digit is not None else f"{n} digits, 0-9 in turn")
    )
    print(f"wrote {what} from {data['arch']} (step {data['step']}) to {out}")
    return 0


def draw_in_terminal(images, columns: int | None, title: str, pixels: str = "auto") -> int:
    """The digits in the terminal: as an image where it shows one (`--pixels`, see pixels.py),
    else as half blocks."""
    from tui_gan.pixels import choose

    terminal = choose(pixels)
    print(title, flush=True)
    if terminal.mode == "halfblock":
        _draw_half_blocks(images, columns)
    else:
        _draw_pixels(images, columns, terminal)
    return 0


def _draw_half_blocks(images, columns: int | None) -> None:
    """Two pixels a cell, as many digits to a row as the terminal is wide (`columns` when given
    and it fits); plain characters where there is no colour (NO_COLOR, a pipe)."""
    from rich.console import Console
    from rich.segment import Segment, Segments

    from tui_gan.render import DIGIT_CELLS, grid_to_segments

    console = Console(highlight=False)
    fits = max(1, (console.width + 1) // (DIGIT_CELLS + 1))
    color = console.color_system is not None
    lines = grid_to_segments(images, min(columns or fits, fits), color=color)
    console.print(Segments([seg for line in lines for seg in (*line, Segment.line())]))


def _draw_pixels(images, columns: int | None, terminal) -> None:
    """The grid as one image as wide as the terminal allows: at least twice the digits' size,
    more while the whole grid fits the screen, never taller than the half-block drawing."""
    import math
    import shutil

    from tui_gan.pixels import encode, fit
    from tui_gan.render import grid_image

    width, lines = shutil.get_terminal_size((80, 24))
    cell_w, cell_h = terminal.cell
    digit = images.shape[-1] + 2  # a digit and its padding
    fits = max(1, (width * cell_w - 2) // digit)
    grid = grid_image(images, columns=min(columns or math.ceil(math.sqrt(len(images))), fits))
    cap = max(1, cell_h // 2)  # 28 pixels a digit over 14 lines, as half blocks draw it
    box = (
        min(width * cell_w, cap * grid.width),
        min(max((lines - 2) * cell_h, 2 * grid.height), cap * grid.height),
    )
    sys.stdout.write(encode(grid, terminal.mode, fit(grid.size, box)) + "\n")
    sys.stdout.flush()


def load_generator(checkpoint: str):
    """(checkpoint data, its generator in eval mode on the CPU, latent size)."""
    from tui_gan.config import NUM_CLASSES
    from tui_gan.models import get_arch
    from tui_gan.training.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint)
    spec = get_arch(data["arch"])
    z_dim = int(data["config"].get("z_dim", 100))
    G, _ = spec.build(
        z_dim, NUM_CLASSES if data["config"].get("conditional") else 0, spec.knobs_of(data["config"])
    )
    try:  # the EMA of G when the run kept one: what the run itself sampled and judged
        G.load_state_dict(data.get("generator_ema") or data["generator"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"{checkpoint}: generator weights do not fit {spec.name!r}: {str(exc).splitlines()[0]}"
        ) from None
    return data, G.eval(), z_dim


def cmd_eval(checkpoint: str, samples: int | None, data_dir: str | None) -> int:
    import json

    from tui_gan.data import load_dataset
    from tui_gan.quality import evaluate, load_or_train, real_floor
    from tui_gan.training.quality_judge import eval_images

    checkpoint = checkpoint_in(checkpoint)
    data, G, z_dim = load_generator(checkpoint)
    config = data["config"]
    n = samples if samples is not None else int(config.get("eval_samples", 1000))
    if n < 2:
        raise ConfigError(f"--samples must be at least 2, got {n}")
    dataset = load_dataset(
        config.get("dataset", "mnist"),
        data_dir or config.get("data_dir"),
        synthetic_size=int(config.get("synthetic_size", 60000)),
        seed=int(config.get("seed", 0)),
    )
    print(
        f"judging {n} digits from {data['arch']} at step {data['step']} against {dataset.source}...",
        file=sys.stderr,
    )
    classifier = load_or_train(dataset)
    # the digits the engine judges
    images, labels = eval_images(G, int(config.get("seed", 0)), n, z_dim, conditional=bool(G.n_classes))
    report = evaluate(classifier, images, labels)
    result = {
        "checkpoint": str(checkpoint),
        "arch": data["arch"],
        "step": data["step"],
        "epoch": data["epoch"],
        "dataset": dataset.name,
        "classifier_accuracy": classifier.val_accuracy,
        "real_floor": real_floor(classifier, n=n),
        **report.to_dict(),
    }
    if report.accuracy is not None:
        result["accuracy"] = report.accuracy
    print(json.dumps(result, indent=2))
    return 0
