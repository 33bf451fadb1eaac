"""A job killed without a chance to end (kill -9, a crash, a reboot): `ls` and `attach` call it
"died" with its last checkpoint and the command that resumes it, and that resume removes what
the kill left behind. Real job processes, as in test_jobs.py."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from factories import SYNTHETIC_RUN, endless_config
from waiting import wait_until

from tui_gan.cli import main
from tui_gan.jobs import registry
from tui_gan.jobs.launch import start_job
from tui_gan.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runtime")


def kill_9(info: registry.JobInfo) -> None:
    """SIGKILL, then reap it (start_job's process is our child): nothing of it runs any more."""
    os.kill(info.pid, signal.SIGKILL)
    os.waitpid(info.pid, 0)


def recent_row(out: str, run_dir) -> list[str]:
    """`ls`'s row of run_dir under "recent runs", split into its columns."""
    recent = out.split("recent runs", 1)[1]
    (row,) = [line for line in recent.splitlines() if line.split()[:1] == [str(run_dir)]]
    return row.split()


@pytest.mark.slow
def test_a_killed_job_is_died_and_its_resume_removes_what_it_left(tmp_path, capsys):
    info = start_job(endless_config(tmp_path, checkpoint_every=1))
    try:
        latest = info.run_dir / "checkpoints" / "simple" / "latest.pt"
        wait_until(latest.exists, "the first checkpoint", 60, interval=0.05)
    finally:
        kill_9(info)
    step = load_checkpoint(latest)["step"]
    assert step >= 16 and info.socket.exists()  # kill -9 left its socket
    # temp files of atomic writes the kill cut short, and one that is no such file
    stale = [
        latest.with_name(".latest.pt.k1ll3d_a.tmp"),
        info.run_dir / "samples" / "simple" / ".epoch_022.png.x9y8z7w6.tmp",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"torn")
    unrelated = info.run_dir / "notes.tmp"
    unrelated.write_text("mine")

    assert main(["ls", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert recent_row(out, info.run_dir)[1:4] == ["simple", "died", f"{step:,}"]
    assert f"  tui-gan train --resume {info.run_dir}\n" in out

    assert main(["attach", str(info.run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and " died " in err[0] and f"at step {step:,}" in err[0]
    assert err[0].endswith(f"continue it with tui-gan train --resume {info.run_dir}")

    resume = ["train", "--headless", *SYNTHETIC_RUN, "--resume", str(info.run_dir), "--max-steps", "2"]
    assert main(resume) == 0
    assert "removed what a killed job left behind" in capsys.readouterr().out
    assert not [path for path in stale if path.exists()] and not info.socket.exists()
    assert unrelated.read_text() == "mine"
    status = registry.classify(info.run_dir)
    assert (status.state, status.step) == ("max_steps", step + 2)


def test_a_pid_taken_by_a_newer_process_is_not_the_job(tmp_path):
    """job.json's pid now names another process (this one, started after the "job" did): died,
    unless something still listens on the job's socket (then a clock set back fooled us)."""
    import psutil

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    born = psutil.Process().create_time()
    sock = run / "job.sock"
    registry.write_job(registry.JobInfo(run, os.getpid(), sock, "running", "simple", started=born - 60))
    assert registry.classify(run).state == "died"
    assert [r.state for r in registry.recent_runs(run.parent)] == ["died"]
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock))
        listener.listen()
        assert registry.classify(run).state == "running"
    sock.unlink()
    registry.write_job(registry.JobInfo(run, os.getpid(), sock, "running", started=time.time()))
    assert registry.classify(run).state == "running"  # this process started before it wrote job.json
