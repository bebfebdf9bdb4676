import math

import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.latent.interpolate import interpolator, lerp, slerp


def _angle(u, v):
    return torch.arccos(torch.nn.functional.cosine_similarity(u, v, dim=-1).clamp(-1, 1))


def test_slerp_endpoints_are_exact():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 16, generator=g), torch.randn(5, 16, generator=g)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-6)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-6)


def test_slerp_midpoint_bisects_the_angle_and_keeps_the_norm():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0])
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(), torch.tensor(1.0), atol=1e-6)
    assert math.isclose(_angle(mid, a).item(), math.pi / 4, abs_tol=1e-5)
    assert math.isclose(_angle(mid, b).item(), math.pi / 4, abs_tol=1e-5)
    # a third of the way: a third of the angle
    third = slerp(a, b, 1 / 3)
    assert math.isclose(_angle(third, a).item(), math.pi / 6, abs_tol=1e-5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, 2.0, 3.0])
    for b in (2 * a, a.clone(), a * (1 + 1e-9)):
        out = slerp(a, b, 0.3)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, lerp(a, b, 0.3), atol=1e-5)


def test_slerp_of_antiparallel_and_zero_vectors_stays_finite():
    a = torch.tensor([1.0, 0.0])
    assert torch.isfinite(slerp(a, -a, 0.5)).all()
    assert torch.isfinite(slerp(torch.zeros(2), a, 0.5)).all()


def test_weights_broadcast_to_a_grid():
    a, b = torch.randn(4, 1, 8), torch.randn(4, 1, 8)
    w = torch.linspace(0.4, 0.7, 8)[None, :]
    out = slerp(a, b, w)
    assert out.shape == (4, 8, 8)
    assert torch.allclose(out[2, 5], slerp(a[2, 0], b[2, 0], w[0, 5].item()), atol=1e-6)


def test_lerp_values():
    assert torch.allclose(lerp(torch.zeros(2), torch.ones(2), 0.25), torch.full((2,), 0.25))


def test_unknown_method():
    with pytest.raises(ConfigError, match="valid choices"):
        interpolator("cubic")
