"""--mode viewers: a headless job with 0, 1 and 3 (--viewers) viewers attached, in rotating order.

Each viewer is `python benchmarks/dashboard.py --child viewer`: a plain JobClient in a process of
its own that decodes every event (protocol.decode_event, as a dashboard's client does) and counts
the framed bytes it reads from the socket, but draws nothing. Plain readers and not real
dashboards on ptys because this measures what *serving* costs the job (encoding each event, one
queue and writer per viewer, the socket writes): a real dashboard also spends ~0.06-0.09 of a
core drawing, and three of them on this 2-core machine would mostly measure three renderers
taking CPU from training, which --mode dashboard already measures for one. The viewers are
started (imports done) before the job; the TimedEngine waits for a gate file that this process
creates once every viewer has its Replay, so all counts time the same steps.

Prints images/s per count (best run) and its ratio to 0 viewers (target >= 90% with one, >= 85%
with three), the median ratio of runs in the same round, the bytes/s each viewer read while
training (and the Replay it got on attach), and the cores the job's event loop and each viewer
process kept busy."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from .common import DEFAULT_STEPS
from .headless import run_job
from .measures import bytes_per_s, cpu_use, images_per_s, job_loop_cores, load_note, training_window

VIEWER_TARGETS = {1: 0.90, 3: 0.85}  # issue 9: share of headless images/s with that many viewers


def mode_viewers(args: argparse.Namespace, archs: list[str], tmp: Path) -> bool:
    counts = sorted(set(args.viewers) | {0})
    table = []
    for arch in archs:
        steps = args.steps or DEFAULT_STEPS.get(arch, 300)
        rates: dict[int, list[float]] = {n: [] for n in counts}
        per_viewer: dict[int, list[float]] = {n: [] for n in counts}
        replay: dict[int, list[float]] = {n: [] for n in counts}
        loop: dict[int, list[float]] = {n: [] for n in counts}
        viewer_cores: dict[int, list[float]] = {n: [] for n in counts}
        rounds: list[dict[int, float]] = []
        for r in range(args.repeats):
            order = counts if r % 2 == 0 else counts[::-1]  # a drifting machine favours no count
            this_round = {}
            for n in order:
                result = run_job(args, arch, steps, tmp, viewers=n)
                rate = images_per_s(result, args.warmup)
                start, end, _, _ = training_window(result, args.warmup)
                this_round[n] = rate
                rates[n].append(rate)
                loop[n].append(job_loop_cores(result))
                got = [bytes_per_s(v["chunks"], start, end) for v in result["viewers"]]
                per_viewer[n] += got
                replay[n] += [v.get("replay_bytes", 0) for v in result["viewers"]]
                viewer_cores[n] += [
                    v["cpu_s"] / max(v["ended_at"] - v["attached_at"], 1e-9) for v in result["viewers"]
                ]
                said = f", {statistics.mean(got) / 1000:5.1f} KB/s per viewer" if got else ""
                print(
                    f"  {arch:7} {n} viewer{'s' if n != 1 else ' '} #{r + 1}: {rate:8,.0f} img/s{said}",
                    flush=True,
                )
                print(
                    f"  {'':7}   CPU while training: {cpu_use(result)}"
                    + (
                        f"; each viewer process {statistics.mean(viewer_cores[n][-n:]):.3f} cores"
                        if n
                        else ""
                    )
                    + load_note(result, args.warmup)
                )
            rounds.append(this_round)
        for n in counts:
            pairs = statistics.median(rnd[n] / rnd[0] for rnd in rounds)
            table.append(
                (
                    arch,
                    steps,
                    n,
                    max(rates[n]),
                    max(rates[n]) / max(rates[0]),
                    pairs,
                    statistics.median(per_viewer[n]) if per_viewer[n] else None,
                    statistics.median(replay[n]) if replay[n] else None,
                    statistics.median(loop[n]),
                    statistics.median(viewer_cores[n]) if viewer_cores[n] else None,
                )
            )

    print()
    print(
        f"{'arch':8} {'steps':>6} {'viewers':>7} {'img/s':>8} {'vs 0':>6} {'rounds':>6}   "
        f"{'KB/s':>6} {'replay':>7}   "
        f"{'job loop':>8} {'viewer':>6}"
    )
    print(
        f"{'':8} {'':>6} {'':>7} {'best':>8} {'best':>6} {'median':>6}   {'/viewer':>6} {'KB':>7}   "
        f"{'cores':>8} {'cores':>6}"
    )
    ok = True
    for arch, steps, n, rate, ratio, pairs, kbs, rep, loop_cores, vcores in table:
        target = VIEWER_TARGETS.get(n)
        if target is not None:
            ok = ok and ratio >= target
        print(
            f"{arch:8} {steps:6} {n:7} {rate:8,.0f} {ratio:6.0%} {pairs:6.0%}   "
            f"{'-' if kbs is None else f'{kbs / 1000:.1f}':>6} "
            f"{'-' if rep is None else f'{rep / 1000:.1f}':>7}   "
            f"{loop_cores:8.3f} {'-' if vcores is None else f'{vcores:.3f}':>6}"
        )
    print(
        "vs 0: best run with that many viewers over the best with none; rounds: the median over rounds "
        "of each run over the run with no viewer in the same round. KB/s: what each viewer read from "
        "the socket while "
        "training (median over viewers and runs); replay: what it read on attach; job loop: cores the job's "
        "event loop kept busy while training; viewer: cores each viewer process used while attached"
    )
    verdict = {True: "met", False: "NOT met"}
    wanted = ", ".join(f">= {t:.0%} with {n}" for n, t in VIEWER_TARGETS.items() if n in counts)
    print(f"targets ({wanted} viewer(s), best runs): {verdict[ok]}")
    return ok
