"""benchmarks/bf16_sim.py: bf16 autocast's numerics on fp32 kernels, checked against the real
torch.autocast(bfloat16) on the same weights and batch."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tui_gan.models import get_arch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bf16_sim import Bf16Sim  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def step(arch: str, precision: str, keep: tuple[str, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """One D loss's forward and backward from fixed weights: (G's fakes, every weight's gradient)."""
    torch.manual_seed(0)
    G, D = get_arch(arch).build(100)
    z, real = torch.randn(16, 100), torch.rand(16, 1, 28, 28) * 2 - 1
    context = contextlib.nullcontext
    if precision == "bf16":
        context = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    elif precision == "sim":
        sim = Bf16Sim(keep)
        sim.hook(G, D)
        context = sim.autocast
    with context():
        fake = G(z, None)
        out = D(torch.cat([real, fake]), None)
    target = torch.cat([torch.ones(16, 1), torch.zeros(16, 1)])
    F.binary_cross_entropy_with_logits(out[:, :1].float(), target).backward()
    grads = torch.cat([p.grad.flatten() for p in [*G.parameters(), *D.parameters()]])
    return fake.detach().float(), grads


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("arch", ["mlp", "simple", "relu-mlp"])
def test_the_simulation_computes_what_bf16_autocast_computes(arch):
    fp32_fake, fp32_grads = step(arch, "fp32")
    bf16_fake, bf16_grads = step(arch, "bf16")
    sim_fake, sim_grads = step(arch, "sim")
    # fp32 is a bf16 rounding away from autocast; the simulation lands (nearly) on it
    assert distance(fp32_fake, bf16_fake) > 1e-3
    assert distance(sim_fake, bf16_fake) < distance(fp32_fake, bf16_fake) / 30
    assert distance(sim_grads, bf16_grads) < distance(fp32_grads, bf16_grads) / 10
    assert (sim_grads == bf16_grads).float().mean() > 0.5  # most gradients bit for bit


def test_keeping_every_place_in_fp32_is_fp32():
    fp32_fake, fp32_grads = step("mlp", "fp32")
    kept_fake, kept_grads = step("mlp", "sim", keep=("acts", "grads", "weights"))
    assert torch.equal(kept_fake, fp32_fake) and torch.equal(kept_grads, fp32_grads)
    _, grads_only = step("mlp", "sim", keep=("grads",))
    assert not torch.equal(grads_only, fp32_grads)  # the activations and weights are still rounded
    g_fp32_fake, _ = step("mlp", "sim", keep=("G",))
    d_fp32_fake, _ = step("mlp", "sim", keep=("D",))
    assert torch.equal(g_fp32_fake, fp32_fake) and not torch.equal(d_fp32_fake, fp32_fake)


def test_an_unknown_place_is_refused():
    with pytest.raises(ValueError, match="unknown place"):
        Bf16Sim(("biases",))
