"""The user-error helpers: integer settings checked against their range, and the errors found
in a cause chain (Hydra wraps what a constructor raises)."""
import pytest
from lightning.fabric.utilities.exceptions import MisconfigurationException

from pegasus_lab.errors import ConfigError, find_user_error, require_int, require_weight


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
