"""Files the user asks the dashboard for: `s` the sample grid shown as PNG, `g` the sample
history as an animated GIF. Built in the UI thread (a frozen copy of what to write), written
in a worker thread (a few hundred GIF frames take a second or two)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_gan.history import SampleHistory, Snapshot
from tui_gan.render import captioned, grid_image, save_gif, save_grid_png
from tui_gan.ui.messages import FileSaved


@dataclass(frozen=True)
class Export:
    what: str  # for the event log: "sample grid", "history GIF (n frames)"
    path: Path
    write: Callable[[], Path]


def grid_png(run_dir: Path, arch: str, snapshot: Snapshot) -> Export:
    path = run_dir / "samples" / arch / f"step_{snapshot.step:07d}.png"
    return Export(
        "sample grid", path, lambda: save_grid_png(snapshot.images, path, snapshot.per_class or None, scale=2)
    )


def history_gif(run_dir: Path, arch: str, history: SampleHistory) -> Export:
    snapshots = list(history.snapshots)  # frozen now: training goes on meanwhile
    path = run_dir / f"history_{arch}_step_{snapshots[-1].step:07d}.gif"

    def write() -> Path:
        frames = [
            captioned(grid_image(s.images, columns=s.per_class or 8, scale=2), f"{arch}  step {s.step:,}")
            for s in snapshots
        ]
        return save_gif(frames, path, [250] * (len(frames) - 1) + [1500])

    return Export(f"history GIF ({len(snapshots)} frames)", path, write)


def write(export: Export) -> FileSaved:
    """Write it; the message says where, or why not."""
    try:
        return FileSaved(export.what, str(export.write()))
    except (OSError, ValueError) as exc:
        return FileSaved(export.what, None, f"could not save {export.path}: {exc}")
