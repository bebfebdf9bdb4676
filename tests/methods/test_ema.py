"""The generator's weight average (methods/ema.py)."""
import pytest
import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.ema import EMA


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 2))


def test_an_update_moves_the_average_towards_the_weights_and_copies_the_buffers():
    online = _net()
    ema = EMA(online, decay=0.75)
    start = [p.detach().clone() for p in ema.shadow.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online.train()(torch.randn(5, 3, 4, 4))  # batch norm's statistics move, its count too
    ema.update(online)
    for s, p0, p in zip(ema.shadow.parameters(), start, online.parameters()):
        assert torch.allclose(s, 0.75 * p0 + 0.25 * p)
    buffers = dict(online.named_buffers())
    for name, b in ema.shadow.named_buffers():
        assert torch.equal(b, buffers[name]) and b.dtype == buffers[name].dtype, name
    assert int(dict(ema.shadow.named_buffers())["1.num_batches_tracked"]) == 1
    # the average is its own memory: training on does not move it until the next update
    with torch.no_grad():
        next(online.parameters()).add_(1.0)
    assert not torch.equal(next(ema.shadow.parameters()), next(online.parameters()))


def test_the_average_is_for_inference_only():
    ema = EMA(_net(), decay=0.9)
    ema.train()
    assert not ema.shadow.training
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_a_network_without_buffers_updates_too():
    online = nn.Linear(3, 2)
    ema = EMA(online, decay=0.5)
    with torch.no_grad():
        online.weight.fill_(2.0)
    before = ema.shadow.weight.detach().clone()
    ema.update(online)
    assert torch.allclose(ema.shadow.weight, 0.5 * before + 1.0)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2.0])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):  # a config value: said, no traceback
        EMA(nn.Linear(2, 2), decay)
