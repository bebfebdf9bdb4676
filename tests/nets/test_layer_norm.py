"""LayerNorm2d: its fused form (torch's layer_norm on the sample's values in memory order) is
the plain form (group_norm with one group) — values, gradients and the gradient penalty's
double backward, in both memory layouts — and it is what makes the penalty's backward cheaper."""
import pytest
import torch

from bench.flops import FlopCount
from pegasus_lab.methods.penalties import gradient_penalty
from pegasus_lab.nets.layer_norm import LayerNorm2d
from pegasus_lab.nets.resnet_gan import ResNetCritic

LAYOUTS = [torch.contiguous_format, torch.channels_last]


def _pair(channels):
    plain = LayerNorm2d(channels).double()
    with torch.no_grad():
        plain.weight.normal_(1.0, 0.5)
        plain.bias.normal_(0.0, 0.5)
    fused = LayerNorm2d(channels, fused=True).double()
    fused.load_state_dict(plain.state_dict())
    return plain, fused


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_same_function_values_and_gradients(layout):
    torch.manual_seed(0)
    plain, fused = _pair(5)
    x = (torch.randn(3, 5, 6, 7, dtype=torch.float64) * 3 + 1).to(memory_format=layout)
    x.requires_grad_(True)
    a, b = plain(x), fused(x)
    assert torch.allclose(a, b, atol=1e-12)
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x, plain.weight, plain.bias], g)
    gb = torch.autograd.grad(b, [x, fused.weight, fused.bias], g)
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_same_double_backward(layout):
    torch.manual_seed(1)
    plain, fused = _pair(4)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64).to(memory_format=layout)
    grads = []
    for norm in (plain, fused):
        xi = x.detach().clone().requires_grad_(True)
        gx, = torch.autograd.grad(norm(xi).tanh().sum(), xi, create_graph=True)
        grads.append(torch.autograd.grad(gx.pow(2).sum(), [xi, norm.weight, norm.bias]))
    for u, v in zip(*grads):
        assert torch.allclose(u, v, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradcheck_and_gradgradcheck(layout):
    # every input and output of the backward: gy, x, weight, bias; gx, gw, gb
    torch.manual_seed(3)
    norm = LayerNorm2d(3, fused=True).double()
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64).to(memory_format=layout)
    x.requires_grad_(True)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def f(x, w, b):
        norm.weight, norm.bias = torch.nn.Parameter(w), torch.nn.Parameter(b)
        return torch.func.functional_call(norm, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))
    # the gradient penalty's case: only the input's gradient is differentiated again
    assert torch.autograd.gradgradcheck(lambda x: f(x, w.detach(), b.detach()), (x,))


def test_channels_last_stays_channels_last():
    norm = LayerNorm2d(8, fused=True)
    x = torch.randn(2, 8, 4, 4).to(memory_format=torch.channels_last)
    y = norm(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.shape == x.shape
    assert norm(torch.randn(2, 8, 4, 4)).is_contiguous()


def test_parameters_are_those_of_group_norm():
    # checkpoints written with torch.nn.GroupNorm(1, C) load, and mean the same
    group = torch.nn.GroupNorm(1, 6).double()
    with torch.no_grad():
        group.weight.normal_()
        group.bias.normal_()
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    for fused in (False, True):
        norm = LayerNorm2d(6, fused=fused).double()
        norm.load_state_dict(group.state_dict())
        assert torch.allclose(norm(x), group(x), atol=1e-12)


def test_critic_penalty_and_its_gradients_match():
    torch.manual_seed(2)
    plain = ResNetCritic(width=8, num_classes=3).double()
    fused = ResNetCritic(width=8, num_classes=3, fused_norm=True).double()
    fused.load_state_dict(plain.state_dict())
    assert all(m.fused for m in fused.modules() if isinstance(m, LayerNorm2d))
    real, fake = torch.randn(4, 3, 32, 32).double(), torch.randn(4, 3, 32, 32).double()
    alpha = torch.rand(4, 1, 1, 1).double()
    results = []
    for critic in (plain, fused):
        gp = gradient_penalty(lambda x: critic(x)[0], real, fake, alpha)
        params = list(critic.parameters())
        grads = torch.autograd.grad(gp, params, allow_unused=True)  # the double backward
        results.append((gp, [torch.zeros_like(p) if g is None else g
                             for p, g in zip(params, grads)]))
    (gp1, g1), (gp2, g2) = results
    assert torch.allclose(gp1, gp2, atol=1e-10)
    for u, v in zip(g1, g2):
        assert torch.allclose(u, v, atol=1e-8)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_penalty_backward_runs_fewer_ops_when_fused(layout):
    # the reason for the rewrite: under create_graph, group_norm's backward is a composite of
    # elementwise ops, and differentiating it many more; fused, the backward is one kernel and
    # its derivative a short closed form
    def ops(norm):
        x = torch.randn(4, 8, 6, 6).to(memory_format=layout).requires_grad_(True)
        y = norm(x).tanh().sum()
        with FlopCount() as backward:
            gx, = torch.autograd.grad(y, x, create_graph=True)
        with FlopCount() as double_backward:
            torch.autograd.grad(gx.pow(2).sum(), [x, *norm.parameters()])
        return backward.ops, double_backward.ops

    # the norm's share: less the test's own ops (tanh, pow, sums) around no norm at all
    test_1, test_2 = ops(torch.nn.Identity())
    plain_1, plain_2 = (n - t for n, t in zip(ops(LayerNorm2d(8)), (test_1, test_2)))
    fused_1, fused_2 = (n - t for n, t in zip(ops(LayerNorm2d(8, fused=True)), (test_1, test_2)))
    # counted with torch 2.14 on the CPU: 23 + 62 plain, 1 + 35 fused
    assert fused_1 < plain_1 and 2 * (fused_1 + fused_2) <= plain_1 + plain_2


def test_inside_torch_func_transforms_the_plain_form_runs():
    # a compiled critic update differentiates with torch.func, which the hand-written double
    # backward is not part of: the fused norm computes the plain form there, the same values
    torch.manual_seed(4)
    plain, fused = _pair(3)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    f = lambda norm: torch.func.grad(lambda t: norm(t).tanh().sum())(x)
    assert torch.allclose(f(fused), f(plain), atol=1e-12)
    gx, = torch.autograd.grad(fused(x.requires_grad_()).tanh().sum(), x)
    assert torch.allclose(f(fused), gx, atol=1e-10)


def test_in_float32_as_accurate_as_the_plain_form():
    # the closed form's per-sample coefficients lose no precision: the penalty's parameter
    # gradients in float32 are as near the float64 ones as group_norm's
    torch.manual_seed(5)
    base = ResNetCritic(width=16, num_classes=0)
    for m in base.modules():
        if isinstance(m, LayerNorm2d):
            with torch.no_grad():
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)
    real, fake = torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)
    alpha = torch.rand(8, 1, 1, 1)

    def grads(dtype, fused):
        critic = ResNetCritic(width=16, num_classes=0, fused_norm=fused).to(dtype)
        critic.load_state_dict(base.state_dict())
        gp = gradient_penalty(lambda x: critic(x)[0], real.to(dtype), fake.to(dtype),
                              alpha.to(dtype))
        params = [p for n, p in critic.named_parameters() if n != "score.bias"]
        return torch.cat([g.flatten() for g in torch.autograd.grad(gp, params)]).double()

    exact = grads(torch.float64, False)
    error = {fused: ((grads(torch.float32, fused) - exact).norm() / exact.norm()).item()
             for fused in (False, True)}
    assert error[True] < 1e-5 and error[True] < 2 * error[False] + 1e-7, error
