import pytest
import torch

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.resnet_gan import (ConditionalBatchNorm2d, ResNetCritic, ResNetGenerator)


def test_generator_and_critic_shapes():
    g = ResNetGenerator(latent_dim=16, width=8, num_classes=10)
    c = ResNetCritic(width=8, num_classes=10)
    x = g(torch.randn(4, 16), torch.arange(4))
    assert x.shape == (4, 3, 32, 32) and x.abs().max() <= 1
    score, logits = c(x)
    assert score.shape == (4,) and logits.shape == (4, 10)
    assert len(g.blocks) == 3  # 4 → 8 → 16 → 32


def test_critic_blocks_go_down_down_then_keep_the_size():
    c = ResNetCritic(width=8, num_classes=0)
    h = torch.randn(2, 3, 32, 32)
    sides = []
    for block in c.blocks:
        h = block(h)
        sides.append(h.shape[-1])
    assert sides == [16, 8, 8, 8]
    assert c(torch.randn(2, 3, 32, 32))[1] is None  # no auxiliary head without classes


def test_conditional_batch_norm_depends_on_the_label():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, num_classes=3)
    with torch.no_grad():
        cbn.scale.weight.normal_()
        cbn.shift.weight.normal_()
    x = torch.randn(6, 4, 5, 5)
    a, b = cbn(x, torch.zeros(6, dtype=torch.long)), cbn(x, torch.ones(6, dtype=torch.long))
    assert not torch.allclose(a, b)


def test_the_generator_output_depends_on_the_label():
    torch.manual_seed(0)
    g = ResNetGenerator(latent_dim=16, width=8, num_classes=10)
    for block in g.blocks:
        for norm in (block.norm1, block.norm2):
            with torch.no_grad():
                norm.scale.weight.normal_(1.0, 0.5)
    z = torch.randn(4, 16)
    assert not torch.allclose(g(z, torch.zeros(4, dtype=torch.long)),
                              g(z, torch.full((4,), 7)))


def test_layer_norm_normalises_each_image_over_channels_and_pixels():
    c = ResNetCritic(width=8, num_classes=0, norm="layer")
    norm = c.blocks[1].norm1
    x = torch.randn(3, 8, 6, 6) * 5 + 2
    y = norm(x)
    assert torch.allclose(y.flatten(1).mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.flatten(1).std(1, unbiased=False), torch.ones(3), atol=1e-3)
    assert isinstance(ResNetCritic(width=8, norm="none").blocks[1].norm1, torch.nn.Identity)


def test_bad_settings():
    with pytest.raises(ConfigError, match="valid choices"):
        ResNetCritic(norm="batch")
    with pytest.raises(ConfigError, match="4·2\\^k"):
        ResNetGenerator(image_size=48)
    with pytest.raises(ValueError, match="needs labels"):
        ResNetGenerator(latent_dim=4, width=8, num_classes=3)(torch.randn(2, 4))
