import pytest
import torch
from factories import blob_digits, make_engine

from tui_gan.errors import CheckpointError
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
