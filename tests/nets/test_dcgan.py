import pytest
import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.dcgan import DCGANDiscriminator, DCGANGenerator


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_exact_parameter_counts_of_the_seed():
    assert _count(DCGANGenerator(latent_dim=100, width=64)) == 3_576_704
    assert _count(DCGANDiscriminator(width=64)) == 2_765_568


def test_no_biases_anywhere():
    for net in (DCGANGenerator(), DCGANDiscriminator()):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                assert m.bias is None


def test_initialisation_statistics():
    torch.manual_seed(0)
    g = DCGANGenerator()
    convs = torch.cat([m.weight.flatten() for m in g.modules()
                       if isinstance(m, nn.ConvTranspose2d)])
    assert abs(convs.mean()) < 1e-3 and abs(convs.std() - 0.02) < 1e-3
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight for m in bns])
    assert abs(scales.mean() - 1) < 5e-3 and abs(scales.std() - 0.02) < 5e-3
    assert all(torch.all(m.bias == 0) for m in bns)


def test_shapes_and_no_batch_norm_on_the_first_discriminator_layer():
    g, d = DCGANGenerator(), DCGANDiscriminator()
    x = g(torch.randn(2, 100))
    assert x.shape == (2, 3, 64, 64) and x.abs().max() <= 1
    assert d(x).shape == (2,)
    assert isinstance(d.net[0], nn.Conv2d) and isinstance(d.net[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3


def test_spectral_norm_replaces_batch_norm():
    d = DCGANDiscriminator(width=8, spectral=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(hasattr(m, "parametrizations") for m in convs)
    d.train()
    for _ in range(20):  # power iteration settles the estimate
        d(torch.randn(2, 3, 64, 64))
    with torch.no_grad():
        w = convs[1].weight.flatten(1)
    assert float(torch.linalg.matrix_norm(w, 2)) == pytest.approx(1.0, abs=0.05)


def test_conditional_variant_depends_on_the_label():
    torch.manual_seed(0)
    g = DCGANGenerator(width=8, num_classes=3, image_size=16)
    d = DCGANDiscriminator(width=8, num_classes=3, image_size=16)
    z = torch.randn(2, 100)
    a, b = g(z, torch.tensor([0, 0])), g(z, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    assert not torch.allclose(d(a, torch.tensor([0, 0])), d(a, torch.tensor([1, 1])))


def test_image_size_must_be_4_times_a_power_of_two():
    with pytest.raises(ConfigError):
        DCGANGenerator(image_size=48)
