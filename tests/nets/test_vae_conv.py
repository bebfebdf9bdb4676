import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.vae_conv import ConvDecoder, ConvEncoder


def _params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("size,channels", [(32, 3), (64, 3), (16, 1)])
def test_shapes(size, channels):
    enc = ConvEncoder(channels, size, latent_dim=10, width=8, hidden_dim=32)
    dec = ConvDecoder(channels, size, latent_dim=10, width=8, hidden_dim=32)
    mu, logvar = enc(torch.rand(3, channels, size, size))
    assert mu.shape == logvar.shape == (3, 10)
    out = dec(mu)
    assert out.shape == (3, channels, size, size)
    assert 0 <= out.min() and out.max() <= 1


def test_layer_structure_is_the_papers():
    enc, dec = ConvEncoder(), ConvDecoder()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in enc.modules()) == 4
    assert sum(isinstance(m, torch.nn.Linear) for m in enc.modules()) == 4
    assert sum(isinstance(m, torch.nn.Linear) for m in dec.modules()) == 4
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in dec.modules()) == 4
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules()) == 4
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in dec.modules()) == 3


def test_parameter_counts_follow_the_widths():
    # encoder, width 8, 32², hidden 32, latent 10 — counted by hand:
    convs = (3 * 8 * 16) + (8 * 16 * 16) + (16 * 32 * 16) + (32 * 64 * 16)  # 4×4, no bias
    bns = 2 * (8 + 16 + 32 + 64)
    fcs = (64 * 2 * 2 * 32 + 32) + (32 * 32 + 32) + 2 * (32 * 10 + 10)
    assert _params(ConvEncoder(3, 32, 10, 8, 32)) == convs + bns + fcs


def test_image_size_must_be_a_multiple_of_16():
    with pytest.raises(ConfigError, match="multiple of 16"):
        ConvEncoder(image_size=28)
