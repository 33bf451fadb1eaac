"""When and with what the engine judges sample quality.

The classifier is trained (or loaded from its cache) in a background thread so training starts
at once; the engine thread takes it over between steps. Evaluations run every eval_every seconds
of training, but never take more than ~5% of it: a dcgan evaluation on a CPU takes seconds."""

from __future__ import annotations

import threading
import time

import torch

from tui_gan.config import TrainConfig, pretty_name
from tui_gan.data import Dataset
from tui_gan.quality.report import EVAL_SEED_OFFSET, QualityReport
from tui_gan.training.state import ArchState

BUDGET = 0.05  # the share of training time evaluations may take


def eval_images(G: torch.nn.Module, seed: int, n: int, z_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """G on the run's evaluation latents (the same every time, so numbers compare), in eval mode
    so BatchNorm uses its running statistics; on the CPU."""
    gen = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET)
    z = torch.randn(n, z_dim, generator=gen).to(device)
    was_training = G.training
    G.eval()
    with torch.no_grad():
        images = torch.cat([G(chunk).cpu() for chunk in z.split(500)])
    G.train(was_training)
    return images


class QualityJudge:
    def __init__(self, config: TrainConfig, dataset: Dataset) -> None:
        self.config, self.dataset = config, dataset
        self.classifier = None
        self.real_floor = 0.0
        self.requested = False  # `e` pressed before the classifier was ready
        self.told_off = False  # "quality metrics are off" said once
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

    @property
    def coming(self) -> bool:
        """A classifier is ready or being made."""
        return self._thread is not None

    def take(self) -> tuple[str, str] | None:
        """In the engine thread: adopt a finished classifier. Returns the (level, message) to log, if any."""
        if self.classifier is not None or not self._result:
            return None
        if "error" in self._result:
            self._error = f"quality metrics are off: {self._result.pop('error')}"
            self._thread = None  # so `e` says why instead of waiting for it forever
            self.told_off = True
            return "warning", self._error
        self.classifier, self.real_floor = self._result.pop("value")
        return "info", (f"quality classifier ready ({self.classifier.val_accuracy:.1%} on held-out digits); "
                        f"real-vs-real Frechet distance {self.real_floor:.2f}")

    def off_reason(self) -> str:
        if self._error:
            return self._error
        if not self.config.eval_every:
            return "quality metrics are off (--eval-every 0)"
        return f"quality metrics are off: {pretty_name(self.dataset.name)} has no labels to train the classifier on"

    def due(self, s: ArchState, train_time: float) -> bool:
        """Whether `s`, at `train_time` seconds of training, is due an evaluation."""
        if self.classifier is None or s.diverged:
            return False
        cost = s.eval_cost
        if not cost:  # before the first one: about a sample grid's cost per generated digit
            cost = s.sample_cost * self.config.eval_samples / (len(s.fixed_noise) + len(s.interp_noise))
        return train_time - s.last_eval_time >= max(self.config.eval_every, cost / BUDGET)

    def judge(self, s: ArchState, device: torch.device) -> QualityReport:
        """Evaluate eval_samples digits of s.G; records the cost and time on `s`."""
        from tui_gan.quality import evaluate

        start = time.perf_counter()
        images = eval_images(s.G, self.config.seed, self.config.eval_samples, self.config.z_dim, device)
        report = evaluate(self.classifier, images)
        s.eval_cost = time.perf_counter() - start
        s.last_eval_time = s.train_time
        return report
