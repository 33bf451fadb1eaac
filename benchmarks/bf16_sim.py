"""bf16 autocast's numerics on fp32 kernels, for benchmarks/quality.py's `--precision bf16-sim`:
what bf16 does to the digits, measured at a matched step count on a machine without bf16 in
hardware (where PyTorch emulates bf16 matmuls ~100x slower than fp32 ones) and cheaply where
each place bf16 loses precision has to be switched off in turn.

Under torch.autocast(bfloat16) every tensor inside G and D is bf16: linear and conv layers take
bf16-rounded weights and inputs, accumulate in fp32 and round their output; elementwise layers
(BatchNorm, activations, Tanh) compute in fp32 and round their output; each backward op rounds
the gradient it passes on, so the weights' gradients arrive bf16-rounded in fp32. The losses
(binary_cross_entropy_with_logits and cross_entropy are on autocast's fp32 list), the optimizer,
EMA and BatchNorm's running statistics stay fp32. Here every module's inputs and outputs and the
layers' weights pass through `_Round`, which rounds the value to the nearest bf16 in the forward
pass and the gradient in the backward pass, while the arithmetic stays fp32: the same values as
autocast up to the order of fp32 sums inside a layer.

`keep` names what to leave in fp32 (the precision-loss hunt): "acts" the tensors between modules
(G's output, D's inputs and every layer's), "grads" the gradients, "weights" the layers' weights
and biases, "G" or "D" the whole of that network (what the other network hands it is still rounded)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

PLACES = ("acts", "grads", "weights", "G", "D")
WEIGHT_ARGS = ("weight", "bias")  # a layer function's keyword arguments that autocast casts
_WEIGHTED = {
    torch.nn.functional.linear,
    torch.conv2d,
    torch.conv_transpose2d,
    torch.nn.functional.conv2d,
    torch.nn.functional.conv_transpose2d,
}


def to_bf16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.bfloat16).to(x.dtype)


class _Round(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, grads: bool) -> torch.Tensor:
        ctx.grads = grads
        return to_bf16(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (to_bf16(grad) if ctx.grads else grad), None


class Bf16Sim:
    """Hooks on G's and D's modules that round what passes through them while `active`."""

    def __init__(self, keep: tuple[str, ...] = ()) -> None:
        unknown = set(keep) - set(PLACES)
        if unknown:
            raise ValueError(f"bf16-sim: unknown place(s) {', '.join(sorted(unknown))}; known: {PLACES}")
        self.keep = set(keep)
        self.active = False
        self._hooked: set[int] = set()
        self._weights: set[int] = set()  # the parameters rounded where a layer uses them

    def round(self, value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return _Round.apply(value, "grads" not in self.keep)
        if isinstance(value, tuple):
            return tuple(self.round(v) for v in value)
        return value

    def round_weight(self, value):
        """A layer's weight or bias rounded, if it belongs to a network not kept in fp32."""
        return self.round(value) if id(value) in self._weights else value

    def hook(self, G: nn.Module, D: nn.Module) -> None:
        """Round every module's inputs and outputs and every layer's weights, in the networks
        not kept in fp32 (once per network, however often called)."""
        for model, name in ((G, "G"), (D, "D")):
            if id(model) in self._hooked or name in self.keep:
                continue
            self._hooked.add(id(model))
            if "weights" not in self.keep:
                self._weights.update(id(p) for p in model.parameters())
            if "acts" in self.keep:
                continue
            for module in model.modules():
                module.register_forward_pre_hook(lambda _m, args: self.round(args) if self.active else None)
                module.register_forward_hook(lambda _m, _a, out: self.round(out) if self.active else None)

    @contextlib.contextmanager
    def autocast(self):
        """What the engine's step runs its forward passes under, in place of torch.autocast."""
        self.active = True
        try:
            with _RoundWeights(self) if self._weights else contextlib.nullcontext():
                yield
        finally:
            self.active = False


class _RoundWeights(TorchFunctionMode):
    """Linear and conv layers see their weight and bias bf16-rounded, as autocast casts them."""

    def __init__(self, sim: Bf16Sim) -> None:
        super().__init__()
        self.sim = sim

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _WEIGHTED:
            args = (args[0], *(self.sim.round_weight(a) for a in args[1:3]), *args[3:])
            kwargs = {k: self.sim.round_weight(v) if k in WEIGHT_ARGS else v for k, v in kwargs.items()}
        return func(*args, **kwargs)
