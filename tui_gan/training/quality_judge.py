"""When and with what the engine judges sample quality.

The classifier is trained (or loaded from its cache) in a background thread so training starts
at once; the engine thread takes it over between steps. Evaluations run every eval_every seconds
of training, but never take more than ~5% of it: a dcgan evaluation on a CPU takes seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import torch

from tui_gan.config import NUM_CLASSES, TrainConfig, pretty_name
from tui_gan.data import Dataset
from tui_gan.quality.report import EVAL_SEED_OFFSET, QualityReport
from tui_gan.training import events as ev
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.runstate import RunState
from tui_gan.training.search_trial import reporter_from_env
from tui_gan.training.state import ArchState, evaluating, generate

BUDGET = 0.05  # the share of training time evaluations may take


def eval_images(
    G: torch.nn.Module,
    seed: int,
    n: int,
    z_dim: int,
    device: torch.device | str = "cpu",
    conditional: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """G on the run's evaluation latents (the same every time, so numbers compare), in eval mode
    so BatchNorm uses its running statistics; on the CPU. A conditional G is asked for every
    class in turn; the classes come back beside the images (None when unconditional)."""
    gen = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
    z = torch.randn(n, z_dim, generator=gen).to(device)
    y = torch.arange(n, device=device) % NUM_CLASSES if conditional else None
    zs = z.split(500)
    ys = (None,) * len(zs) if y is None else y.split(500)
    with evaluating(G):
        return torch.cat(
            [generate(G, zc, yc).cpu() for zc, yc in zip(zs, ys)]
        ), None if y is None else y.cpu()


class QualityJudge:
    """Says what it finds (emit) and records it (outputs), like the engine it works for."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        emit: Callable[[ev.Event], None],
        outputs: RunOutputs,
        checkpoint: Callable[[ArchState, str], str | None] | None = None,
    ) -> None:
        self.config, self.dataset = config, dataset
        self.emit, self.outputs = emit, outputs
        self.trial = reporter_from_env()  # a run of a sweep's search: its evaluations go to its trial
        self.checkpoint = checkpoint  # writes checkpoints/<arch>/<name>.pt (None: the run has no folder)
        self.classifier = None
        self.real_floor = 0.0
        self._requested = False  # `e` pressed before the classifier was ready
        self._told_off = False  # "quality metrics are off" said once
        self._result: dict = {}
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._error = ""  # why the background classifier failed, if it did

    def start(self) -> None:
        if not self.config.eval_every or self.dataset.labels is None:
            return  # off, or nothing to learn classes from

        def work() -> None:
            from tui_gan.quality import ClassifierCancelled, load_or_train, real_floor

            try:
                clf = load_or_train(self.dataset, should_stop=self._closing.is_set)
                self._result["value"] = (clf, real_floor(clf, n=self.config.eval_samples))
            except ClassifierCancelled:
                pass
            except Exception as exc:  # quality is an extra: training goes on without it
                self._result["error"] = f"{type(exc).__name__}: {exc}"

        self._thread = threading.Thread(target=work, name="tui-gan-classifier", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()  # a classifier still training in the background gives up

    def announce(self, arch: str) -> None:
        """When training starts: say once if there will be no quality figures, and why."""
        if self._thread is None and not self._told_off:
            self._told_off = True
            self.emit(ev.Notice(arch, self.off_reason(), topic="quality"))

    def take(self, arch: str) -> bool:
        """In the engine thread: adopt a finished classifier. True when an evaluation asked for
        meanwhile is now due."""
        if self.classifier is not None or not self._result:
            return False
        if "error" in self._result:
            self._error = f"quality metrics are off: {self._result.pop('error')}"
            self._thread = None  # so `e` says why instead of waiting for it forever
            self._told_off = True
            self.emit(ev.Notice(arch, self._error, "warning", topic="quality"))
            return False
        self.classifier, self.real_floor = self._result.pop("value")
        self.emit(
            ev.Notice(
                arch,
                f"quality classifier ready ({self.classifier.val_accuracy:.1%} on held-out digits); "
                f"real-vs-real Frechet distance {self.real_floor:.2f}",
                topic="quality",
            )
        )
        requested, self._requested = self._requested, False
        return requested

    def request(self, arch: str) -> bool:
        """`e`: True to evaluate now; otherwise says why not, or waits for the classifier."""
        if self.classifier is not None:
            return True
        if self._thread is None:
            self.emit(ev.Notice(arch, self.off_reason(), "warning", topic="quality"))
        else:
            self._requested = True
            self.emit(
                ev.Notice(arch, "the quality classifier is still training: evaluating when it is ready")
            )
        return False

    def off_reason(self) -> str:
        if self._error:
            return self._error
        if not self.config.eval_every:
            return "quality metrics are off (--eval-every 0)"
        name = pretty_name(self.dataset.name)
        return f"quality metrics are off: {name} has no labels to train the classifier on"

    def due(self, s: ArchState, train_time: float) -> bool:
        """Whether `s`, at `train_time` seconds of training, is due an evaluation."""
        if self.classifier is None or s.failed:
            return False
        cost = s.eval_cost
        if not cost:  # before the first one: about a sample grid's cost per generated digit
            cost = s.sample_cost * self.config.eval_samples / (len(s.fixed_noise) + len(s.interp_noise))
        return train_time - s.last_eval_time >= max(self.config.eval_every, cost / BUDGET)

    def judge(self, s: ArchState, device: torch.device) -> QualityReport:
        """Evaluate eval_samples digits of the generator (its EMA when there is one), record
        and report it (a mode-collapse warning too); the cost and time go on `s`."""
        start = time.perf_counter()
        report = self.measure(s.G_ema if s.G_ema is not None else s.G, device)  # whatever r shows
        s.eval_cost = time.perf_counter() - start
        s.last_eval_time = s.train_time
        self.outputs.quality(s.name, s.step, s.epoch, report, self.real_floor)
        self.emit(
            ev.Quality(
                s.name,
                step=s.step,
                epoch=s.epoch,
                report=report,
                real_floor=self.real_floor,
                classifier_accuracy=self.classifier.val_accuracy,
                seconds=s.eval_cost,
            )
        )
        self._track_best(s, report.frechet_distance)
        self._report_trial(s, report.frechet_distance)
        warning = s.collapse.update(report.classes_covered, report.kl_to_uniform)
        if warning and self.config.stop_collapsed and s.ended is None:
            s.end(RunState.FINISHED, f"{s.name}: {warning}; stopped (--stop-collapsed)", "collapsed")
            self.emit(ev.Notice(s.name, s.why, "warning", topic="collapse"))
        elif warning:
            if s.best_step >= 0 and report.frechet_distance > s.best_fd:
                warning += f"; b rolls back to best.pt (step {s.best_step:,}, FD {s.best_fd:.1f})"
            self.emit(ev.Notice(s.name, f"{s.name}: {warning}", "warning", topic="collapse"))
        return report

    def _report_trial(self, s: ArchState, fd: float) -> None:
        """A search's run: the FD to its trial, and the run ends when the pruner says it lags.
        Runs are compared at the same training time (the pruner's "step" counts evaluation
        intervals): their step counts differ with their speed."""
        if self.trial is None or s.ended is not None:
            return
        at = int(s.train_time / self.config.eval_every) if self.config.eval_every else s.step
        if not self.trial.report(fd, at):
            return
        why = (
            f"{s.name}: pruned by the search: FD {fd:.1f} after {s.train_time:.0f} s of training lags "
            "the other runs' median then"
        )
        s.end(RunState.FINISHED, why, "pruned")
        self.emit(ev.Notice(s.name, why, "warning"))

    def measure(self, G: torch.nn.Module, device: torch.device) -> QualityReport:
        """The classifier's verdict on eval_samples digits of G from the evaluation latents."""
        from tui_gan.quality import evaluate

        images, labels = eval_images(
            G, self.config.seed, self.config.eval_samples, self.config.z_dim, device, self.config.conditional
        )
        return evaluate(self.classifier, images, labels)

    def _track_best(self, s: ArchState, fd: float) -> None:
        """best.pt follows the Frechet distance; --early-stop ends a run that stopped improving."""
        if fd < s.best_fd:
            s.best_fd, s.best_step, s.evals_since_best = fd, s.step, 0
            if self.checkpoint is not None:
                self.checkpoint(s, "best")
            return
        s.evals_since_best += 1
        patience = self.config.early_stop
        if patience and s.evals_since_best >= patience and s.ended is None:
            s.end(
                RunState.FINISHED,
                f"{s.name}: early stop, no better Frechet distance in {patience} evaluations "
                f"(best {s.best_fd:.1f} at step {s.best_step:,}"
                + (f", checkpoints/{s.name}/best.pt)" if self.checkpoint else ")"),
            )
            self.emit(ev.Notice(s.name, s.why, "warning"))
