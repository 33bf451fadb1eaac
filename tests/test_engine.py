import math

import numpy as np
import pytest
from factories import Recorder, logged_steps, make_engine, run_in_thread, straight_and_resumed, tiny_config
from waiting import wait_until

from tui_gan.models import ARCH_NAMES
from tui_gan.training import commands as cmd
from tui_gan.training import events as ev
from tui_gan.training.checkpoint import load_checkpoint


def test_every_step_is_reported_once(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, epochs=3)
    assert engine.run() == "completed"
    steps = [p.step for p in rec.points()]
    assert steps == list(range(1, 3 * 8 + 1))  # 256 images / batch 32 = 8 steps per epoch
    assert rec.of(ev.Finished)[-1].reason == "completed"
    started = rec.of(ev.Started)[0]
    assert started.steps_per_epoch == 8 and started.params_g > 0
    samples = rec.of(ev.Samples)[-1]
    assert samples.images.shape == (16, 28, 28) and samples.images.dtype == np.uint8


def test_samples_carry_the_interpolation_row_from_a_straight_latent_line(tmp_path):
    import torch

    from tui_gan.training.state import INTERPOLATION_POINTS

    rec = Recorder()
    engine = make_engine(tmp_path, rec, epochs=2)
    engine.setup()
    z = engine.current.interp_noise
    assert z.shape == (INTERPOLATION_POINTS, engine.config.z_dim)
    steps = z[1:] - z[:-1]  # equal steps along one direction: a straight line at even spacing
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-5)
    engine.run()
    first, last = rec.of(ev.Samples)[0], rec.of(ev.Samples)[-1]
    assert last.interpolation.shape == (INTERPOLATION_POINTS, 28, 28) and last.interpolation.dtype == np.uint8
    # the row is the current generator on those latents, refreshed like the grid
    np.testing.assert_array_equal(last.interpolation, engine.current.digits(z))
    assert not np.array_equal(first.interpolation, last.interpolation)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_each_architecture_trains_a_few_steps(tmp_path, arch):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, arch=arch, max_steps=3)
    assert engine.run() == "max_steps"
    points = rec.points()
    assert len(points) == 3
    for p in points:
        assert (
            all(math.isfinite(v) for v in (p.d_loss, p.g_loss)) and 0 <= p.d_real <= 1 and 0 <= p.d_fake <= 1
        )


def test_losses_move_on_the_synthetic_set(tmp_path):
    from tui_gan.data import load_dataset

    dataset = load_dataset("synthetic", synthetic_size=2048)
    rec = Recorder()
    engine = make_engine(tmp_path, rec, dataset=dataset, arch="simple", batch_size=64, max_steps=120, lr=5e-4)
    engine.run()
    p = rec.points()
    first = np.mean([x.d_loss for x in p[:10]]), np.mean([x.g_loss for x in p[:10]])
    last = np.mean([x.d_loss for x in p[-10:]]), np.mean([x.g_loss for x in p[-10:]])
    assert abs(last[0] - first[0]) > 0.1 and abs(last[1] - first[1]) > 0.1
    # the generator learned something about the data: its mean brightness approaches the data's
    fake = rec.of(ev.Samples)[-1].images.astype(float).mean()
    real = dataset.images.float().mean().item()
    assert abs(fake - real) < 60


def test_max_steps_and_epochs_stop_training(tmp_path):
    engine = make_engine(tmp_path, max_steps=5)
    engine.run()
    assert engine.current.step == 5
    engine = make_engine(tmp_path, epochs=1)
    engine.run()
    assert engine.current.step == 8 and engine.current.epoch == 1


