"""Every network refuses a zero or negative size, or a switch that is not true or false, at
construction, naming itself and the setting."""
import inspect

import pytest

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets import dcgan, resnet_gan, study_gan, study_vae, vae_conv, vaegan

NETWORKS = [dcgan.DCGANGenerator, dcgan.DCGANDiscriminator, resnet_gan.ResNetGenerator,
            resnet_gan.ResNetCritic, study_gan.StudyGenerator, study_gan.StudyDiscriminator,
            study_vae.StudyEncoder, study_vae.StudyDecoder, vae_conv.ConvEncoder,
            vae_conv.ConvDecoder, vaegan.VaeGanEncoder, vaegan.VaeGanDecoder,
            vaegan.VaeGanDiscriminator]
SIZES = ("latent_dim", "width", "hidden_dim", "in_channels", "out_channels")


def _cases():
    for net in NETWORKS:
        params = inspect.signature(net).parameters
        for name in SIZES:
            if name in params:
                yield pytest.param(net, name, 0, id=f"{net.__name__}-{name}")
        if "num_classes" in params:
            yield pytest.param(net, "num_classes", -1, id=f"{net.__name__}-num_classes")


@pytest.mark.parametrize("net,name,value", list(_cases()))
def test_a_bad_size_is_one_config_error(net, name, value):
    with pytest.raises(ConfigError, match=rf"^{net.__name__}: {name} must be .*got {value}$"):
        net(**{name: value})


def _switches():
    for net in NETWORKS:
        for name, param in inspect.signature(net).parameters.items():
            if param.annotation in (bool, "bool"):
                yield pytest.param(net, name, id=f"{net.__name__}-{name}")


SWITCHES = list(_switches())


def test_every_switch_of_a_network_is_found():
    assert {f"{net.__name__}.{name}" for net, name in (p.values for p in SWITCHES)} == {
        "DCGANDiscriminator.spectral", "ResNetGenerator.fused_upsample",
        "ResNetCritic.fused_downsample", "ResNetCritic.fused_norm",
        "StudyDiscriminator.batch_norm"}


@pytest.mark.parametrize("net,name", SWITCHES)
def test_a_switch_that_is_not_true_or_false_is_one_config_error(net, name):
    """`model.discriminator.spectral=flase` is text to Hydra: it would have counted as on."""
    with pytest.raises(ConfigError, match=rf"^{net.__name__}: {name} must be true or false, "
                                          r"got 'flase'$"):
        net(**{name: "flase"})
