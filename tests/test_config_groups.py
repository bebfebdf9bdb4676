"""The configs on disk (pegasus_lab/config_groups.py)."""
import pytest

from pegasus_lab.config_groups import config_dir, group_options, options_with_key
from tests.conftest import CONF


def test_the_repository_s_configs_and_a_group_s_options_without_its_shared_bases():
    assert config_dir() == str(CONF)
    assert "_datamodule" not in group_options("data") and "cifar10" in group_options("data")


@pytest.mark.parametrize("group,key,options", [
    ("model", "generator.upsample", ["study_acgan", "study_acwgan", "study_gan",
                                     "study_gan_transposed", "study_wgan"]),
    ("model", "lr_decay", ["acwgan_gp", "study_acwgan", "study_wgan", "wgan_gp"]),
    ("model", "encoder.zzz", []), ("trainer", "max_epoch", []),
    ("nogroup", "x", []), ("model", "generator.upsample.deeper", []),  # a value, not a block
])
def test_the_options_of_a_group_that_set_a_key_with_the_options_they_build_on(group, key,
                                                                             options):
    assert options_with_key(group, key) == options
