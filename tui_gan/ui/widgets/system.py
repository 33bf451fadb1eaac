"""GPU (or CPU) status of the training device, condensed to fit whatever height it gets."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from tui_gan.system import CPUStatus, GPUStatus, format_bytes
from tui_gan.ui.widgets.formatting import fit_line, progress_bar
from tui_gan.ui.widgets.spark import LEVELS

NA = "n/a"  # a figure this GPU does not report


def _pct(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:3.0f}%"


def _bar(fraction: float | None, width: int, style: str = "$primary") -> Content:
    if width < 3:
        return Content("")
    f = 0.0 if fraction is None else fraction
    style = "$error" if f >= 0.9 else ("$warning" if f >= 0.75 else style)
    return Content.styled(f"▕{progress_bar(f, width)}▏", style)


def _used(used: int | None, total: int | None, sep: str = " / ", missing: str = "-") -> str:
    if used is None or not total:
        return missing
    return f"{format_bytes(used)}{sep}{format_bytes(total)}"


def _gpu_lines(s: GPUStatus, width: int, height: int) -> list[Content]:
    mem = s.mem_used_bytes / s.mem_total_bytes if s.mem_used_bytes is not None and s.mem_total_bytes else None
    util = None if s.util_percent is None else s.util_percent / 100
    temp = NA if s.temperature_c is None else f"{s.temperature_c:.0f} °C"
    if s.power_w is None:
        power = NA
    elif s.power_limit_w:
        power = f"{s.power_w:.0f} / {s.power_limit_w:.0f} W"
    else:
        power = f"{s.power_w:.0f} W"
    name = Content.assemble((f"GPU {s.index} ", "bold"), s.name, " (MIG slice)" if s.mig else "")
    run = "" if s.process_mem_bytes is None else f" · run {format_bytes(s.process_mem_bytes)}"
    if height < 3:
        line = fit_line(
            width,
            Content.assemble(("GPU", "bold"), _pct(s.util_percent, f" {NA}")),
            f"mem {_used(s.mem_used_bytes, s.mem_total_bytes, '/', NA)}{run}",
            temp,
            power,
        )
        return [line] if height < 2 else [name, line]
    bar = max(0, min(20, width - 34))
    return [
        name,
        Content.assemble(("util  ", "bold"), _bar(util, bar), " ", _pct(s.util_percent, NA)),
        Content.assemble(
            ("mem   ", "bold"),
            _bar(mem, bar),
            " ",
            _used(s.mem_used_bytes, s.mem_total_bytes, missing=NA),
            run,
        ),
        Content.assemble(("temp  ", "bold"), temp, ("   power ", "bold"), power),
    ]


def _cpu_lines(s: CPUStatus, width: int, height: int) -> list[Content]:
    ram = s.ram_used_bytes / s.ram_total_bytes if s.ram_total_bytes else None
    cores = len(s.per_cpu) if s.per_cpu else None
    threads = "-" if s.torch_threads is None else str(s.torch_threads)
    if height < 3:
        rss = format_bytes(s.process_rss_bytes) if s.process_rss_bytes is not None else "-"
        line = fit_line(
            width,
            Content.assemble(("CPU", "bold"), _pct(s.cpu_percent)),
            f"RAM {_used(s.ram_used_bytes, s.ram_total_bytes, '/')}",
            f"{threads} torch threads",
            f"RSS {rss}",
        )
        return [line] if height < 2 else [Content.assemble(("CPU ", "bold"), s.cpu_name or "-"), line]
    bar = max(0, min(20, width - 34))
    lines = [
        Content.assemble(("CPU ", "bold"), s.cpu_name or "-", f" ({cores} cores)" if cores else ""),
        Content.assemble(
            ("cpu   ", "bold"),
            _bar(None if s.cpu_percent is None else s.cpu_percent / 100, bar),
            " ",
            _pct(s.cpu_percent),
        ),
        Content.assemble(("RAM   ", "bold"), _bar(ram, bar), " ", _used(s.ram_used_bytes, s.ram_total_bytes)),
        Content.assemble(
            ("proc  ", "bold"),
            format_bytes(s.process_rss_bytes) if s.process_rss_bytes is not None else "-",
            " RSS · ",
            threads,
            " torch threads",
        ),
    ]
    if height >= 5 and s.per_cpu and width >= 12:
        per = "".join(LEVELS[1 + min(7, int(p / 100 * 8))] for p in s.per_cpu[: width - 6])
        lines.insert(2, Content.assemble(("cores ", "bold"), (per, "$primary")))
    return lines


def _device_lines(s: GPUStatus | CPUStatus, width: int, height: int) -> list[Content]:
    return _gpu_lines(s, width, height) if isinstance(s, GPUStatus) else _cpu_lines(s, width, height)


class SystemPanel(Widget):
    """Drawn for the size it has when painted: four lines with bars, two, or one."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status: GPUStatus | CPUStatus | None = None
        self.note = ""

    def on_mount(self) -> None:
        self.border_title = "system"

    def show(self, status: GPUStatus | CPUStatus | tuple | None, note: str = "") -> None:
        """status: one device's, or a tuple of them (every rank's GPU of a multi-GPU run)."""
        if (status, note) != (self.status, self.note):  # an idle machine reads the same every second
            self.status, self.note = status, note
            self.refresh()

    def render(self) -> Content:
        width, height = self.size
        s = self.status
        if s is None:
            return Content(self.note or "reading...")
        room = max(1, height - (1 if self.note and height >= 5 else 0))
        if isinstance(s, tuple):  # a line per rank's GPU
            lines = [
                Content.assemble((f"#{rank} ", "bold"), _device_lines(one, width - 3, 1)[0])
                for rank, one in enumerate(s)
            ]
        else:
            lines = _device_lines(s, width, room)
        if self.note and height >= 5:
            lines.append(Content.styled(self.note, "$text-muted"))
        return Content("\n").join(lines[: max(height, 1)])
