"""A full disk never costs the training: the run pauses, says which file and why, and goes on
once the file can be written, with every step in metrics.csv once and no torn line."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from factories import SYNTHETIC_RUN, Recorder, logged_steps, make_engine, run_in_thread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.summary.writer.record_writer import RecordWriter
from waiting import wait_until

from tui_gan.errors import WriteFailed
from tui_gan.fileio import append_whole
from tui_gan.training import commands as cmd
from tui_gan.training import engine as engine_module
from tui_gan.training import events as ev
from tui_gan.training import rundir, write_retry
from tui_gan.training.checkpoint import load_checkpoint
from tui_gan.training.outputs import RunOutputs
from tui_gan.training.rundir import RunDir


class Disk:
    """Stands in for the run folder's disk: while `full`, appends and checkpoints fail with ENOSPC."""

    def __init__(self, monkeypatch) -> None:
        self.full = False
        self.refused = 0
        self.refusing: tuple[str, ...] = ()  # names of the files it refuses (all when empty)
        real_append, real_save = rundir.append_whole, engine_module.save_checkpoint

        def append(path, data):
            self._check(path)
            return real_append(path, data)

        def save(path, payload):
            self._check(path)
            return real_save(path, payload)

        def write_record(record_writer, data):  # in TensorBoard's writer thread
            self._check(record_writer._writer.filename)
            return real_record(record_writer, data)

        real_record = RecordWriter.write
        monkeypatch.setattr(RecordWriter, "write", write_record)

        monkeypatch.setattr(rundir, "append_whole", append)
        monkeypatch.setattr(engine_module, "save_checkpoint", save)
        monkeypatch.setattr(write_retry, "FIRST_WAIT_S", 0.3)

    def _check(self, path) -> None:
        if self.full and (not self.refusing or any(name in str(path) for name in self.refusing)):
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def states(rec: Recorder) -> list[str]:
    return [e.state for e in rec.of(ev.StateChanged)]


def paused_by_a_full_disk(tmp_path, disk: Disk, refusing: tuple[str, ...], wait_s: float):
    """A 200-step run in a thread, trained a little, then paused by `disk` refusing the files
    named `refusing`: (its events, the engine, the thread, the dict its reason goes to)."""
    disk.refusing = refusing
    rec = Recorder()
    engine = make_engine(
        tmp_path, rec, run_dir=tmp_path / "run", max_steps=200, epochs=100, checkpoint_every=0
    )
    thread, result = run_in_thread(engine)
    wait_until(lambda: engine.current is not None and engine.current.step > 8, "some training", 120)
    disk.full = True
    wait_until(lambda: "paused" in states(rec), "the run to pause", wait_s)
    return rec, engine, thread, result


def test_a_full_disk_pauses_training_and_it_goes_on_once_there_is_space(tmp_path, monkeypatch):
    disk = Disk(monkeypatch)
    rec, engine, thread, result = paused_by_a_full_disk(tmp_path, disk, ("metrics.csv", "checkpoints"), 30)
    notices = [n.message for n in rec.of(ev.Notice) if n.level == "error"]
    assert any("could not write" in m and "disk full" in m and "metrics.csv" in m for m in notices), notices
    paused_at = engine.current.step
    time.sleep(1.0)  # it retries with a growing wait, and stays paused while the disk is full
    assert engine.current.step == paused_at and disk.refused >= 2
    assert any("still could not write" in n.message for n in rec.of(ev.Notice))
    disk.full = False
    thread.join(120)
    assert result["reason"] == "max_steps" and engine.current.step == 200
    assert logged_steps(tmp_path / "run") == (200, 200)  # every step once: none lost, none twice
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")["step"] == 200


