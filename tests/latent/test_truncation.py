"""The truncation trick's latents: within the bound, distributed as the truncated normal, the
untruncated draws unchanged."""
import math
import re

import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.latent.truncation import draw_latents, require_truncation, truncation_label


def _seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_without_truncation_the_draws_are_torch_s_standard_normal_ones():
    """Every figure and evaluation drawn before truncation existed draws the same samples."""
    assert torch.equal(draw_latents(7, 5, _seeded(3)), torch.randn(7, 5, generator=_seeded(3)))


def _truncated_cdf(x, t):
    phi = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    return (phi(x) - phi(-t)) / (phi(t) - phi(-t))


@pytest.mark.parametrize("t", [0.05, 0.5, 1.0, 2.5])
def test_truncated_draws_lie_within_the_bound_and_follow_the_truncated_normal(t):
    z = draw_latents(20_000, 5, _seeded(), t)
    assert z.dtype == torch.float32 and z.shape == (20_000, 5)
    assert z.abs().max() <= t
    flat = z.flatten().double()
    # the empirical CDF against the truncated normal's (Kolmogorov–Smirnov: 100k draws, the
    # statistic's 99.9 % point is 0.006)
    for q in (-0.9, -0.5, -0.1, 0.0, 0.3, 0.7, 0.95):
        x = q * t
        assert abs((flat <= x).double().mean().item() - _truncated_cdf(x, t)) < 0.006
    # its variance: 1 − 2tφ(t) / (2Φ(t) − 1)
    density = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    variance = 1 - 2 * t * density / math.erf(t / math.sqrt(2))
    assert flat.var().item() == pytest.approx(variance, rel=0.03)


def test_truncated_draws_are_seeded_and_a_far_bound_leaves_the_standard_normal():
    assert torch.equal(draw_latents(50, 3, _seeded(1), 0.7), draw_latents(50, 3, _seeded(1), 0.7))
    assert not torch.equal(draw_latents(50, 3, _seeded(1), 0.7),
                           draw_latents(50, 3, _seeded(2), 0.7))
    far = draw_latents(20_000, 5, _seeded(), 60.0)  # Φ(−60) underflows to 0 in float64
    assert torch.isfinite(far).all() and far.std().item() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("value,expected", [(None, None), (1, 1.0), (0.5, 0.5)])
def test_a_truncation_is_a_positive_number_or_null(value, expected):
    assert require_truncation("truncation", value) == expected


@pytest.mark.parametrize("value", [0, -1.0, True, "half", float("inf"), float("nan")])
def test_other_truncations_are_refused(value):
    says = ("truncation must be a positive number (each latent coordinate kept within "
            f"±truncation), or null for none, got {value!r}")
    with pytest.raises(ConfigError, match=f"^{re.escape(says)}$"):
        require_truncation("truncation", value)


def test_names_of_truncated_results_say_their_truncation():
    assert truncation_label(None) == "" and truncation_label(0.5) == "_truncation0.5"
    assert truncation_label(2) == "_truncation2"
