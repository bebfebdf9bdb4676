"""What each sampling figure needs of a model, said in one error naming the model's method."""
import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.figures.sampling import class_grid, critic_picks, latent_walk, random_grid
from pegasus_lab.metrics.generated import generated_uint8
from tests.conftest import compose_config, smoke


def _model(name, tmp_path):
    return instantiate(compose_config("train", smoke(name), tmp_path).model)


@pytest.mark.parametrize("model,name", [("vae_conv", "VAE"), ("study_gan", "GAN")])
def test_a_class_grid_needs_a_model_that_takes_a_class(tmp_path, model, name):
    """study_gan runs on AC-GAN's class, without classes: the error names the GAN."""
    with pytest.raises(ConfigError, match=rf"^a class grid draws a row per class, and the "
                                          rf"{name} takes no class \(a class-conditional model "
                                          r"does; mode=grid draws this one's samples\)$"):
        class_grid(_model(model, tmp_path), per_class=2)
    grid, per_class = class_grid(_model("study_acgan", tmp_path), per_class=2)  # 4 classes
    assert grid.shape[0] == 8 and per_class == 2


def test_critic_picks_need_a_model_with_a_critic(tmp_path):
    with pytest.raises(ConfigError, match=r"^picking by critic needs a model with a critic or "
                                          r"discriminator, and the conditional VAE has none "
                                          r"\(mode=grid draws this one's samples\)$"):
        critic_picks(_model("study_cvae", tmp_path), num=2, candidates=4)


class _Recorder(torch.nn.Module):
    """A stand-in generator that keeps the latents it is given (and a critic that rates)."""
    latent_dim, device, method_name = 6, torch.device("cpu"), "stand-in"

    def __init__(self, num_classes=0):
        super().__init__()
        self.num_classes, self.latents = num_classes, []

    def generate(self, z, labels=None):
        self.latents.append(z.clone())
        return torch.zeros(len(z), 3, 4, 4)

    def to_unit(self, images):
        return images

    def realness(self, images, labels=None):
        return torch.arange(len(images), dtype=torch.float32)


DRAWS = {
    "grid": lambda m, t: random_grid(m, 200, truncation=t),
    "class_grid": lambda m, t: class_grid(m, 50, truncation=t),
    "walk": lambda m, t: latent_walk(m, 40, 5, "lerp", truncation=t),
    "critic_picks": lambda m, t: critic_picks(m, 4, 200, chunk=64, truncation=t),
    "evaluation": lambda m, t: list(generated_uint8(m, 200, 64, truncation=t)),
}


@pytest.mark.parametrize("draw", DRAWS)
def test_every_draw_of_latents_takes_the_truncation(draw):
    model = _Recorder(num_classes=4)
    DRAWS[draw](model, 0.3)
    truncated = torch.cat(model.latents)
    assert len(truncated) >= 200 and truncated.abs().max() <= 0.3
    model.latents.clear()
    DRAWS[draw](model, None)  # untruncated: 1,200 normal draws reach far beyond 0.3
    assert torch.cat(model.latents).abs().max() > 2
