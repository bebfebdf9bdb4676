import pytest
import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.vaegan import VaeGanDecoder, VaeGanDiscriminator, VaeGanEncoder


def _count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def test_layer_structure_is_the_papers():
    enc, dec, dis = VaeGanEncoder(), VaeGanDecoder(), VaeGanDiscriminator()
    assert _count(enc, nn.Conv2d) == 3 and _count(enc, nn.Linear) == 1
    assert _count(dec, nn.Linear) == 1 and _count(dec, nn.ConvTranspose2d) == 3
    assert isinstance(dec.deconvs[-1], nn.Tanh)
    assert _count(dis, nn.Conv2d) == 4 and _count(dis, nn.Linear) == 2


@pytest.mark.parametrize("size", [32, 16, 64])
def test_shapes_and_feature_layer(size):
    enc, dec = VaeGanEncoder(image_size=size, latent_dim=12, width=8), \
        VaeGanDecoder(image_size=size, latent_dim=12, width=8)
    dis = VaeGanDiscriminator(image_size=size, width=8, hidden_dim=16, feature_layer=3)
    x = torch.rand(2, 3, size, size) * 2 - 1
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (2, 12)
    out = dec(mu)
    assert out.shape == x.shape and out.abs().max() <= 1
    logit, features = dis(out)
    assert logit.shape == (2,)
    assert features.shape == (2, 64, size // 4, size // 4)  # after conv 3: 8·width channels
    assert torch.all((dis.probability(x) > 0) & (dis.probability(x) < 1))


def test_bad_sizes_and_layers():
    with pytest.raises(ConfigError, match="multiple of 8"):
        VaeGanEncoder(image_size=28)
    with pytest.raises(ConfigError, match="feature_layer"):
        VaeGanDiscriminator(feature_layer=5)
