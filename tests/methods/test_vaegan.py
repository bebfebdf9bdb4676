import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.methods.vaegan import VAEGAN
from pegasus_lab.nets.vaegan import VaeGanDecoder, VaeGanDiscriminator, VaeGanEncoder
from pegasus_lab.speed import channels_last
from tests.helpers import CopyRecorder


def _model(**kw):
    nets = dict(image_size=16, latent_dim=6, width=8)
    return VAEGAN(VaeGanEncoder(**nets), VaeGanDecoder(**nets),
                  VaeGanDiscriminator(image_size=16, width=8, hidden_dim=16),
                  *(lambda params: torch.optim.Adam(params, lr=1e-3),) * 3, **kw)


NETS = ("encoder", "decoder", "discriminator")


def test_each_network_gets_exactly_its_own_loss_gradient():
    model = _model()
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    torch.manual_seed(0)
    model.backward_each(model.losses(x))
    got = {n: [p.grad.clone() for p in getattr(model, n).parameters()] for n in NETS}
    model.zero_grad(set_to_none=True)
    for name in NETS:
        torch.manual_seed(0)  # the same noise: the same forward pass
        out = model.losses(x)
        params = list(getattr(model, name).parameters())
        expected = torch.autograd.grad(out[name], params, allow_unused=True)
        for g, e in zip(got[name], expected):
            assert torch.allclose(g, torch.zeros_like(g) if e is None else e, atol=1e-6)


def test_an_nhwc_iteration_copies_only_at_the_linear_layers():
    # speed.channels_last: the only layout copies are where 2×2 NHWC activations meet a
    # linear layer, whose weights read (C, H, W) order: forward, the encoder's flatten and
    # the discriminator's in its three passes; backward, the gradient of the decoder's first
    # activation for its linear output's view (in the encoder's backward, and in the
    # decoder's for reconstructions and prior samples). The loss on the discriminator's
    # features must not copy them (flatten(1) of an NHWC tensor did)
    torch.manual_seed(0)
    model = _model()
    channels_last([model])
    optimizers = [torch.optim.Adam(getattr(model, n).parameters()) for n in NETS]
    model.optimizers = lambda: optimizers
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with CopyRecorder() as recorder:
        model.iteration(x)
    assert all(c.operator == "clone" and c.shape[2:] == (2, 2) for c in recorder.copies)
    assert [c.node for c in recorder.copies] == [""] * 4 + ["ViewBackward0"] * 3


def test_the_decoded_prior_samples_reach_the_discriminator():
    model = _model()
    seen = []
    model.discriminator.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    out = model.losses(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert len(seen) == 3
    assert any(torch.equal(s, out["x_prior"]) for s in seen)
    assert out["discriminator"].requires_grad and out["d_prior"] > 0


class _Watch(Callback):
    """Checks that every network's weights move in every training step."""

    def __init__(self):
        self.before, self.steps = None, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.before = {n: [p.detach().clone() for p in getattr(module, n).parameters()]
                       for n in NETS}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        for name in NETS:
            after = list(getattr(module, name).parameters())
            changed = sum(not torch.equal(a, b) for a, b in zip(self.before[name], after))
            assert changed == len(after), f"{name}: {changed}/{len(after)} tensors moved"
        self.steps += 1


@pytest.mark.parametrize("generator_loss", ["non_saturating", "saturating"])
def test_every_step_updates_all_three_networks_and_counts_once(generator_loss, tmp_path):
    dm = ImageDataModule(SyntheticSource(num_classes=2, per_class=16, image_size=16),
                         image_size=16, batch_size=8, value_range=(-1, 1), val_fraction=0.0,
                         num_workers=0)
    watch = _Watch()
    trainer = L.Trainer(max_steps=5, accelerator="cpu", logger=False, callbacks=[watch],
                        enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(_model(generator_loss=generator_loss), datamodule=dm)
    assert watch.steps == 5 and trainer.global_step == 5  # one counted step per batch


def test_fp16_is_refused(tmp_path):
    from pegasus_lab.errors import ConfigError
    model = _model()
    model._trainer = type("T", (), {"precision": "16-mixed"})()
    with pytest.raises(ConfigError, match="bf16"):
        model.check_precision()
    model._trainer = None


def test_critic_picks_are_the_samples_the_discriminator_rates_most_real():
    # paper-0's VAE-GAN has a discriminator: pegasus-sample mode=critic_picks works for it too
    from pegasus_lab.figures.sampling import critic_picks
    torch.manual_seed(0)
    model = _model().eval()
    picks, nrow = critic_picks(model, num=4, candidates=20, seed=3)
    assert picks.shape == (4, 3, 16, 16) and nrow == 2
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        every = model.generate(torch.randn(20, model.latent_dim, generator=g))
        scores = model.realness(every)
    assert scores.shape == (20,)
    best = model.to_unit(every[scores.argsort(descending=True)[:4]])
    assert torch.allclose(picks, best)
