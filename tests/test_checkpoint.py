import numpy as np
import pytest
import torch
from factories import blob_digits, make_engine

from tui_gan.errors import CheckpointError
from tui_gan.history import HISTORY_BUCKETS, StepHistory
from tui_gan.training import checkpoint as ckpt_mod
from tui_gan.training.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def trained(tmp_path):
    engine = make_engine(tmp_path, max_steps=4, arch="mlp")
    engine.run()
    return engine


def test_round_trip_holds_everything_needed(tmp_path, trained):
    path = save_checkpoint(tmp_path / "c.pt", trained.checkpoint_payload(trained.current))
    data = load_checkpoint(path, expected_arch="mlp")
    assert data["version"] == ckpt_mod.VERSION and data["step"] == 4 and data["pos"] == 4
    for key in (
        "generator",
        "discriminator",
        "opt_g",
        "opt_d",
        "fixed_noise",
        "rng",
        "history",
        "perm",
        "config",
    ):
        assert key in data
    assert data["history"].shape == (4, 6)
    G = trained.current.G
    for name, tensor in G.state_dict().items():
        assert torch.equal(data["generator"][name], tensor)


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, trained, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", trained.checkpoint_payload(trained.current))
    before = path.read_bytes()

    def dying_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"arch": "mlp"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_truncated_foreign_and_wrong_arch(tmp_path, trained):
    good = save_checkpoint(tmp_path / "good.pt", trained.checkpoint_payload(trained.current))
    raw = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated, damaged or foreign"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable tui-gan checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "state_dict.pt")
    with pytest.raises(CheckpointError, match="not a tui-gan checkpoint"):
        load_checkpoint(tmp_path / "state_dict.pt")
    with pytest.raises(CheckpointError, match="for architecture 'mlp', not 'dcgan'"):
        load_checkpoint(good, expected_arch="dcgan")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoints_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": ckpt_mod.FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")


def test_resume_with_another_architecture_is_refused(tmp_path, trained):
    path = save_checkpoint(tmp_path / "c.pt", trained.checkpoint_payload(trained.current))
    engine = make_engine(tmp_path, arch="dcgan", resume=path)
    with pytest.raises(CheckpointError, match="architecture 'mlp', not 'dcgan'"):
        engine.setup()


def test_resume_on_a_different_dataset_is_refused(tmp_path, trained):
    path = save_checkpoint(tmp_path / "c.pt", trained.checkpoint_payload(trained.current))
    engine = make_engine(tmp_path, arch="mlp", dataset=blob_digits(512), resume=path)
    with pytest.raises(CheckpointError, match="256 images"):
        engine.setup()


def _per_step_rows(steps: int) -> np.ndarray:
    """STEP_FIELDS rows for steps 1..steps, as an older checkpoint holds them."""
    step = np.arange(1, steps + 1, dtype=np.float64)
    return np.stack(
        [
            step,
            (step - 1) // 100,
            1.3 + np.sin(step / 1e3),
            0.8 + step / 1e6,
            0.55 + 0 * step,
            0.45 + 0 * step,
        ],
        1,
    )


def test_checkpoints_do_not_grow_with_the_steps(tmp_path, trained):
    s = trained.current
    sizes, rows = {}, {}
    for steps in (10_000, 200_000):
        s.history = StepHistory.restored(_per_step_rows(steps))
        path = save_checkpoint(tmp_path / f"{steps}.pt", trained.checkpoint_payload(s))
        sizes[steps], rows[steps] = path.stat().st_size, len(load_checkpoint(path)["history"])
    assert max(rows.values()) <= HISTORY_BUCKETS
    # at most the bucket table's own swing (half to all of its rows full); a row a step was +9 MB
    assert abs(sizes[200_000] - sizes[10_000]) < HISTORY_BUCKETS * 6 * 8


def test_an_older_checkpoint_with_a_row_per_step_still_resumes(tmp_path, trained):
    """Before the bounded history, "history" held every step's row and nothing said otherwise."""
    payload = trained.checkpoint_payload(trained.current)
    del payload["history_buckets"]
    for rows in (np.array(list(trained.current.history)), _per_step_rows(50_000)):
        path = save_checkpoint(tmp_path / "old.pt", {**payload, "history": torch.from_numpy(rows)})
        engine = make_engine(tmp_path, max_steps=4, arch="mlp", resume=path)
        engine.setup()
        history = engine.current.history
        if len(rows) <= HISTORY_BUCKETS:
            np.testing.assert_array_equal(history.rows(), rows)  # a short run's rows as they were
        else:
            assert (
                len(history) <= HISTORY_BUCKETS and history.spans()[0, 0] == 1 and history.last_step == 50_000
            )
            assert history.rows()[:, 2].mean() == pytest.approx(rows[:, 2].mean(), rel=1e-6)
