"""A headless job's log read by a script: `tui-gan train --headless > run.log` and job.log are
plain lines, one event a line with its time, and `--log-format json` is one JSON object a line."""

from __future__ import annotations

import datetime
import json
import math
import re
import subprocess
import sys

import pytest
from factories import SYNTHETIC_RUN, tiny_config
from waiting import wait_until

from tui_gan.jobs import registry
from tui_gan.jobs.launch import start_job
from tui_gan.loglines import Record, json_line, plain_fields
from tui_gan.training import events as ev

pytestmark = pytest.mark.usefixtures("private_runtime")
DATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S")


def json_lines(text: str) -> list[dict]:
    """Each line as a JSON object (strict: NaN or Infinity would fail), with a readable time."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    objects = [json.loads(line, parse_constant=refuse) for line in text.splitlines()]
    for obj in objects:
        assert datetime.datetime.fromisoformat(obj["time"]).tzinfo is not None, obj
    return objects


@pytest.mark.timeout(180)  # the subprocess has 120 s
@pytest.mark.slow
def test_headless_output_into_a_file_is_one_dated_line_per_event(tmp_path):
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "tui_gan", "train", "--headless", *SYNTHETIC_RUN, "--epochs", "2"]
            + ["--log-every", "0.01", "--checkpoint-every", "1", "--runs-dir", str(tmp_path / "runs")],
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    lines = log.read_text().splitlines()
    for line in lines:
        assert DATED.match(line) and line == line.rstrip(), repr(line)
        assert "headless.py" not in line and "━" not in line  # no source column, no progress bar
    said = [line[20:] for line in lines]  # after the timestamp
    # one event, one line, however long: nothing wrapped onto lines of its own
    written = [text for text in said if text.startswith("checkpoint written")]
    assert [text.endswith(" (routine)") for text in written] == [True, False]  # epoch 1's, then the final
    (started,) = [text for text in said if text.startswith("training simple on")]
    assert f"run folder {run_dir}; simple trains with " in started
    assert said[-1].startswith("completed: simple at step 32.") and said[-1].endswith(
        f"Run folder: {run_dir} (exit code 0)"
    )


@pytest.mark.slow
def test_log_format_json_is_one_object_a_line(tmp_path, capsys):
    from tui_gan.cli import main

    args = ["train", "--headless", *SYNTHETIC_RUN, "--epochs", "1", "--log-every", "0.01"]
    assert main([*args, "--log-format", "json", "--runs-dir", str(tmp_path / "runs")]) == 0
    objects = json_lines(capsys.readouterr().out)
    kinds = [obj["event"] for obj in objects]
    assert kinds[-1] == "Finished" and {"Started", "Stats", "CheckpointSaved"} <= set(kinds)
    assert all(obj["arch"] == "simple" and obj["text"] for obj in objects)
    stats = next(obj for obj in objects if obj["event"] == "Stats")
    assert isinstance(stats["d_loss"], float) and stats["step"] >= 1 and "points" not in stats
    assert objects[-1]["step"] == 16 and objects[-1]["exit_code"] == 0


@pytest.mark.slow
def test_a_background_job_logs_json_lines_to_job_log(tmp_path):
    info = start_job(tiny_config(tmp_path, epochs=1, log_format="json"))
    wait_until(lambda: registry.read_job(info.run_dir).state != "running", "the job to end", 60)
    objects = json_lines((info.run_dir / "job.log").read_text())
    assert objects[0]["event"] == "Started" and objects[-1]["event"] == "Finished"
    assert (objects[-1]["reason"], objects[-1]["exit_code"]) == ("completed", 0)


def test_json_lines_hold_plain_values_only():
    """Non-finite numbers become null (strict JSON); images and lists of records are left out;
    a report of plain values is kept as an object."""
    from tui_gan.quality.report import QualityReport

    report = QualityReport(100, (0.1,) * 10, 10, 0.0, 0.9, 8.5, math.inf)
    quality = ev.Quality(
        "mlp", step=5, epoch=0, report=report, real_floor=1.0, classifier_accuracy=0.9, seconds=0.1
    )
    stats = ev.Stats(
        "mlp",
        points=(ev.StepPoint(1, 0, math.nan, 1, 1, 1),),
        step=1,
        epoch=0,
        epoch_progress=0.5,
        images_per_s=math.nan,
        elapsed_s=1.0,
    )
    (q, s) = json_lines(
        "\n".join(json_line(Record("x", type(e).__name__, e.arch, plain_fields(e))) for e in (quality, stats))
    )
    assert q["report"]["frechet_distance"] is None and q["report"]["histogram"] == [0.1] * 10
    assert s["images_per_s"] is None and "points" not in s and s["epoch_progress"] == 0.5