def test_a_checkpoint_that_cannot_be_written_waits_for_space_and_resume_retries_at_once(
    tmp_path, monkeypatch
):
    disk = Disk(monkeypatch)
    monkeypatch.setattr(write_retry, "FIRST_WAIT_S", 60.0)  # only the resume retries in this test
    rec = Recorder()
    engine = make_engine(tmp_path, rec, run_dir=tmp_path / "run", epochs=1000, checkpoint_every=0)
    thread, result = run_in_thread(engine)
    wait_until(lambda: engine.current is not None and engine.current.step > 8, "some training", 120)
    disk.full = True
    engine.send(cmd.SaveCheckpoint())
    wait_until(lambda: "paused" in states(rec), "the run to pause", 30)
    engine.send(cmd.Resume())  # still full: it says so and stays paused
    wait_until(lambda: any("still could not write" in n.message for n in rec.of(ev.Notice)), "the retry", 30)
    assert states(rec)[-1] == "paused"
    disk.full = False
    engine.send(cmd.Resume())
    wait_until(lambda: states(rec)[-1] == "running", "training again", 30)
    saved = rec.of(ev.CheckpointSaved)
    assert saved and "step_" in saved[-1].path  # the checkpoint asked for, written once there was space
    engine.send(cmd.Stop(checkpoint=True))
    thread.join(60)
    assert result["reason"] == "stopped"


def test_an_append_that_fails_midway_leaves_no_torn_line(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"a,b\n1,2\n")
    writes = iter([3])  # the disk takes 3 bytes, then is full

    def write(fd, data):
        n = next(writes, None)
        if n is None:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, bytes(data[:n]))

    monkeypatch.setattr("tui_gan.fileio.os.write", write)
    with pytest.raises(OSError):
        append_whole(path, b"3,4\n5,6\n")
    monkeypatch.undo()
    assert path.read_bytes() == b"a,b\n1,2\n"


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="a real small disk needs root")
def test_a_headless_job_on_a_real_full_disk_waits_and_finishes(tmp_path):
    """A 16 MB tmpfs filled up while a headless job writes to it: the job says "disk full", waits,
    and finishes once space is freed, with every step logged once."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        job = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_gan",
                "train",
                "--headless",
                *SYNTHETIC_RUN,
                "--max-steps",
                "1500",
                "--epochs",
                "1000",
                "--checkpoint-every",
                "0",
                "--runs-dir",
                str(disk / "runs"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        wait_until(lambda: list(disk.glob("runs/*/metrics.csv")), "the job to write metrics", 60)
        ballast = disk / "ballast"
        with open(ballast, "wb") as f:  # every free byte
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        time.sleep(3)
        ballast.unlink()
        out, _ = job.communicate(timeout=120)
        assert job.returncode == 0, out[-3000:]
        assert "disk full" in out and "written again" in out
        (run,) = disk.glob("runs/*")
        assert logged_steps(run) == (1500, 1500)
        assert not list(run.rglob("*.tmp"))
        assert "Traceback" not in out
        events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
        events.Reload()  # the event files, the one cut short by the full disk included, still read
        assert events.Scalars("simple/loss/G")[-1].step == 1500
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def test_a_stop_on_a_full_disk_writes_its_final_checkpoint_once_there_is_space(tmp_path, monkeypatch):
    """SIGTERM on a full disk: the job does not end without its final checkpoint, nor hang once
    space is back."""
    disk = Disk(monkeypatch)
    rec = Recorder()
    engine = make_engine(tmp_path, rec, run_dir=tmp_path / "run", epochs=1000, checkpoint_every=0)
    thread, result = run_in_thread(engine)
    wait_until(lambda: engine.current is not None and engine.current.step > 8, "some training", 120)
    disk.full = True
    engine.send(cmd.Stop(checkpoint=True))
    wait_until(lambda: any("disk full" in n.message for n in rec.of(ev.Notice)), "the full disk said", 30)
    time.sleep(1.0)
    assert thread.is_alive() and "stopped" not in states(rec)  # waiting for room, not gone
    disk.full = False
    thread.join(60)
    assert result["reason"] == "stopped"
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")
    assert checkpoint["step"] == engine.current.step
    assert logged_steps(tmp_path / "run") == (engine.current.step, engine.current.step)


def test_an_epoch_grid_that_cannot_be_written_pauses_too(tmp_path, monkeypatch):
    """The sample PNG of an epoch's end on a full disk: the same pause, the same line."""
    monkeypatch.setattr(write_retry, "FIRST_WAIT_S", 0.3)
    refused = []
    real_save = rundir.RunDir.save_samples

    def save_samples(self, *args):
        if not refused:  # the first one only: then the disk has room again
            refused.append(args)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, *args)

    monkeypatch.setattr(rundir.RunDir, "save_samples", save_samples)
    rec = Recorder()
    engine = make_engine(
        tmp_path, rec, run_dir=tmp_path / "run", max_steps=40, epochs=100, checkpoint_every=0
    )
    assert engine.run() == "max_steps"
    notices = [n.message for n in rec.of(ev.Notice) if n.level == "error"]
    assert any("samples" in m and "disk full" in m for m in notices), notices
    assert "paused" in states(rec) and refused
    assert logged_steps(tmp_path / "run") == (40, 40)


