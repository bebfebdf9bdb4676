import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.vae import VAE
from pegasus_lab.nets.study_gan import StudyDiscriminator, StudyGenerator
from pegasus_lab.nets.study_vae import StudyDecoder, StudyEncoder


@pytest.mark.parametrize("upsample", ["nearest", "transposed"])
@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
def test_both_upsampling_variants_make_the_right_shape(upsample, size, channels):
    g = StudyGenerator(latent_dim=8, width=8, out_channels=channels, image_size=size,
                       upsample=upsample)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    kinds = {type(m).__name__ for m in g.modules()}
    assert ("ConvTranspose2d" in kinds) == (upsample == "transposed")
    assert ("Upsample" in kinds) == (upsample == "nearest")
    source, classes = StudyDiscriminator(channels, 8, size)(x)
    assert source.shape == (3,) and classes is None


def test_vae_layers_and_two_d_latent():
    enc, dec = StudyEncoder(1, 28, 2, 8), StudyDecoder(1, 28, 2, 8)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in enc.modules()) == 4
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in dec.modules()) == 3
    assert sum(type(m) is torch.nn.Conv2d for m in dec.modules()) == 1
    mu, _ = enc(torch.rand(5, 1, 28, 28))
    assert mu.shape == (5, 2) and dec(mu).shape == (5, 1, 28, 28)


def test_conditional_vae_output_depends_on_the_label():
    torch.manual_seed(0)
    vae = VAE(StudyEncoder(1, 28, 2, 8, num_classes=10), StudyDecoder(1, 28, 2, 8, num_classes=10),
              optimizer=torch.optim.Adam)
    z = torch.randn(4, 2)
    a = vae.generate(z, torch.zeros(4, dtype=torch.long))
    b = vae.generate(z, torch.full((4,), 7))
    assert not torch.allclose(a, b)
    x = torch.rand(4, 1, 28, 28)
    assert not torch.allclose(vae.encode(x, torch.zeros(4, dtype=torch.long))[0],
                              vae.encode(x, torch.ones(4, dtype=torch.long))[0])
    assert vae.losses(x, torch.arange(4))["loss"].isfinite()


def test_acgan_generator_turns_the_label_into_a_latent_sized_vector():
    g = StudyGenerator(latent_dim=8, width=8, image_size=28, num_classes=3)
    assert g.embed.weight.shape == (3, 8)
    z = torch.randn(2, 8)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([2, 2])))
    _, classes = StudyDiscriminator(1, 8, 28, num_classes=3)(torch.rand(2, 1, 28, 28))
    assert classes.shape == (2, 3)


def test_bad_settings():
    with pytest.raises(ConfigError, match="valid choices"):
        StudyGenerator(upsample="bilinear")
    with pytest.raises(ConfigError, match="multiple of 4"):
        StudyEncoder(image_size=30)
