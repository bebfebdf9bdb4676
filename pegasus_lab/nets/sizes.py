"""The sizes a network is built from, checked before any layer is made: a zero or negative
width, latent, hidden or channel count is one clear config error naming the network and the
size, instead of a reshape or convolution error somewhere inside the first forward pass."""
from __future__ import annotations

from pegasus_lab.errors import require_bool, require_int


def check_flags(net: str, **flags) -> None:
    """Each of `flags` true or false."""
    for name, value in flags.items():
        require_bool(name, value, where=f"{net}: ")


def check_sizes(net: str, num_classes: int = 0, **sizes) -> None:
    """Each of `sizes` a positive integer; `num_classes` 0 (unconditional) or more."""
    for name, value in sizes.items():
        require_int(name, value, 1, where=f"{net}: ")
    require_int("num_classes", num_classes, 0, where=f"{net}: ")