def test_tensorboard_on_a_full_disk_pauses_and_goes_on_in_a_new_event_file(tmp_path, monkeypatch, capfd):
    """TensorBoard writes its event file from a thread of its own: its failure surfaces at a
    later write, pauses the run like any other file, and a new event file takes over, with no
    traceback in the log."""
    disk = Disk(monkeypatch)
    rec, engine, thread, result = paused_by_a_full_disk(tmp_path, disk, ("tensorboard",), 60)
    notices = [n.message for n in rec.of(ev.Notice) if n.level == "error"]
    assert any("tensorboard" in m and "disk full" in m for m in notices), notices
    disk.full = False
    thread.join(120)
    assert result["reason"] == "max_steps"
    assert logged_steps(tmp_path / "run") == (200, 200)
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 2
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    steps = [s.step for s in events.Scalars("simple/loss/G")]
    assert steps[-1] == 200 and steps == sorted(steps)
    assert "Traceback" not in capfd.readouterr().err


def test_quality_rows_wait_for_room_and_are_written_once(tmp_path, monkeypatch):
    """quality.csv's rows go through the same wait as metrics.csv's: kept, in order, each once."""
    from tui_gan.quality.report import QualityReport

    disk = Disk(monkeypatch)
    outputs = RunOutputs(RunDir(tmp_path))
    report = QualityReport(1000, tuple([0.1] * 10), 10, 0.01, 0.9, 8.5, 23.5)
    outputs.quality("mlp", 10, 1, report, 19.0)
    disk.full = True
    for step in (20, 30):
        with pytest.raises(WriteFailed, match="quality.csv: disk full"):
            outputs.quality("mlp", step, 2, report, 19.0)
    with pytest.raises(WriteFailed):
        outputs.retry()
    disk.full = False
    outputs.retry()
    rows = (tmp_path / "quality.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["10", "20", "30"]


def test_an_epoch_grid_refused_is_written_once_there_is_room(tmp_path, monkeypatch):
    disk = Disk(monkeypatch)
    disk.refusing = ("samples",)
    real_save = rundir.RunDir.save_samples

    def save_samples(self, arch, epoch, *args):
        disk._check(self.path / "samples" / arch)
        return real_save(self, arch, epoch, *args)

    monkeypatch.setattr(rundir.RunDir, "save_samples", save_samples)
    outputs = RunOutputs(RunDir(tmp_path))
    disk.full = True
    grid = np.zeros((4, 28, 28), np.uint8)
    with pytest.raises(WriteFailed) as failed:
        outputs.epoch_samples("mlp", 3, 30, 0.0, lambda: grid)
    with pytest.raises(WriteFailed):
        failed.value.again()
    disk.full = False
    failed.value.again()
    assert (tmp_path / "samples" / "mlp" / "epoch_003.png").exists()
