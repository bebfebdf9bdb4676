import torch

from pegasus_lab.methods.penalties import gradient_penalty


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
