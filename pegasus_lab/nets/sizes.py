"""The sizes a network is built from, checked before any layer is made: a zero or negative
width, latent, hidden or channel count is one clear config error naming the network and the
size, instead of a reshape or convolution error somewhere inside the first forward pass."""
from __future__ import annotations

from pegasus_lab.errors import ConfigError


def check_sizes(net: str, num_classes: int = 0, **sizes) -> None:
    """Each of `sizes` a positive integer; `num_classes` 0 (unconditional) or more."""
    for name, value in {**sizes, "num_classes": num_classes}.items():
        least = 0 if name == "num_classes" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            kind = "0 or a positive integer" if least == 0 else "a positive integer"
            raise ConfigError(f"{net}: {name} must be {kind}, got {value!r}")
