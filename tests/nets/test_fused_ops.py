"""The exact rewrites against their plain forms: values, gradients, and the double backward."""
import torch

from pegasus_lab.methods.penalties import gradient_penalty
from pegasus_lab.nets.fused_ops import (ConvMeanPool, UpsampleConv, conv3x3_meanpool_kernel,
                                        upsample_conv3x3_kernel)
from pegasus_lab.nets.resnet_gan import ResNetCritic, ResNetGenerator


def _same_function(layer, x_shape, out_shape):
    """The plain and the fused form of `layer` from the same parameters, in float64: values
    and gradients (input, weight, bias) agree."""
    plain = layer(fused=False).double()
    fused = layer(fused=True).double()
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(*x_shape, dtype=torch.float64, requires_grad=True)
    a, b = plain(x), fused(x)
    assert a.shape == b.shape == out_shape
    assert torch.allclose(a, b, atol=1e-12)
    g = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x, plain.conv.weight, plain.conv.bias], g)
    gb = torch.autograd.grad(b, [x, fused.conv.weight, fused.conv.bias], g)
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-10)


def test_conv_meanpool_as_one_strided_conv():
    torch.manual_seed(0)
    _same_function(lambda fused: ConvMeanPool(5, 7, fused), (3, 5, 16, 16), (3, 7, 8, 8))


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


def test_upsample_conv_as_one_transposed_conv():
    torch.manual_seed(2)
    _same_function(lambda fused: UpsampleConv(5, 7, fused), (3, 5, 6, 9),  # not square
                   (3, 7, 12, 18))


def test_upsample_conv_double_backward_matches():
    torch.manual_seed(3)
    plain = UpsampleConv(4, 4, fused=False).double()
    fused = UpsampleConv(4, 4, fused=True).double()
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    grads = []
    for layer in (plain, fused):
        xi = x.clone().requires_grad_(True)
        gx, = torch.autograd.grad(layer(xi).tanh().sum(), xi, create_graph=True)
        grads.append(torch.autograd.grad(gx.pow(2).sum(), [layer.conv.weight, xi]))
    for u, v in zip(*grads):
        assert torch.allclose(u, v, atol=1e-10)


def test_generator_images_match_with_the_rewrite():
    torch.manual_seed(4)
    plain = ResNetGenerator(latent_dim=8, width=8, num_classes=3, image_size=32).double()
    fused = ResNetGenerator(latent_dim=8, width=8, num_classes=3, image_size=32,
                            fused_upsample=True).double()
    fused.load_state_dict(plain.state_dict())  # the same parameters either way
    z, y = torch.randn(5, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    a, b = plain(z, y), fused(z, y)
    assert torch.allclose(a, b, atol=1e-12)
    ga = torch.autograd.grad(a.pow(2).sum(), list(plain.parameters()))
    gb = torch.autograd.grad(b.pow(2).sum(), list(fused.parameters()))
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-10)


def test_the_rewrite_kernels_follow_their_definitions():
    """Spot checks of the kernel maps on a one-hot 3×3 kernel."""
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 0, 2] = 1.0  # top-right tap
    up = upsample_conv3x3_kernel(w)[0, 0]
    # kernel row 0 touches the upsampled row above: for even output rows that is input row
    # i−1 (transposed tap 3), for odd rows input row i (tap 2); column 2, the one to the right:
    # input column j+1 for odd output columns (tap 0), column j for even ones (tap 1)
    assert up.nonzero().tolist() == [[2, 0], [2, 1], [3, 0], [3, 1]]
    down = conv3x3_meanpool_kernel(w)[0, 0]
    assert down.sum() == 1.0 and down[0, 2:].tolist() == [0.25, 0.25]
