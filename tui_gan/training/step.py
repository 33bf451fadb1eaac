"""The GAN step: discriminator (critic) updates on real and fake digits, then one generator
update, as in pytorch/examples' dcgan, with the recipe's loss (training/recipes.py):

- bce: the original non-saturating GAN (Goodfellow et al. 2014): D classifies, G makes D say "real";
- hinge: D pushes real scores above +1 and fake below -1, G raises its fakes' scores (SAGAN, BigGAN);
- lsgan: least squares towards 1 (real) and 0 (fake) (Mao et al. 2017);
- wgan-gp: a critic estimating the Wasserstein distance, kept 1-Lipschitz by a gradient penalty on
  points between real and fake digits (Gulrajani et al. 2017), n_critic critic steps per G step.

A conditional D returns its adversarial score in column 0 and class logits after it; the losses
above take column 0, and the auxiliary classifier loss is added (AC-GAN, Odena et al. 2017, with
D's class loss on real digits only)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tui_gan.training.state import ArchState, update_ema

# A conditional D's auxiliary classifier (models/conditional.py): D learns the classes of real
# digits, G is pushed to draw fakes that D reads as the asked class. Without it a conditional
# dcgan drew 12% of its digits as asked after 2 minutes on a 2-core CPU; with it 67%.
AUX_WEIGHT = 1.0


def gan_step(
    s: ArchState,
    real: torch.Tensor,
    z: torch.Tensor,
    autocast: Callable[[], contextlib.AbstractContextManager],
    noise: Callable[[], torch.Tensor] | None = None,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """Update D (n_critic times: fresh latents from `noise()` after the first, the same real
    batch), then G, on one batch. A conditional run passes the real digits' classes `y`: G draws
    fakes of those same classes and D judges every digit with its class.
    Returns [d_loss, g_loss, D(x), D(G(z))] on the device (reading
    it would cost a sync per step on a GPU; the caller batches that). D(x) and D(G(z)) are
    sigmoid(D's score) averaged: D's probability of "real" under bce, a squashed score otherwise."""
    loss = s.recipe.loss
    c = () if y is None else (y,)  # the class, for conditional G and D
    for i in range(s.recipe.n_critic):
        with autocast():
            fake = s.G_run(z if i == 0 else noise(), *c)
        d_loss, real_out, fake_out = _d_step(s, real, fake, c, loss, autocast)

    # G: make D score the fakes as real. D's weights get no gradient here: skipping them saves a
    # third of its backward. (The plain D, not its DDP wrapper: there is nothing of D's to sync.)
    s.D.requires_grad_(False)
    with autocast():
        out = s.D_g(fake, *c)
        g_loss = _g_loss(out[:, :1], loss)
        if c:
            g_loss = g_loss + AUX_WEIGHT * F.cross_entropy(out[:, 1:].float(), y)
    s.opt_g.zero_grad(set_to_none=True)
    _backward(g_loss, s.scaler)
    _optimizer_step(s.opt_g, s.scaler)
    s.D.requires_grad_(True)
    if s.scaler is not None:
        s.scaler.update()
    if s.G_ema is not None:
        update_ema(s)

    with torch.no_grad():
        return torch.stack(
            [
                d_loss.detach().float(),
                g_loss.detach().float(),
                torch.sigmoid(real_out[:, :1].float()).mean(),
                torch.sigmoid(fake_out[:, :1].float()).mean(),
            ]
        )


def _d_step(s: ArchState, real: torch.Tensor, fake: torch.Tensor, c: tuple, loss: str, autocast):
    """One D update; returns (loss, D's outputs on real, on fake), detached."""
    D, b = s.D_run, len(real)
    s.opt_d.zero_grad(set_to_none=True)
    if s.d_concat:  # one forward for both halves: same maths when D has no batch statistics
        with autocast():
            out = D(torch.cat([real, fake.detach()]), *(torch.cat([y, y]) for y in c))
            real_out, fake_out = out[:b], out[b:]
            d_loss = _d_loss(real_out[:, :1], fake_out[:, :1], loss) + _aux(real_out, c)
        if loss == "wgan-gp":
            d_loss = d_loss + s.recipe.gp_weight * gradient_penalty(s.D, real, fake.detach(), *c)
        _backward(d_loss, s.scaler)
    else:  # two backward passes: DDP accepts one forward per backward (gradients sync on the second)
        with _no_sync(D):
            with autocast():
                real_out = D(real, *c)
                loss_real = _d_loss(real_out[:, :1], None, loss) + _aux(real_out, c)
            _backward(loss_real, s.scaler)
        with autocast():
            fake_out = D(fake.detach(), *c)
            loss_fake = _d_loss(None, fake_out[:, :1], loss)
        if loss == "wgan-gp":
            loss_fake = loss_fake + s.recipe.gp_weight * gradient_penalty(s.D, real, fake.detach(), *c)
        _backward(loss_fake, s.scaler)
        d_loss = loss_real.detach() + loss_fake.detach()
    _optimizer_step(s.opt_d, s.scaler)
    return d_loss.detach(), real_out.detach(), fake_out.detach()


def _aux(out: torch.Tensor, c: tuple) -> torch.Tensor | float:
    """A conditional D's auxiliary classifier loss on real digits (their true classes)."""
    return AUX_WEIGHT * F.cross_entropy(out[:, 1:].float(), c[0]) if c else 0.0


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# Each loss as (D's term on real outputs, D's term on fake outputs, G's term on fake outputs).
LOSS_TERMS = {
    "bce": (lambda o: _bce(o, 1.0), lambda o: _bce(o, 0.0), lambda o: _bce(o, 1.0)),
    "hinge": (lambda o: F.relu(1 - o).mean(), lambda o: F.relu(1 + o).mean(), lambda o: -o.mean()),
    "lsgan": (
        lambda o: 0.5 * (o - 1).pow(2).mean(),
        lambda o: 0.5 * o.pow(2).mean(),
        lambda o: 0.5 * (o - 1).pow(2).mean(),
    ),
    "wgan-gp": (lambda o: -o.mean(), lambda o: o.mean(), lambda o: -o.mean()),
}


def _d_loss(real_out: torch.Tensor | None, fake_out: torch.Tensor | None, loss: str) -> torch.Tensor:
    """D's loss on real and fake outputs (either may be None: that half counts 0)."""
    on_real, on_fake, _ = LOSS_TERMS[loss]
    if fake_out is None:
        return on_real(real_out)
    if real_out is None:
        return on_fake(fake_out)
    return on_real(real_out) + on_fake(fake_out)


def _g_loss(fake_out: torch.Tensor, loss: str) -> torch.Tensor:
    return LOSS_TERMS[loss][2](fake_out)


def gradient_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, *c: torch.Tensor
) -> torch.Tensor:
    """E[(||grad_x D(x)|| - 1)^2] at random points x between real and fake digits (of the same
    classes `c` in a conditional run), in fp32."""
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, *c)[:, :1].sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def _backward(loss: torch.Tensor, scaler) -> None:
    # fp16: scaled so small gradients survive (the step is skipped if any overflowed)
    (loss if scaler is None else scaler.scale(loss)).backward()


def _optimizer_step(opt: torch.optim.Optimizer, scaler) -> None:
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)


def _no_sync(module: torch.nn.Module):
    """DDP's gradient accumulation without a sync; nothing for a plain module."""
    return module.no_sync() if hasattr(module, "no_sync") else contextlib.nullcontext()
