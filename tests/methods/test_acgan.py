"""AC-GAN's own settings (its training runs are covered by the paper-4 config tests)."""
import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.acgan import ACGAN
from pegasus_lab.nets.study_gan import StudyDiscriminator, StudyGenerator


def _model(**kw):
    adam = lambda params: torch.optim.Adam(params, lr=2e-4)
    return ACGAN(StudyGenerator(latent_dim=8, width=8, image_size=16, num_classes=4),
                 StudyDiscriminator(width=8, image_size=16, num_classes=4), adam, adam, **kw)


def test_builds_with_a_positive_batch_factor():
    assert _model(generator_batch_factor=3).generator_batch_factor == 3


@pytest.mark.parametrize("factor", [0, -1, 1.5])
def test_a_batch_factor_that_is_not_a_positive_integer_is_refused(factor):
    with pytest.raises(ConfigError, match="^generator_batch_factor must be a positive integer"):
        _model(generator_batch_factor=factor)
