"""Progressive growing (the `progan` architecture): Karras et al. 2018, "Progressive Growing of
GANs for Improved Quality, Stability, and Variation", scaled to MNIST's 28x28.

G and D start at 7x7 and grow to 14x14, then 28x28. Each new resolution block fades in while
alpha ramps from 0 to 1 over `phase_images` images, then trains stable for as many before the
next one; 28x28 then trains on. As in the paper: pixelwise feature normalisation after every
convolution of G, a minibatch standard-deviation feature map in D's last block, and equalised
learning rate (weights drawn from N(0, 1) and scaled by He's constant at every call, so Adam
moves every layer at the same pace). Its default recipe (models/__init__.py) trains with least
squares: the paper's WGAN-GP (`--loss wgan-gp --drift 1e-3`) measured worse.

G always returns 28x28 digits: a lower stage's output is scaled up with nearest neighbours, so
sampling, evaluation and the dashboard take it like any architecture's, drawn at its own
resolution. D always takes 28x28 and averages it down to the stage's resolution, which gives
back exactly what G drew. `real_view` shows D the real digits as the stage sees them (blurred
to its resolution, and blended like G's output while fading), as the paper does.

How far it has grown lives in a buffer of each net (`images`, shown so far), so a checkpoint
resumes exactly mid-fade and `tui-gan sample` draws at the stage the checkpoint reached. The
training loop calls `advance()` on G, D and the EMA copy after every step."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tui_gan.models.conditional import ConditionalHead, with_class
from tui_gan.models.knobs import Knobs, scaled
from tui_gan.models.mlp import activation

RESOLUTIONS = (7, 14, 28)
CHANNELS = (128, 64, 32)  # at 7x7, 14x14, 28x28 (width x1)
PHASE_IMAGES = 32_000  # images per fade-in and per stable phase (a CPU's ~30 s at 7x7)
MBSTD_GROUP = 4  # the paper's minibatch standard-deviation group size


def knobbed(generator: dict, discriminator: dict, knobs: Knobs) -> tuple[dict, dict]:
    """The architecture knobs: channels x width, `depth` extra 3x3 convolutions per resolution
    block, the activation, D's normalisation (its own is none: the minibatch feature instead)."""
    g, d = dict(generator), dict(discriminator)
    for args in (g, d):
        args["width"], args["extra"] = knobs.width, knobs.depth or 0
        if knobs.activation:
            args["act"] = knobs.activation
        if knobs.grow_images is not None:
            args["phase_images"] = knobs.grow_images
    if knobs.d_norm != "own":
        d["norm"] = knobs.d_norm
    return g, d


class EqualConv2d(nn.Conv2d):
    """A same-padded convolution with equalised learning rate."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class EqualLinear(nn.Linear):
    """A linear layer with equalised learning rate."""

    def __init__(self, n_in: int, n_out: int, gain: float = math.sqrt(2)):
        super().__init__(n_in, n_out)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit average square (the paper's section 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def minibatch_stddev(x: torch.Tensor, group: int = MBSTD_GROUP) -> torch.Tensor:
    """x with one more feature map: the standard deviation of each feature over a group of
    samples, averaged, so D sees how varied a batch is (section 3). Sample i is in group i mod
    (batch / group size), as in the paper's code."""
    b, _, h, w = x.shape
    size = min(group, b)
    while b % size:
        size -= 1
    y = x.float().reshape(size, -1, *x.shape[1:])
    std = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (b / size,)
    return torch.cat([x, std.repeat(size).view(b, 1, 1, 1).expand(b, 1, h, w).to(x.dtype)], dim=1)


