"""Layer normalisation of image feature maps: each sample normalised over all its channels and
pixels, then a per-channel scale and shift (paper-2's critic; `GroupNorm(1, C)` is the same
function).

Two ways to compute it, the same function from the same parameters (`weight`, `bias`, as
GroupNorm names them, so checkpoints do not depend on the choice):
- plain: `group_norm` with one group, differentiated by PyTorch.
- fused (`speed.fused_norms`): torch's layer_norm kernels on the sample's values in memory
  order — (C, H, W) for NCHW, (H, W, C) through a permuted view for channels_last, so
  channels_last input is read as it lies (on CUDA group_norm copies it to NCHW) — with a
  double backward written out here.

Why the second: the WGAN-GP gradient penalty differentiates the critic twice. Under its
create_graph, PyTorch computes group_norm's backward as a composite of elementwise ops and
reductions, and differentiates that composite again (layer_norm's own double backward is a
composite too): 23 + 62 operators per layer, against 1 + 35 here, where the backward is the one
layer_norm backward kernel and its derivative the closed form below (counted on the CPU,
tests/nets/test_layer_norm.py). In paper-2 the norms' operators are about half of all an
iteration runs (bench.flops counts them), each a kernel on a GPU. The tests also check values,
gradients and double backward against group_norm in float64, and gradgradcheck.

The closed form. Per sample, ⟨·⟩ the mean over its D normalised values, x̂ = (x − μ)·r with
r = (σ² + ε)^−½, y = x̂ ⊙ w + b. The backward of y, given gy: with g = gy ⊙ w,
    gx = r·P(g),  P(u) = u − ⟨u⟩ − x̂⟨u x̂⟩,   gw = Σₙ gy ⊙ x̂,   gb = Σₙ gy.
Its derivative, given the gradients v, vw, vb of gx, gw, gb:
    for gy:  w ⊙ r·P(v) + vw ⊙ x̂ + vb
    for w:   Σₙ gy ⊙ r·P(v)
    for x:   r·(P(G) − x̂⟨v ⊙ gx⟩),  G = −r(⟨v x̂⟩ g + ⟨g x̂⟩ v) + vw ⊙ gy
(G is the gradient with respect to x̂ at fixed r; the chain through x̂ = (x − μ)·r gives r·P(G);
the last term is the path through r, ∂r/∂x = −r² x̂ / D.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _mean(t: torch.Tensor) -> torch.Tensor:
    """Each sample's mean over its normalised values, kept as (N, 1, …)."""
    return t.mean(dim=tuple(range(1, t.ndim)), keepdim=True)


class _LayerNormBackward(torch.autograd.Function):
    """gx, gw, gb of layer_norm (torch's kernel), with the double backward in closed form."""

    @staticmethod
    def forward(ctx, gy, x, weight, bias, mean, rstd, mask):
        gx, gw, gb = torch.ops.aten.native_layer_norm_backward(
            gy, x, x.shape[1:], mean, rstd, weight, bias, list(mask))
        ctx.save_for_backward(gy, x, weight, mean, rstd, gx)
        ctx.set_materialize_grads(False)
        return gx, gw, gb

    @staticmethod
    def backward(ctx, v, vw, vb):
        gy, x, weight, mean, rstd, gx = ctx.saved_tensors
        r, nr = rstd, -rstd
        xhat = torch.addcmul(mean * nr, x, r)
        ggy = gw = gxx = None
        if v is not None:
            v_mean, vx_mean = _mean(v), _mean(v * xhat)
            alpha = nr * vx_mean
            rpv = torch.addcmul(torch.addcmul(nr * v_mean, v, r), xhat, alpha)  # r·P(v)
            ggy = rpv * weight
            gw = (rpv * gy).sum(0)
            g = gy * weight
            g_mean, gx_hat_mean, v_gx_mean = _mean(g), _mean(g * xhat), _mean(v * gx)
            # G = α·g + β·v, so ⟨G⟩ and ⟨G x̂⟩ (= 2α⟨g x̂⟩) follow from the means taken
            beta = nr * gx_hat_mean
            G_mean = torch.addcmul(alpha * g_mean, beta, v_mean)
            G_xhat_mean_plus = torch.addcmul(v_gx_mean, alpha, gx_hat_mean, value=2.0)
            gxx = torch.addcmul(torch.addcmul(nr * G_mean, g, r * alpha), v, r * beta)
            gxx = torch.addcmul(gxx, xhat, nr * G_xhat_mean_plus)
        if vw is not None:  # gw = Σₙ gy ⊙ x̂: its part of G is vw ⊙ gy (P is linear)
            ggy = vw * xhat if ggy is None else torch.addcmul(ggy, vw, xhat)
            H = vw * gy
            rph = torch.addcmul(r * (H - _mean(H)), xhat, -r * _mean(H * xhat))
            gxx = rph if gxx is None else gxx + rph
        if vb is not None:
            ggy = vb.expand_as(gy) if ggy is None else ggy + vb
        return ggy, gxx, gw, None, None, None, None


class _LayerNorm(torch.autograd.Function):
    """layer_norm over all but the first dimension; `weight`, `bias` of that shape."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        out, mean, rstd = torch.native_layer_norm(x, x.shape[1:], weight, bias, eps)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        return out

    @staticmethod
    def backward(ctx, gy):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        mask = tuple(ctx.needs_input_grad[:3])
        if torch.is_grad_enabled():  # create_graph: the backward itself is differentiated
            gx, gw, gb = _LayerNormBackward.apply(gy, x, weight, bias, mean, rstd, mask)
        else:
            gx, gw, gb = torch.ops.aten.native_layer_norm_backward(
                gy, x, x.shape[1:], mean, rstd, weight, bias, list(mask))
        return gx, gw, gb, None


class LayerNorm2d(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5, fused: bool = False) -> None:
        super().__init__()
        self.eps, self.fused = eps, fused
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # inside torch.func transforms (a compiled critic step), the plain form: the compiler
        # fuses its derivatives itself, and a hand-written double backward is not a transform
        if self.fused and not torch._C._are_functorch_transforms_active():
            return self.rewritten(x)
        return self.plain(x)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)

    def rewritten(self, x: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        if torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind):
            x = x.float()  # autocast runs group_norm and layer_norm in float32 too
        if x.ndim == 4 and not x.is_contiguous() and \
                x.is_contiguous(memory_format=torch.channels_last):
            h = x.permute(0, 2, 3, 1)  # (N, H, W, C): each sample's values contiguous
            shape = h.shape[1:]
            out = _LayerNorm.apply(h, self.weight.expand(shape), self.bias.expand(shape),
                                   self.eps)
            return out.permute(0, 3, 1, 2)
        shape = x.shape[1:]
        extra = (None,) * (x.ndim - 2)
        return _LayerNorm.apply(x, self.weight[(..., *extra)].expand(shape),
                                self.bias[(..., *extra)].expand(shape), self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}, fused={self.fused}"
