import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.callbacks.interpolation_grid import InterpolationGrid
from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.errors import ConfigError, DataError
from pegasus_lab.latent.pair_grid import (PairGridSpec, choose, pair_interpolation,
                                         require_image_encoder, select_images)
from pegasus_lab.methods.vae import VAE
from pegasus_lab.nets.vae_conv import ConvDecoder, ConvEncoder
from tests.conftest import compose_config, smoke


def _tiny_vae():
    kw = dict(image_size=16, latent_dim=4, width=4, hidden_dim=8)
    return VAE(ConvEncoder(**kw), ConvDecoder(**kw), optimizer=torch.optim.Adam)


def test_choose_is_seeded_distinct_and_checks_given_indices():
    a = choose(21, 8, None, seed=0, what="bird")
    assert len(set(a.tolist())) == 8 and np.array_equal(a, choose(21, 8, None, 0, "bird"))
    assert choose(21, 2, [3, 20], 0, "bird").tolist() == [3, 20]
    with pytest.raises(ConfigError, match="out of range"):
        choose(21, 2, [3, 21], 0, "bird")
    with pytest.raises(DataError, match="asked for 30"):
        choose(21, 30, None, 0, "bird")


@pytest.mark.parametrize("setting,says", [
    ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
    ({"seed": "7"}, "seed must be an integer from 0 to 4294967295, got '7'"),
    ({"from_count": 0}, "from_count must be a positive integer, got 0"),
    ({"to_count": 2.5}, "to_count must be a positive integer, got 2.5"),
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"from_indices": [1, -2]}, "each of from_indices must be 0 or a positive integer, got -2"),
    ({"start": "abc"}, "start must be a finite number, got 'abc'"),
    ({"stop": float("inf")}, "stop must be a finite number, got inf"),
    ({"method": "cubic"}, "method: unknown interpolation 'cubic'; valid choices"),
    ({"to_class": ["bird"]}, "to_class must be a class name, got ['bird']"),
])
def test_a_bad_setting_is_said_when_the_spec_is_built(setting, says):
    """Built before training (the figure of every few epochs): said then, not when the first
    figure is due."""
    with pytest.raises(ConfigError) as err:
        PairGridSpec(**setting)
    assert str(err.value).startswith(f"interpolation: {says}")


def test_class_names_given_as_numbers_are_taken_as_their_digits():
    spec = PairGridSpec(from_class=3, to_class="8")
    assert (spec.from_class, spec.to_class) == ("3", "8")


def test_a_class_the_data_lacks_names_the_setting_that_gave_it(cifar_mini):
    dm = ImageDataModule(ImageFolderSource(cifar_mini), image_size=16, batch_size=8,
                         num_workers=0)
    dm.setup("fit")
    with pytest.raises(DataError, match=r"^interpolation: to_class: unknown class 'cat'; valid "
                                        r"choices: \['airplane', 'bird', 'horse'\]"):
        select_images(dm, PairGridSpec(to_class="cat"))


@pytest.mark.parametrize("model,says", [
    ("acwgan_gp", "it needs a model with an encoder (a VAE or the VAE-GAN), and the "
                  "AC-WGAN-GP has none (pegasus-sample mode=walk interpolates between its "
                  "random latents)"),
    ("study_gan", "and the GAN has none"),  # AC-GAN's class, without classes
    ("study_cvae", "decodes blends of two classes' latents: the conditional VAE decodes each "
                   "latent with one of its 4 classes"),
])
def test_the_grid_needs_an_encoder_without_classes(tmp_path, model, says):
    """A GAN has no encoder, and a conditional VAE no one class for a blend: each was a
    traceback (AttributeError, ValueError) in pegasus-sample, and in training at the first
    figure; now one error, before any image is read or step trained."""
    require_image_encoder(_tiny_vae(), "mode=interpolate")  # the VAE it is made for
    network = instantiate(compose_config("train", smoke(model), tmp_path).model)
    with pytest.raises(ConfigError) as err:
        require_image_encoder(network, "mode=interpolate")
    assert str(err.value).startswith("mode=interpolate ") and says in str(err.value)
    with pytest.raises(ConfigError, match=r"^the interpolation grid \(callbacks"):
        InterpolationGrid({}).on_train_start(None, network)
    images = torch.zeros(2, 3, 16, 16)  # and a library caller of the grid itself
    with pytest.raises(ConfigError, match=r"^pair_interpolation "):
        pair_interpolation(network, images, images, torch.linspace(0, 1, 3))


def test_the_training_figure_says_a_key_its_spec_does_not_take():
    with pytest.raises(ConfigError, match="^interpolation: PairGridSpec.__init__.. got an "
                                          "unexpected keyword argument 'step'; did you mean "
                                          "interpolation.steps"):
        InterpolationGrid({"step": 8})


def test_paper1_grid_shape_and_endpoint_behaviour(cifar_mini):
    dm = ImageDataModule(ImageFolderSource(cifar_mini), image_size=16, batch_size=8,
                         num_workers=0)
    dm.setup("fit")
    spec = PairGridSpec()  # 8 horses, 21 birds, μ = linspace(0.4, 0.7, 8)
    horses, birds = select_images(dm, spec)
    assert horses.shape == (8, 3, 16, 16) and birds.shape == (21, 3, 16, 16)
    model = _tiny_vae()
    images, partners = pair_interpolation(model, horses, birds, spec.weights(), "slerp", 0)
    assert images.shape == (64, 3, 16, 16)
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert partners.shape == (8,) and partners.max() < 21
    # weight 0 decodes the horse's own posterior mean; weight 1 the partner bird's
    ends, _ = pair_interpolation(model, horses, birds, torch.tensor([0.0, 1.0]), "slerp", 0)
    with torch.no_grad():
        model.eval()
        assert torch.allclose(ends[0::2], model.reconstruct(horses), atol=1e-5)
        assert torch.allclose(ends[1::2], model.reconstruct(birds[partners]), atol=1e-5)


def test_given_indices_pick_those_images(cifar_mini):
    dm = ImageDataModule(ImageFolderSource(cifar_mini), image_size=16, batch_size=8,
                         num_workers=0)
    dm.setup("fit")
    spec = PairGridSpec(from_count=2, from_indices=[0, 5], to_count=1, to_indices=[4])
    horses, birds = select_images(dm, spec)
    expected, _ = dm.uint8_images(dm.class_indices("horse")[[0, 5]])
    assert torch.allclose(horses, expected.float() / 255)
    assert birds.shape[0] == 1
