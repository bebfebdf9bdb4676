"""What each sampling figure needs of a model, said in one error naming the model's method."""
import pytest
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.figures.sampling import class_grid, critic_picks
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
