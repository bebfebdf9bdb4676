import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.methods.dcgan import DCGAN
from pegasus_lab.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from pegasus_lab.speed import channels_last
from tests.helpers import CopyRecorder


def _model(num_classes=0):
    adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
    return DCGAN(DCGANGenerator(latent_dim=8, width=8, image_size=16, num_classes=num_classes),
                 DCGANDiscriminator(width=8, image_size=16, num_classes=num_classes), adam, adam)


class _Spy(Callback):
    """Counts backward passes that reach the discriminator, and optimizer steps, per step."""

    def __init__(self):
        self.steps = {"g": 0, "d": 0}
        self.per_batch = []

    def on_train_start(self, trainer, module):
        self.d_backwards = 0
        original = module.run_backward

        def counting(loss, **kw):
            if "inputs" not in kw:  # the discriminator's two halves
                self.d_backwards += 1
            return original(loss, **kw)

        module.run_backward = counting
        opt_g, opt_d = trainer.optimizers
        opt_g.register_step_post_hook(lambda *a: self.steps.__setitem__("g", self.steps["g"] + 1))
        opt_d.register_step_post_hook(lambda *a: self.steps.__setitem__("d", self.steps["d"] + 1))

    def on_train_batch_start(self, *a):
        self.before = (self.d_backwards, dict(self.steps))

    def on_train_batch_end(self, *a):
        b, s = self.before
        self.per_batch.append((self.d_backwards - b, self.steps["d"] - s["d"],
                               self.steps["g"] - s["g"]))


def test_discriminator_step_is_two_backwards_then_one_step(tmp_path):
    spy = _Spy()
    dm = ImageDataModule(SyntheticSource(num_classes=2, per_class=16, image_size=16),
                         image_size=16, batch_size=8, value_range=(-1, 1), val_fraction=0.0,
                         num_workers=0)
    trainer = L.Trainer(max_steps=3, accelerator="cpu", logger=False, callbacks=[spy],
                        enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(_model(), datamodule=dm)
    assert spy.per_batch == [(2, 1, 1)] * 3 and trainer.global_step == 3


def test_the_two_backwards_accumulate():
    model = _model()
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(0)
    loss_real, loss_fake, *_ = model.discriminator_step_losses(real, None)
    model.run_backward(loss_real)
    model.run_backward(loss_fake)
    accumulated = [p.grad.clone() for p in model.discriminator.parameters()]
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    loss_real, loss_fake, *_ = model.discriminator_step_losses(real, None)
    params = list(model.discriminator.parameters())
    g_real = torch.autograd.grad(loss_real, params, retain_graph=True)
    g_fake = torch.autograd.grad(loss_fake, params)
    for acc, a, b in zip(accumulated, g_real, g_fake):
        assert torch.allclose(acc, a + b, atol=1e-6)


@pytest.mark.parametrize("num_classes", [0, 4])
def test_an_nhwc_iteration_copies_no_activation_or_image(num_classes):
    # speed.channels_last (paper-3): convolutions all the way, so no layout copy at all; a
    # conditional DCGAN only turns its one-hot labels into floats, once per network call
    # (the discriminator on real and fake images, the generator, both again for the generator)
    torch.manual_seed(0)
    model = _model(num_classes)
    channels_last([model])
    optimizers = [torch.optim.Adam(model.generator.parameters()),
                  torch.optim.Adam(model.discriminator.parameters())]
    model.optimizers = lambda: optimizers
    images = torch.rand(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with CopyRecorder() as recorder:
        model.iteration(images, torch.randint(0, 4, (8,)))
    assert all(c.operator == "_to_copy" and c.shape == (8, num_classes)
               for c in recorder.copies)
    assert len(recorder.copies) == (5 if num_classes else 0)
