"""Every GAN loss, registered once: its three terms and how the dashboard labels it.

Adding a loss is one `register(Loss(...))` here (docs/ARCHITECTURE.md, "Add a loss"): the
step, --loss's choices, the loss panel, the help and `tui-gan archs` read this table. The terms
import torch when called, so the dashboard's process reads names and labels without it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Loss:
    name: str
    about: str  # a few words for the help screen
    # The loss panel's lines: D's loss, G's loss, D's verdict on real digits and on G's.
    labels: tuple[str, str, str, str]
    on_real: Callable  # D's term on its scores for real digits (tensor -> scalar tensor)
    on_fake: Callable  # D's term on its scores for G's digits
    for_g: Callable  # G's term on D's scores for its digits
    gradient_penalty: bool = False  # add the WGAN-GP penalty to D's loss (--gp-weight)
    n_critic: int = 1  # D steps per G step it is meant to train with (unless --n-critic)


LOSSES: dict[str, Loss] = {}


def register(loss: Loss) -> Loss:
    LOSSES[loss.name] = loss
    return loss


def _bce(target: float) -> Callable:
    def term(scores):
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(scores, scores.new_full(scores.shape, target))

    return term


# The verdicts are sigmoid(D's score): a probability under bce, a squashed score otherwise.
register(
    Loss(
        name="bce",
        about="the original non-saturating GAN (Goodfellow et al. 2014): D classifies, G makes D say real",
        labels=("D loss", "G loss", "D(x)", "D(G(z))"),
        on_real=_bce(1.0),
        on_fake=_bce(0.0),
        for_g=_bce(1.0),
    )
)
register(
    Loss(
        name="hinge",
        about="D pushes real scores above +1 and fake below -1, G raises its fakes' scores (SAGAN, BigGAN)",
        labels=("D hinge", "G -D(G(z))", "σD(x)", "σD(G(z))"),
        on_real=lambda o: (1 - o).relu().mean(),
        on_fake=lambda o: (1 + o).relu().mean(),
        for_g=lambda o: -o.mean(),
    )
)
register(
    Loss(
        name="lsgan",
        about="least squares towards 1 for real and 0 for fake (Mao et al. 2017)",
        labels=("D least sq.", "G least sq.", "σD(x)", "σD(G(z))"),
        on_real=lambda o: 0.5 * (o - 1).pow(2).mean(),
        on_fake=lambda o: 0.5 * o.pow(2).mean(),
        for_g=lambda o: 0.5 * (o - 1).pow(2).mean(),
    )
)
register(
    Loss(
        name="wgan-gp",
        about="a critic estimating the Wasserstein distance, kept 1-Lipschitz by a gradient penalty "
        "(Gulrajani et al. 2017)",
        labels=("critic+GP", "G -critic", "σC(x)", "σC(G(z))"),
        on_real=lambda o: -o.mean(),
        on_fake=lambda o: o.mean(),
        for_g=lambda o: -o.mean(),
        gradient_penalty=True,
        n_critic=5,  # the WGAN-GP paper's critic steps
    )
)
