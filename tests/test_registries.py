"""A loss and an architecture added the way docs/ARCHITECTURE.md says, one registration each:
the engine trains them, checkpoints resume them, the options accept them and the listings and
the loss panel name them."""

from __future__ import annotations

import pytest
from factories import blob_digits, tiny_config

from tui_gan.cli import main
from tui_gan.config import TrainConfig
from tui_gan.models import ARCH_NAMES, ARCHS, ArchSpec, count_params, register
from tui_gan.training import events as ev
from tui_gan.training.engine import Engine
from tui_gan.training.losses import LOSSES, Loss
from tui_gan.training.losses import register as register_loss
from tui_gan.training.recipes import Recipe, describe


@pytest.fixture
def toy():
    """The "toy" architecture (tests/toy_gan.py) training by default with the "soft-hinge" loss."""
    register_loss(
        Loss(
            name="soft-hinge",
            about="hinge with softplus in place of the ramp",
            labels=("D soft hinge", "G -D(G(z))", "σD(x)", "σD(G(z))"),
            on_real=lambda o: (1 - o).exp().log1p().mean(),
            on_fake=lambda o: (1 + o).exp().log1p().mean(),
            for_g=lambda o: -o.mean(),
        )
    )
    spec = register(
        ArchSpec(
            "toy",
            "Toy GAN: G 100-32-784, D 784-32-1",
            "tests/toy_gan.py",
            "toy_gan",
            generator=dict(width=32),
            discriminator=dict(width=32),
            recipe=Recipe(loss="soft-hinge", lr_g=1e-3, lr_d=1e-3, ema=0.9),
        )
    )
    try:
        yield spec
    finally:
        del LOSSES["soft-hinge"], ARCHS["toy"]
        ARCH_NAMES.remove("toy")


def test_a_registered_architecture_trains_with_its_loss_and_resumes(tmp_path, toy):
    events = []
    config = tiny_config(tmp_path, arch="toy", max_steps=4)
    engine = Engine(config, events.append, dataset=blob_digits(256), run_dir=tmp_path / "run")
    assert engine.run() == "max_steps"
    started = next(e for e in events if isinstance(e, ev.Started))
    assert started.loss == "soft-hinge" and started.recipe == describe(toy.recipe)
    assert engine.current.recipe == toy.recipe
    assert count_params(engine.current.G) == (100 + 1) * 32 + (32 + 1) * 784  # width=32 reached it
    points = [p for e in events if isinstance(e, ev.Stats) for p in e.points]
    assert [p.step for p in points] == [1, 2, 3, 4] and all(p.d_loss > 0 for p in points)

    latest = tmp_path / "run" / "checkpoints" / "toy" / "latest.pt"
    resumed = Engine(config, dataset=blob_digits(256), resume=latest, run_dir=tmp_path / "run")
    resumed.setup()
    assert resumed.current.step == 4 and resumed.current.recipe == toy.recipe


def test_options_and_listings_know_them(toy, capsys):
    TrainConfig(arch="toy", loss="soft-hinge").validate()  # --arch and --loss accept them
    assert main(["archs"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "Toy GAN" in out and "soft-hinge, Adam 1e-3" in out


async def test_the_loss_panel_speaks_a_registered_loss(toy):
    from textual.app import App

    from tui_gan.ui.widgets.losses import LossPanel

    class Panel(App):
        def compose(self):
            yield LossPanel()

    app = Panel()
    async with app.run_test() as pilot:
        panel = app.query_one(LossPanel)
        panel.loss = "soft-hinge"
        panel.arch = "toy"
        await pilot.pause()
        assert str(panel.d_label.content).startswith("D soft hinge")
        assert panel.border_title == "losses · toy · soft-hinge"
