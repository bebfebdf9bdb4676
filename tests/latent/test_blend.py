import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.latent.blend import blend


def test_lerp_blend_is_065_body_035_wing():
    body, wing = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.0, 1.0, -2.0]])
    assert torch.allclose(blend(body, wing), torch.tensor([[0.65, 0.35, 0.6]]))
    assert torch.allclose(blend(body, wing, 1.0), body)
    assert torch.allclose(blend(body, wing, 0.0), wing)


def test_slerp_blend_keeps_the_weights_meaning():
    body, wing = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    out = blend(body, wing, 0.65, method="slerp")
    angle = torch.atan2(out[1], out[0])
    assert angle.item() == pytest.approx(0.35 * torch.pi / 2, abs=1e-5)


@pytest.mark.parametrize("weight", [1.5, -0.1, "0.5", float("nan")])
def test_weight_out_of_range(weight):
    with pytest.raises(ConfigError, match=r"body_weight must be a finite number in \[0.0, 1.0\]"):
        blend(torch.zeros(2), torch.ones(2), weight)