def test_pause_resume_checkpoint_switch_stop(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, run_dir=tmp_path / "run", epochs=1000, checkpoint_every=0)
    engine.setup()
    thread, result = run_in_thread(engine)
    wait_until(lambda: engine.current.step > 5, "step 5", 20, interval=0.01)

    engine.send(cmd.Pause())

    def pause_handled() -> bool:  # the paused state, then the samples of the paused step
        paused = [
            i for i, e in enumerate(rec.events) if isinstance(e, ev.StateChanged) and e.state == "paused"
        ]
        return bool(paused) and any(isinstance(e, ev.Samples) for e in rec.events[paused[0] :])

    wait_until(pause_handled, "the paused state", 20, interval=0.01)
    paused_at = engine.current.step
    for n in (1, 2):  # the paused engine answers the second after going round its loop once more
        engine.send(cmd.SaveCheckpoint())
        wait_until(lambda n=n: len(rec.of(ev.CheckpointSaved)) == n, "the checkpoint", 20, interval=0.01)
    assert engine.current.step == paused_at  # nothing trains while paused
    saved = rec.of(ev.CheckpointSaved)[0]
    assert load_checkpoint(saved.path)["step"] == paused_at

    engine.send(cmd.Resume())
    wait_until(lambda: engine.current.step > paused_at + 3, "training to resume", 20, interval=0.01)

    engine.send(cmd.SwitchArch("mlp"))
    wait_until(
        lambda: engine.current.name == "mlp" and engine.current.step > 2, "mlp to train", 20, interval=0.01
    )
    simple_step, mlp_step = engine.archs["simple"].step, engine.current.step
    wait_until(lambda: engine.current.step > mlp_step + 3, "mlp to train on", 20, interval=0.01)
    assert engine.archs["simple"].step == simple_step  # only the current architecture trains

    engine.send(cmd.SwitchArch("simple"))
    wait_until(
        lambda: engine.current.name == "simple" and engine.current.step > simple_step,
        "simple to continue",
        20,
        interval=0.01,
    )
    switched = rec.of(ev.ArchSwitched)
    assert [(e.previous, e.arch) for e in switched] == [("simple", "mlp"), ("mlp", "simple")]
    assert switched[-1].step == simple_step  # it continued where it was

    engine.send(cmd.Stop(checkpoint=True))
    thread.join(20)
    assert result["reason"] == "stopped"
    finals = {e.arch: e.path for e in rec.of(ev.CheckpointSaved)[2:]}
    assert set(finals) == {"simple", "mlp"}  # every architecture trained here gets a final checkpoint
    assert load_checkpoint(finals["mlp"], expected_arch="mlp")["step"] == engine.archs["mlp"].step
    run = tmp_path / "run"
    for name, state in engine.archs.items():  # each step in metrics.csv once, in rows by time
        assert logged_steps(run, name) == (state.step, state.step), name
    assert (run / "loss_simple.png").exists() and (run / "progress_mlp.gif").exists()


def test_unknown_arch_switch_is_a_notice_not_a_crash(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, max_steps=20, epochs=5)
    engine.send(cmd.SwitchArch("nope"))
    assert engine.run() == "max_steps"
    assert any("unknown architecture" in n.message for n in rec.of(ev.Notice))


def test_non_finite_loss_stops_training(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, max_steps=50)
    engine.setup()
    next(engine.current.G.parameters()).data.fill_(float("nan"))
    assert engine.run() == "error"
    failed = rec.of(ev.Failed)
    assert failed and "non-finite loss at step 1" in failed[0].message
    assert engine.current.step == 1  # stopped at once, not after 50 garbage steps
    assert rec.of(ev.StateChanged)[-1].state == "error"


def test_crash_in_training_becomes_an_event_with_traceback(tmp_path):
    rec = Recorder()
    engine = make_engine(tmp_path, rec, run_dir=tmp_path / "run", max_steps=5)
    engine.setup()

    def boom(*args):
        raise RuntimeError("simulated failure")

    engine.current.G.forward = boom
    assert engine.run() == "error"
    failed = rec.of(ev.Failed)[0]
    assert "simulated failure" in failed.message
    assert "Traceback" in open(failed.traceback_path).read()