def resample(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """x at `resolution`: averaged down or scaled up with nearest neighbours (integer factors)."""
    size = x.shape[-1]
    if size > resolution:
        return F.avg_pool2d(x, size // resolution)
    if size < resolution:
        return F.interpolate(x, scale_factor=resolution // size, mode="nearest")
    return x


class Growth(nn.Module):
    """How far a net has grown: images shown so far (a buffer: checkpoints keep it) and, from
    them, the stage (0: 7x7, 1: 14x14, 2: 28x28), whether it is fading in and alpha. The stage
    and fading are plain attributes so forward() branches on them without reading a tensor
    (a GPU sync); alpha is a buffer so torch.compile does not recompile as it moves."""

    def __init__(self, phase_images: int):
        super().__init__()
        self.phase_images = phase_images
        self.register_buffer("images", torch.zeros((), dtype=torch.int64))
        self.register_buffer("alpha", torch.ones(()))
        self.seen, self.stage, self.fading, self.alpha_value = 0, 0, False, 1.0
        self.register_load_state_dict_post_hook(lambda module, keys: module._follow(int(module.images)))

    def advance(self, images: int) -> str | None:
        """`images` more shown; what the net does now, in words, when that changed."""
        before = (self.stage, self.fading)
        self._follow(self.seen + images)
        self.images.fill_(self.seen)
        return self.describe(phase=True) if (self.stage, self.fading) != before else None

    def _follow(self, seen: int) -> None:
        # Phases of phase_images each: 7x7 stable, 14x14 fading in, 14x14 stable, 28x28 fading
        # in, then 28x28 for good.
        self.seen = seen
        phase = min(seen // self.phase_images, 2 * (len(RESOLUTIONS) - 1))
        self.stage, self.fading = (phase + 1) // 2, phase % 2 == 1
        alpha = (seen - phase * self.phase_images) / self.phase_images if self.fading else 1.0
        self.alpha.fill_(alpha)
        self.alpha_value = alpha  # for words: reading the buffer would sync a GPU

    def describe(self, phase: bool = False) -> str:
        """'14x14 fade-in α 0.42' / '28x28 stable'; with `phase`, the phase's own words."""
        res = RESOLUTIONS[self.stage]
        if self.fading:
            return (
                f"{res}x{res} fading in over {self.phase_images:,} images"
                if phase
                else f"{res}x{res} fade-in α {self.alpha_value:.2f}"
            )
        return f"{res}x{res} stable" + (
            " (fully grown)" if phase and self.stage == len(RESOLUTIONS) - 1 else ""
        )


class Grown(nn.Module):
    """What G and D share: the growth state and their stage, in words."""

    def advance(self, images: int) -> str | None:
        return self.growth.advance(images)

    @property
    def stage(self) -> str:
        return self.growth.describe()


class ProGANGenerator(Grown):
    """z -> PixelNorm -> Linear to 7x7 -> [2 convs at 7x7] -> up, 2 convs at 14x14 -> up, 2 convs
    at 28x28; a 1x1 to-image convolution after each block, the newest faded in over the last."""

    def __init__(
        self,
        z_dim: int = 100,
        n_classes: int = 0,
        width: float = 1.0,
        extra: int = 0,
        act: str = "leaky",
        phase_images: int = PHASE_IMAGES,
    ):
        super().__init__()
        self.n_classes, self.growth = n_classes, Growth(phase_images)
        c = [scaled(ch, Knobs(width=width)) for ch in CHANNELS]
        self.norm = PixelNorm()
        # gain / 4: the paper's code scales its first dense layer so (the 4x4 block's 16 pixels)
        self.project = EqualLinear(z_dim + n_classes, c[0] * 7 * 7, gain=math.sqrt(2) / 4)
        self.first = nn.Sequential(
            activation(act), PixelNorm(), *_convs(c[0], c[0], 1 + extra, act, PixelNorm)
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(*_convs(c[i - 1], c[i], 2 + extra, act, PixelNorm)) for i in (1, 2)
        )
        self.to_image = nn.ModuleList(EqualConv2d(ch, 1, 1, gain=1.0) for ch in c)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        stage, fading = self.growth.stage, self.growth.fading
        h = self.project(with_class(self.norm(z), y, self.n_classes))
        h = self.first(h.view(len(z), -1, 7, 7))
        for i in range(stage):
            if fading and i == stage - 1:
                before = resample(self.to_image[i](h), RESOLUTIONS[stage])
            h = self.blocks[i](resample(h, RESOLUTIONS[i + 1]))
        out = self.to_image[stage](h)
        if fading:
            out = torch.lerp(before, out, self.growth.alpha.to(out.dtype))
        if not self.training:
            out = out.clamp(-1, 1)  # the paper's linear output; digits are shown in [-1, 1]
        return resample(out, RESOLUTIONS[-1])


class ProGANDiscriminator(Grown):
    """28x28 averaged to the stage's resolution -> 1x1 from-image convolution -> [2 convs and a
    2x average pool per block above 7x7] -> minibatch stddev, conv, Linear 7x7 -> Linear -> one
    score. norm: "none" (its own), "spectral" (every layer) or "layer" (after each conv)."""

    batch_statistics = True  # the minibatch feature: real and fake digits need separate forwards

    def __init__(
        self,
        n_classes: int = 0,
        width: float = 1.0,
        extra: int = 0,
        act: str = "leaky",
        norm: str = "none",
        phase_images: int = PHASE_IMAGES,
    ):
        super().__init__()
        self.growth = Growth(phase_images)
        c = [scaled(ch, Knobs(width=width)) for ch in CHANNELS]
        after = (lambda ch: nn.GroupNorm(1, ch)) if norm == "layer" else None
        self.from_image = nn.ModuleList(nn.Sequential(EqualConv2d(1, ch, 1), activation(act)) for ch in c)
        self.blocks = nn.ModuleList(
            nn.Sequential(*_convs(c[i], c[i], 1 + extra, act, after), *_convs(c[i], c[i - 1], 1, act, after))
            for i in (1, 2)
        )
        self.last = nn.Sequential(*_convs(c[0] + 1, c[0], 1 + extra, act, after), nn.Flatten())
        self.dense = nn.Sequential(EqualLinear(c[0] * 7 * 7, c[0]), activation(act))
        self.head = EqualLinear(c[0], 1, gain=1.0)
        self.project = ConditionalHead(n_classes, c[0]) if n_classes else None
        if norm == "spectral":
            for module in self.modules():
                if isinstance(module, (EqualConv2d, EqualLinear)):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        stage, fading = self.growth.stage, self.growth.fading
        x = resample(x, RESOLUTIONS[stage])
        h = self.from_image[stage](x)
        for i in range(stage, 0, -1):
            h = F.avg_pool2d(self.blocks[i - 1](h), 2)
            if fading and i == stage:
                below = self.from_image[i - 1](F.avg_pool2d(x, 2))
                h = torch.lerp(below, h, self.growth.alpha.to(h.dtype))
        features = self.dense(self.last(minibatch_stddev(h)))
        return self.head(features) if self.project is None else self.project.judge(self.head, features, y)

    def real_view(self, real: torch.Tensor) -> torch.Tensor:
        """Real digits as this stage shows them (28x28): at its resolution, and while fading in
        blended with the resolution below as G's output is."""
        growth = self.growth
        res = RESOLUTIONS[growth.stage]
        if growth.stage == len(RESOLUTIONS) - 1 and not growth.fading:
            return real
        low = resample(real, res)
        if growth.fading:
            low = torch.lerp(resample(resample(low, res // 2), res), low, growth.alpha.to(low.dtype))
        return resample(low, RESOLUTIONS[-1])


def _convs(c_in: int, c_out: int, n: int, act: str, norm) -> list[nn.Module]:
    """n 3x3 equalised convolutions from c_in to c_out channels, each with the activation and
    then `norm(c_out)` (a class or a factory; None: none)."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [EqualConv2d(c_in if i == 0 else c_out, c_out, 3), activation(act)]
        if norm is PixelNorm:
            layers.append(PixelNorm())
        elif norm is not None:
            layers.append(norm(c_out))
    return layers


# The names the architecture registry builds (tui_gan/models/__init__.py).
Generator, Discriminator = ProGANGenerator, ProGANDiscriminator
