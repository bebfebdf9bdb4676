"""The user-error helpers: integer settings checked against their range, and the errors found
in a cause chain (Hydra wraps what a constructor raises, and says what it could not build)."""
import functools

import pytest
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import OmegaConf

from pegasus_lab.errors import (ConfigError, arguments_misfit, closest_argument, find_user_error,
                                require_int, require_number, require_seed, require_weight)


@pytest.mark.parametrize("least,most,value", [(1, None, 1), (0, None, 0), (2, None, 50000),
                                              (1, 65535, 65535)])
def test_require_int_returns_a_value_in_range(least, most, value):
    assert require_int("n", value, least, most) == value


@pytest.mark.parametrize("least,most,value,says", [
    (1, None, 0, "n must be a positive integer, got 0"),
    (1, None, 2.0, "n must be a positive integer, got 2.0"),
    (1, None, True, "n must be a positive integer, got True"),
    (1, None, "8", "n must be a positive integer, got '8'"),
    (0, None, -1, "n must be 0 or a positive integer, got -1"),
    (2, None, 1, "n must be an integer of at least 2, got 1"),
    (1, 65535, 65536, "n must be an integer from 1 to 65535, got 65536"),
])
def test_require_int_names_the_key_and_its_range(least, most, value, says):
    with pytest.raises(ConfigError) as err:
        require_int("n", value, least, most, where="")
    assert str(err.value) == says


def test_require_int_says_where():
    with pytest.raises(ConfigError, match="^Net: width must"):
        require_int("width", 0, where="Net: ")


@pytest.mark.parametrize("value", [0, 12345, 2**32 - 1])
def test_a_seed_numpy_and_torch_both_take(value):
    assert require_seed("seed", value) == value


@pytest.mark.parametrize("value", [-1, 2**32, 1.5, "abc", None, True])
def test_what_is_no_seed_is_refused(value):
    with pytest.raises(ConfigError) as err:
        require_seed("seed", value)
    assert str(err.value) == f"seed must be an integer from 0 to 4294967295, got {value!r}"


@pytest.mark.parametrize("least,most,value,says", [
    (None, None, "x", "r must be a finite number, got 'x'"),
    (None, None, float("nan"), "r must be a finite number, got nan"),
    (0.0, 1.0, 1.5, "r must be a finite number in [0.0, 1.0], got 1.5"),
    (0.0, None, -1, "r must be a finite number of at least 0.0, got -1"),
    (None, 2.0, 3, "r must be a finite number of at most 2.0, got 3"),
    (None, None, True, "r must be a finite number, got True"),
])
def test_require_number_names_the_key_and_its_bounds(least, most, value, says):
    with pytest.raises(ConfigError) as err:
        require_number("r", value, least=least, most=most)
    assert str(err.value) == says
    assert require_number("r", 1, least=least, most=2.0) == 1.0 and \
        isinstance(require_number("r", 1), float)


@pytest.mark.parametrize("value", [0, 0.0, 1e-3, 10])
def test_require_weight_returns_a_float(value):
    assert require_weight("w", value) == float(value)
    assert isinstance(require_weight("w", value), float)


@pytest.mark.parametrize("value", [-1, -1e-9, float("nan"), float("inf"), True, "1.0", None])
def test_require_weight_refuses_what_is_no_weight(value):
    with pytest.raises(ConfigError) as err:
        require_weight("gp_weight", value, where="WGAN: ")
    assert str(err.value) == f"WGAN: gp_weight must be a finite number of at least 0, got {value!r}"


def test_lightning_misconfiguration_in_a_cause_chain_is_a_user_error():
    try:
        try:
            raise MisconfigurationException("`max_epochs` must be a non-negative integer")
        except MisconfigurationException as inner:
            raise RuntimeError("Error in call to target 'Trainer'") from inner
    except RuntimeError as outer:
        found = find_user_error(outer)
    assert isinstance(found, ConfigError) and "`max_epochs` must be" in str(found)
    assert find_user_error(ValueError("a bug")) is None


class _Strict:
    """A config target: takes `width` and nothing else."""

    def __init__(self, width: int) -> None:
        self.width = width


class _Buggy:
    """A config target whose own code raises a TypeError: a bug, not the config's."""

    def __init__(self, width: int) -> None:
        self.width = len(width)


def _error_instantiating(node: dict):
    with pytest.raises(Exception) as err:
        instantiate(OmegaConf.create({"model": {"encoder": node}}).model)
    return find_user_error(err.value)


