"""The exact rewrites against their plain forms: values, gradients, and the double backward."""
import torch

from pegasus_lab.methods.penalties import gradient_penalty
from pegasus_lab.nets.fused_ops import ConvMeanPool
from pegasus_lab.nets.resnet_gan import ResNetCritic


def test_conv_meanpool_as_one_strided_conv():
    torch.manual_seed(0)
    plain = ConvMeanPool(5, 7, fused=False).double()
    fused = ConvMeanPool(5, 7, fused=True).double()
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(3, 5, 16, 16, dtype=torch.float64, requires_grad=True)
    a, b = plain(x), fused(x)
    assert a.shape == b.shape == (3, 7, 8, 8)
    assert torch.allclose(a, b, atol=1e-12)
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x, plain.conv.weight], g)
    gb = torch.autograd.grad(b, [x, fused.conv.weight], g)
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-10)


def test_critic_scores_and_penalty_gradients_match():
    torch.manual_seed(1)
    plain = ResNetCritic(width=8, num_classes=3, fused_downsample=False).double()
    fused = ResNetCritic(width=8, num_classes=3, fused_downsample=True).double()
    fused.load_state_dict(plain.state_dict())  # the same parameters either way
    real, fake = torch.randn(4, 3, 32, 32).double(), torch.randn(4, 3, 32, 32).double()
    alpha = torch.rand(4, 1, 1, 1).double()
    results = []
    for critic in (plain, fused):
        scores, logits = critic(real)
        gp = gradient_penalty(lambda x: critic(x)[0], real, fake, alpha)
        params = list(critic.parameters())
        grads = torch.autograd.grad(gp, params, allow_unused=True)  # the double backward
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        results.append((scores, logits, gp, grads))
    (s1, l1, gp1, g1), (s2, l2, gp2, g2) = results
    assert torch.allclose(s1, s2, atol=1e-10) and torch.allclose(l1, l2, atol=1e-10)
    assert torch.allclose(gp1, gp2, atol=1e-10)
    for u, v in zip(g1, g2):
        assert torch.allclose(u, v, atol=1e-8)
