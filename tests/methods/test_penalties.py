import torch

from pegasus_lab.methods.penalties import gradient_penalty, r1_penalty
from tests.helpers import CopyRecorder


def test_penalty_of_a_linear_critic_is_computed_by_hand():
    torch.manual_seed(0)
    w = torch.randn(3 * 4 * 4)
    critic = lambda x: x.flatten(1) @ w + 0.3  # ∇ₓD = w everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = (w.norm() - 1) ** 2
    assert torch.allclose(gradient_penalty(critic, real, fake), expected, rtol=1e-5)


def test_penalty_uses_the_interpolates_and_is_differentiable_twice():
    lin = torch.nn.Linear(4, 1)
    critic = lambda x: (lin(x) ** 2).squeeze(1)  # gradient depends on x: 2·lin(x)·w
    real, fake = torch.zeros(2, 4), torch.ones(2, 4)
    alpha = torch.tensor([[0.25], [0.75]])
    gp = gradient_penalty(critic, real, fake, alpha)
    mixed = real + alpha * (fake - real)
    slopes = (2 * lin(mixed) * lin.weight).norm(dim=1)
    assert torch.allclose(gp, ((slopes - 1) ** 2).mean(), atol=1e-6)
    gp.backward()  # the double backward reaches the critic's weights
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_the_functional_penalty_is_the_autograd_one():
    # inside torch.func transforms (the compiled critic update): the same value and gradients
    torch.manual_seed(1)
    critic = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 4 * 4, 1, bias=False)).double()
    real, fake = torch.randn(3, 3, 6, 6).double(), torch.randn(3, 3, 6, 6).double()
    alpha = torch.rand(3, 1, 1, 1).double()
    params = {k: p.detach() for k, p in critic.named_parameters()}

    def penalty(p):
        call = lambda x: torch.func.functional_call(critic, p, (x,)).squeeze(1)
        return gradient_penalty(call, real, fake, alpha, functional=True)

    expected = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, alpha)
    assert torch.allclose(penalty(params), expected, atol=1e-12)
    grads = torch.func.grad(penalty)(params)
    for (name, p), g in zip(critic.named_parameters(),
                            torch.autograd.grad(expected, list(critic.parameters()))):
        assert torch.allclose(grads[name], g, atol=1e-10), name


def test_penalty_of_channels_last_images_copies_nothing_and_matches_nchw():
    # speed.channels_last: the input gradient comes out NHWC; the slopes must not copy it
    # into NCHW order (flatten(1) did, and its backward copied back)
    torch.manual_seed(2)
    conv = torch.nn.Conv2d(3, 4, 3).double()
    real, fake = torch.randn(3, 3, 6, 6).double(), torch.randn(3, 3, 6, 6).double()
    alpha = torch.rand(3, 1, 1, 1).double()
    expected = gradient_penalty(lambda x: torch.tanh(conv(x)).mean((1, 2, 3)), real, fake,
                                alpha)
    grads = torch.autograd.grad(expected, list(conv.parameters()))
    conv = conv.to(memory_format=torch.channels_last)
    nhwc = [t.contiguous(memory_format=torch.channels_last) for t in (real, fake)]
    with CopyRecorder() as recorder:
        gp = gradient_penalty(lambda x: torch.tanh(conv(x)).mean((1, 2, 3)), *nhwc, alpha)
        nhwc_grads = torch.autograd.grad(gp, list(conv.parameters()))
    assert recorder.copies == []
    assert torch.allclose(gp, expected, atol=1e-12)
    for g, h in zip(nhwc_grads, grads):
        assert torch.allclose(g, h, atol=1e-10)


def test_r1_is_the_squared_input_gradient_of_the_real_scores_and_differentiable_twice():
    lin = torch.nn.Linear(4, 1)
    real = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 3.0]], requires_grad=True)
    logits = (lin(real) ** 2).squeeze(1)  # ∇ₓ = 2·lin(x)·w, per image
    by_hand = ((2 * lin(real) * lin.weight).pow(2).sum(dim=1)).mean()
    penalty = r1_penalty(logits, real)
    assert torch.allclose(penalty, by_hand, atol=1e-6)
    penalty.backward()  # the double backward reaches the discriminator's weights
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
