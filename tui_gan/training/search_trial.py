"""A run that is a trial of a sweep's search (tui_gan/sweeps/search.py): its training process
reports each evaluation's Frechet distance to the trial, and ends when the search's pruner
says it lags. The coordinator names the trial in the environment (TRIAL_ENV)."""

from __future__ import annotations

import json
import math
import os

TRIAL_ENV = "TUI_GAN_OPTUNA_TRIAL"  # {"journal", "study", "trial"} of the run's trial, as JSON


def pruner():
    """A run stops once its FD is worse than the median of the others' at the same step (after 3
    runs have finished: before that there is nothing to compare with)."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


class TrialReporter:
    """In a run's training process: each evaluation's FD to its trial; True when to prune."""

    def __init__(self, journal: str, study: str, number: int) -> None:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = JournalStorage(JournalFileBackend(journal))
        loaded = optuna.load_study(study_name=study, storage=storage, pruner=pruner())
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(study), number
        )
        self.trial = optuna.trial.Trial(loaded, trial_id)
        self.number = number

    def report(self, fd: float, step: int) -> bool:
        if math.isfinite(fd):
            self.trial.report(fd, step)
        return self.trial.should_prune()


def reporter_from_env() -> TrialReporter | None:
    found = os.environ.get(TRIAL_ENV)
    if not found:
        return None
    data = json.loads(found)
    return TrialReporter(data["journal"], data["study"], int(data["trial"]))