@pytest.mark.parametrize("node,says", [
    ({"_target_": f"{__name__}._Strict", "width": 2, "widht": 3},
     "model.encoder: _Strict.__init__() got an unexpected keyword argument 'widht'; did you "
     f"mean model.encoder.width? (the keys under model.encoder are the arguments of "
     f"{__name__}._Strict: is one misspelt, added or left out?)"),
    ({"_target_": f"{__name__}._Strict", "width": 2, "colour": 3},  # close to no argument
     "model.encoder: _Strict.__init__() got an unexpected keyword argument 'colour' (the keys "
     f"under model.encoder are the arguments of {__name__}._Strict: is one misspelt, added or "
     "left out?)"),
    ({"_target_": f"{__name__}._Strict"},
     "model.encoder: _Strict.__init__() missing 1 required positional argument: 'width'"),
    ({"_target_": f"{__name__}._Strikt", "width": 2},
     f"model.encoder._target_: cannot import '{__name__}._Strikt'"),
    ({"_target_": "tests", "width": 2},
     "model.encoder._target_: Expected a callable target, got '<module 'tests'"),
])
def test_a_config_that_does_not_fit_its_target_is_a_config_error(node, says):
    """`+model.encoder.foo=1`, a required key left out, a misspelt `_target_`: one line naming
    the config key, not Hydra's traceback."""
    found = _error_instantiating(node)
    assert isinstance(found, ConfigError)
    assert str(found).startswith(says)


def test_the_closest_argument_is_named_for_a_factory_too():
    """A `_partial_: true` config (an optimizer) is called later with its keys bound."""
    factory = functools.partial(torch.optim.Adam, lrr=0.1)
    with pytest.raises(TypeError) as err:
        factory([torch.zeros(1, requires_grad=True)])
    assert closest_argument(err.value, factory, "model.optimizer") == \
        "; did you mean model.optimizer.lr?"
    assert closest_argument(TypeError("got an unexpected keyword argument 'lrr'"), len,
                            "x") == ""  # a builtin without a signature: no guess
    assert closest_argument(TypeError("missing 1 required positional argument: 'width'"),
                            _Strict, "model.encoder") == ""
    widht = TypeError("got an unexpected keyword argument 'widht'")
    assert closest_argument(widht, f"{__name__}._Strict", "m") == "; did you mean m.width?"
    assert closest_argument(widht, f"{__name__}._Gone", "m") == ""  # no such target: no guess


def test_a_keyword_other_options_of_the_group_take_is_said_to_be_theirs_not_guessed():
    """difflib would offer the VAE-GAN's `gamma` for R1's `r1_gamma`."""
    from pegasus_lab.methods.vaegan import VAEGAN
    refused = TypeError("VAEGAN.__init__() got an unexpected keyword argument 'r1_gamma'")
    assert closest_argument(refused, VAEGAN, "model") == (
        "; model.r1_gamma is a setting of model=cdcgan, dcgan, study_acgan, study_gan, "
        "study_gan_transposed only")
    upsample = TypeError("got an unexpected keyword argument 'upsample'")  # one level down
    assert closest_argument(upsample, _Strict, "model.generator").startswith(
        "; model.generator.upsample is a setting of model=study_acgan, ")


def test_a_type_error_inside_the_target_stays_a_bug():
    assert _error_instantiating({"_target_": f"{__name__}._Buggy", "width": 2}) is None


def test_arguments_misfit_is_the_call_not_the_code_inside():
    with pytest.raises(TypeError) as misfit:
        _Strict(widht=2)
    with pytest.raises(TypeError) as inside:
        _Buggy(2)
    assert arguments_misfit(misfit.value) and not arguments_misfit(inside.value)
    assert not arguments_misfit(ValueError("x"))


@pytest.mark.parametrize("cfg,says", [
    ({"model": {"encoder": None, "decoder": {"latent_dim": "${model.encoder.latent_dim}"}}},
     "model.decoder.latent_dim=${model.encoder.latent_dim} cannot be resolved: Error trying to "
     "access model.encoder.latent_dim: node `model.encoder` is not a container"),
    ({"model": {"width": "${model.widht}"}},
     "model.width=${model.widht} cannot be resolved: Interpolation key 'model.widht' not found"),
    ({"root": "${oc.env:PEGASUS_NO_SUCH_VARIABLE}"},
     "root=${oc.env:PEGASUS_NO_SUCH_VARIABLE} cannot be resolved: \"Environment variable "
     "'PEGASUS_NO_SUCH_VARIABLE' not found\""),
])
def test_an_interpolation_the_config_leaves_without_a_value_is_a_config_error(cfg, says):
    """`model.encoder=null` under `${model.encoder.latent_dim}`: one line naming the key whose
    interpolation fails, not OmegaConf's traceback."""
    with pytest.raises(Exception) as err:
        OmegaConf.missing_keys(OmegaConf.create(cfg))
    found = find_user_error(err.value)
    assert isinstance(found, ConfigError) and str(found).startswith(says)
