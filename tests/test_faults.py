"""kill -9 of a real job at two moments, checked as benchmarks/faults.py checks each of its 50
trials: the checkpoint loads, `ls` says died, the resume exits 0 with nothing stale left and
the exact losses of an uninterrupted run."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"


def load_faults():
    spec = importlib.util.spec_from_file_location("faults_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)  # two kills with their resumes and one reference run, each a process
@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing_but_the_steps_since_the_checkpoint(tmp_path, private_runtime):
    faults = load_faults()
    env = faults.environment(private_runtime)
    reference = faults.Reference(tmp_path, env)
    trials = [faults.Trial(i, tmp_path / f"t{i}", delay) for i, delay in enumerate([0.1, 1.2])]
    with ThreadPoolExecutor(2) as pool:  # both at once, as the script runs them
        list(pool.map(lambda trial: faults.run_trial(trial, env, reference, 10), trials))
    for trial in trials:  # killed soon after the first checkpoint, and some epochs on
        assert trial.failures == [], trial.folder
        assert trial.checkpoint_step >= 16 and trial.checkpoint_step % 16 == 0
        assert 0 <= trial.steps_lost < trial.killed_step