def test_same_seed_same_losses(tmp_path):
    a, b = Recorder(), Recorder()
    make_engine(tmp_path, a, max_steps=6, arch="mlp-bn-dropout").run()
    make_engine(tmp_path, b, max_steps=6, arch="mlp-bn-dropout").run()
    assert [p.d_loss for p in a.points()] == [p.d_loss for p in b.points()]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["simple", "mlp-bn-dropout", "dcgan"])
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, arch):
    k = 6  # crosses an epoch boundary (8 steps per epoch) after resuming mid-epoch
    runs = straight_and_resumed(tmp_path, k, arch=arch)
    assert [p.step for p in runs.resumed.points()] == list(range(k + 1, 2 * k + 1))
    assert runs.resumed.losses() == runs.straight.losses()[k:]
    assert len(runs.engine.current.history) == 2 * k  # the history travels with the checkpoint


@pytest.mark.slow
def test_bf16_autocast_trains_and_resumes_exactly(tmp_path):
    """bf16 on a CPU (this one has avx512_bf16): finite, moving losses, and the same exact resume."""
    k = 5
    runs = straight_and_resumed(tmp_path, k, arch="mlp", precision="bf16")
    points = runs.straight.points()
    assert all(math.isfinite(p.d_loss) and math.isfinite(p.g_loss) for p in points)
    assert len({round(p.g_loss, 4) for p in points}) > 1
    fp32 = Recorder()
    make_engine(tmp_path, fp32, arch="mlp", max_steps=2).run()
    assert fp32.points()[1].d_loss != points[1].d_loss  # the forward really ran in bf16
    assert runs.resumed.losses() == runs.straight.losses()[k:]


@pytest.mark.parametrize("native", [False, True])
def test_precision_auto_takes_bf16_where_the_hardware_has_it_and_says_so(tmp_path, monkeypatch, native):
    """config.json keeps `auto` (a resume elsewhere chooses again) beside what it chose here."""
    import json

    from tui_gan.training import device

    monkeypatch.setattr(device, "native_bf16", lambda _device: native)
    rec = Recorder()
    run = tmp_path / "run"
    engine = make_engine(tmp_path, rec, run_dir=run, arch="simple", precision="auto", max_steps=2)
    assert engine.run() == "max_steps"
    chosen = "bf16" if native else "fp32"
    config = json.loads((run / "config.json").read_text())
    assert (config["precision"], config["precision_resolved"]) == ("auto", chosen)
    [notice] = [n for n in rec.of(ev.Notice) if n.message.startswith("precision auto")]
    assert notice.message.startswith(f"precision auto: {chosen} (") and notice.level == "info"
    fp32 = Recorder()
    make_engine(tmp_path, fp32, arch="simple", max_steps=2).run()
    assert (rec.losses() == fp32.losses()) is not native  # bf16 really ran where chosen


def test_fp16_needs_a_gpu(tmp_path):
    from tui_gan.errors import ConfigError

    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        make_engine(tmp_path, Recorder(), precision="fp16", device="cpu").setup()
    with pytest.raises(ConfigError, match="unknown precision"):
        tiny_config(tmp_path, precision="fp8")


@pytest.mark.slow
def test_compiled_models_train_and_checkpoint_plain_weights(tmp_path):
    """torch.compile (inductor, here on the CPU: ~20 s of compiling) for G and D."""
    rec = Recorder()
    engine = make_engine(
        tmp_path, rec, arch="simple", max_steps=4, compile="default", run_dir=tmp_path / "run"
    )
    assert engine.run() == "max_steps"
    assert engine.current.G_train is not engine.current.G  # the step ran the compiled modules
    assert all(math.isfinite(p.d_loss) for p in rec.points()) and len(rec.points()) == 4
    data = load_checkpoint(tmp_path / "run" / "checkpoints" / "simple" / "latest.pt")
    assert not any("_orig_mod" in key for key in data["generator"])  # loads into a plain model
