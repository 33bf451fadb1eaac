"""The GAN step: discriminator (critic) updates on real and fake digits, then one generator
update, as in pytorch/examples' dcgan, with the recipe's loss (training/losses.py):

- bce: the original non-saturating GAN (Goodfellow et al. 2014): D classifies, G makes D say "real";
- hinge: D pushes real scores above +1 and fake below -1, G raises its fakes' scores (SAGAN, BigGAN);
- lsgan: least squares towards 1 (real) and 0 (fake) (Mao et al. 2017);
- wgan-gp: a critic estimating the Wasserstein distance, kept 1-Lipschitz by a gradient penalty on
  points between real and fake digits (Gulrajani et al. 2017), n_critic critic steps per G step.

A conditional D returns its adversarial score in column 0 and class logits after it; the losses
above take column 0, and the auxiliary classifier loss is added (AC-GAN, Odena et al. 2017, with
D's class loss on real digits only).

With a recipe's --augment, D sees every digit, real and fake, through it (training/augment.py);
the gradient penalty is taken between the digits as drawn."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tui_gan.training import distributed
from tui_gan.training.augment import augment
from tui_gan.training.events import STEP_VALUES
from tui_gan.training.losses import LOSSES
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
    Returns the step's STEP_VALUES (d_loss, g_loss, d_real, d_fake) as one tensor on the device
    (reading it would cost a sync per step on a GPU; the caller batches that). d_real and d_fake
    are sigmoid(D's score) averaged: D's probability of "real" under bce, a squashed score
    otherwise."""
    loss = LOSSES[s.recipe.loss]
    for i in range(s.recipe.n_critic):
        with autocast():
            fake = s.G_train(z if i == 0 else noise(), y)
        # (1) Update D: its score up on real digits, down on G's (detached: D's update must not
        # reach into G), by the recipe's loss; a conditional D also learns the real digits'
        # classes, and wgan-gp keeps the critic 1-Lipschitz with a gradient penalty.
        s.opt_d.zero_grad(set_to_none=True)
        with autocast():
            real_out, fake_out = _d_forward(s, real, fake.detach(), y)
            d_loss = loss.on_real(real_out[:, :1]) + loss.on_fake(fake_out[:, :1]) + _aux(real_out, y)
        if loss.gradient_penalty:
            d_loss = d_loss + s.recipe.gp_weight * gradient_penalty(s.D, real, fake.detach(), y)
        if s.recipe.drift:  # progan's: keeps a critic's scores from drifting far from 0
            d_loss = d_loss + s.recipe.drift * real_out[:, :1].float().pow(2).mean()
        s.scaler.scale(d_loss).backward()  # fp16: scaled so small gradients survive; else as is
        s.scaler.step(s.opt_d)

    # (2) Update G: make D score the last fakes as real (and as the asked class). D's weights
    # get no gradient here: skipping them saves a third of its backward and leaves DDP nothing
    # to sync, so this calls D without its DDP wrapper.
    D = distributed.unwrap(s.D_train)
    s.D.requires_grad_(False)
    s.opt_g.zero_grad(set_to_none=True)
    with autocast():
        out = D(_seen(s, fake), y)
        g_loss = loss.for_g(out[:, :1]) + _aux(out, y)
    s.scaler.scale(g_loss).backward()
    s.scaler.step(s.opt_g)
    s.D.requires_grad_(True)
    s.scaler.update()
    if s.G_ema is not None:
        update_ema(s)

    with torch.no_grad():
        values = {
            "d_loss": d_loss.detach().float(),
            "g_loss": g_loss.detach().float(),
            "d_real": torch.sigmoid(real_out[:, :1].detach().float()).mean(),
            "d_fake": torch.sigmoid(fake_out[:, :1].detach().float()).mean(),
        }
        return torch.stack([values[name] for name in STEP_VALUES])


def _d_forward(
    s: ArchState, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """D's outputs on the real and the fake digits. Without batch statistics in D, one forward
    on both halves together (the same maths, one call). With BatchNorm each half keeps its own
    statistics: two forwards, the first without DDP's gradient sync, so both halves' gradients
    meet in the one backward that syncs them."""
    D, b = s.D_train, len(real)
    real, fake = _seen(s, real), _seen(s, fake)
    if s.d_concat:
        out = D(torch.cat([real, fake]), None if y is None else torch.cat([y, y]))
        return out[:b], out[b:]
    with distributed.no_sync(D):
        real_out = D(real, y)
    return real_out, D(fake, y)


def _seen(s: ArchState, digits: torch.Tensor) -> torch.Tensor:
    """The digits as D sees them: through the recipe's augmentation, if it has one."""
    return digits if s.recipe.augment == "none" else augment(digits, s.recipe.augment)


def _aux(out: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | float:
    """A conditional D's auxiliary classifier loss: its class logits against the classes `y`
    (of real digits in D's update, of the asked-for ones in G's)."""
    return 0.0 if y is None else AUX_WEIGHT * F.cross_entropy(out[:, 1:].float(), y)


def gradient_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None = None
) -> torch.Tensor:
    """E[(||grad_x D(x)|| - 1)^2] at random points x between real and fake digits (of the same
    classes `y` in a conditional run), in fp32."""
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, y)[:, :1].sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
