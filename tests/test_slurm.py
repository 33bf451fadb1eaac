"""Sweeps on a real Slurm: the test starts a one-node cluster of its own (munged, slurmctld,
slurmd with a private config, socket and ports; Debian's slurm-wlm and munge, as root, which
CI installs), and `tui-gan sweep --launcher slurm` submits each run with sbatch through
submitit. Skipped where there is no Slurm to start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from factories import SYNTHETIC_RUN
from waiting import wait_until

from tui_gan.jobs import registry
from tui_gan.sweeps.state import Sweep
from tui_gan.training.checkpoint import load_checkpoint

DAEMONS = ("munged", "slurmctld", "slurmd")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("private_runtime"),
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(d, path="/usr/sbin:/usr/bin") for d in DAEMONS),
        reason="a real Slurm needs root and Debian's slurm-wlm and munge",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path) -> str:
    node = socket.gethostname().split(".")[0]
    settings = {
        "ClusterName": "tuigan",
        "SlurmctldHost": node,
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={folder}/munge.sock",
        "CredType": "cred/munge",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "ReturnToService": "2",
        "StateSaveLocation": f"{folder}/state",
        "SlurmdSpoolDir": f"{folder}/spool",
        "SlurmctldPidFile": f"{folder}/slurmctld.pid",
        "SlurmdPidFile": f"{folder}/slurmd.pid",
        "SlurmctldLogFile": f"{folder}/slurmctld.log",
        "SlurmdLogFile": f"{folder}/slurmd.log",
        "SlurmctldPort": str(free_port()),
        "SlurmdPort": str(free_port()),
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",  # no sacct: the sweep asks squeue
    }
    lines = [f"{k}={v}" for k, v in settings.items()]
    lines.append(f"NodeName={node} CPUs={os.cpu_count()} State=UNKNOWN")
    lines.append("PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node Slurm; yields the environment its commands need (SLURM_CONF)."""
    folder = tmp_path_factory.mktemp("slurm")
    for name in ("state", "spool"):
        (folder / name).mkdir()
    (folder / "munge.key").write_bytes(os.urandom(1024))
    (folder / "munge.key").chmod(0o600)
    (folder / "slurm.conf").write_text(slurm_conf(folder))
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    munge = [f"--socket={folder}/munge.sock", f"--key-file={folder}/munge.key"]
    munge += [
        f"--pid-file={folder}/munged.pid",
        f"--log-file={folder}/munged.log",
        f"--seed-file={folder}/seed",
    ]
    started = []
    try:
        for command in (
            ["/usr/sbin/munged", "--force", *munge],
            ["/usr/sbin/slurmctld"],
            ["/usr/sbin/slurmd"],
        ):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
            if done.returncode:
                pytest.skip(f"cannot start {command[0]}: {done.stderr.strip()[-300:]}")
            started.append(Path(command[0]).name)

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            return out.strip() == "idle"

        wait_until(idle, "the Slurm node to be idle", 60, interval=0.5)
        yield env
    finally:
        for name in reversed(started):
            pid_file = folder / f"{name}.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)  # a test cluster: nothing of its state is kept
                wait_until(lambda pid=pid: not registry.pid_alive(pid), f"{name} to end", 30)


def sweep(env: dict, tmp_path: Path, *options: str, timeout: float = 200) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tui_gan", "sweep", *SYNTHETIC_RUN, "--runs-dir", str(tmp_path)]
    command += ["--launcher", "slurm", "--partition", "debug", *options]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(300)
def test_a_sweep_on_slurm_stops_its_jobs_with_checkpoints_and_resumes(slurm, tmp_path):
    """Each run an sbatch job (the partition and submitit's warning signal in its script);
    stopping the sweep cancels them (each writes a final checkpoint), --resume submits them
    again, and they continue to their budget."""
    started = sweep(
        slurm, tmp_path, "--lr", "1e-4,2e-4", "--budget", "6s", "--parallel", "2", "--name", "b", "--detach"
    )
    assert started.returncode == 0, started.stderr
    folder = tmp_path / "sweep-b"

    def training() -> bool:
        found = [folder / c.folder / "metrics.csv" for c in Sweep.load(folder).cells]
        return all(m.exists() and len(m.read_text().splitlines()) > 1 for m in found)

    wait_until(training, "both Slurm jobs training", 120)
    coordinator = Sweep.load(folder).coordinator["pid"]
    os.kill(coordinator, signal.SIGTERM)  # scancel for each job: SIGTERM to its training
    wait_until(lambda: not registry.pid_alive(coordinator), "the coordinator to end", 120)
    swept = Sweep.load(folder)
    assert [c.state for c in swept.cells] == ["stopped", "stopped"], [c.detail for c in swept.cells]
    assert "on Slurm (job " in (folder / "sweep.log").read_text()
    for cell in swept.cells:
        job_id = cell.extra["job_id"]
        script = (folder / ".submitit" / job_id / f"{job_id}_submission.sh").read_text()
        assert "#SBATCH --partition=debug" in script and "#SBATCH --signal=USR2@" in script
    for cell in swept.cells:
        assert (
            load_checkpoint(swept.run_dir(cell) / "checkpoints" / "simple" / "latest.pt")["train_time"] < 6.0
        )
    resumed = subprocess.run(
        [sys.executable, "-m", "tui_gan", "sweep", "--resume", str(folder)],
        env={**os.environ, **slurm},
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    swept = Sweep.load(folder)
    assert [c.state for c in swept.cells] == ["finished", "finished"]
    for cell in swept.cells:
        assert (
            load_checkpoint(swept.run_dir(cell) / "checkpoints" / "simple" / "latest.pt")["train_time"] >= 6.0
        )
