"""The GAN step: one discriminator step on real and fake digits, then one non-saturating
generator step (Goodfellow et al. 2014, as in pytorch/examples' dcgan)."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F

from tui_gan.training.state import ArchState


def gan_step(s: ArchState, real: torch.Tensor, z: torch.Tensor,
             autocast: Callable[[], contextlib.AbstractContextManager]) -> torch.Tensor:
    """Update D, then G, on one batch. Returns [d_loss, g_loss, D(x), D(G(z))] on the device
    (reading it would cost a sync per step on a GPU; the caller batches that)."""
    G, D = s.G_run, s.D_run  # compiled (--compile) and/or DDP-wrapped; else the modules themselves
    b = len(real)
    with autocast():
        fake = G(z)

    # D: real -> 1, fake -> 0
    s.opt_d.zero_grad(set_to_none=True)
    if s.d_concat:  # one forward for both halves: same maths when D has no batch statistics
        with autocast():
            logits = D(torch.cat([real, fake.detach()]))
            real_logits, fake_logits = logits[:b], logits[b:]
            d_loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
        _backward(d_loss, s.scaler)
    else:  # two backward passes: DDP accepts one forward per backward (gradients sync on the second)
        with _no_sync(D):
            with autocast():
                real_logits = D(real)
                loss_real = _bce(real_logits, 1.0)
            _backward(loss_real, s.scaler)
        with autocast():
            fake_logits = D(fake.detach())
            loss_fake = _bce(fake_logits, 0.0)
        _backward(loss_fake, s.scaler)
        d_loss = loss_real.detach() + loss_fake.detach()
    _optimizer_step(s.opt_d, s.scaler)

    # G: make D say 1 for fakes. D's weights get no gradient here: skipping them saves a third
    # of its backward. (The plain D, not its DDP wrapper: there is nothing of D's to synchronise.)
    s.D.requires_grad_(False)
    with autocast():
        g_loss = _bce(s.D_g(fake), 1.0)
    s.opt_g.zero_grad(set_to_none=True)
    _backward(g_loss, s.scaler)
    _optimizer_step(s.opt_g, s.scaler)
    s.D.requires_grad_(True)
    if s.scaler is not None:
        s.scaler.update()

    with torch.no_grad():
        return torch.stack([d_loss.detach().float(), g_loss.detach().float(),
                            torch.sigmoid(real_logits.float()).mean(), torch.sigmoid(fake_logits.float()).mean()])


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


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
