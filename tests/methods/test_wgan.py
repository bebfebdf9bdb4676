import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, Timer

from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.wgan import WGAN
from pegasus_lab.nets.layer_norm import LayerNorm2d
from pegasus_lab.nets.resnet_gan import ResNetCritic, ResNetGenerator
from pegasus_lab.speed import channels_last
from tests.helpers import CopyRecorder


def _model(num_classes=4, **kw):
    adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9))
    kw = {"critic_batch_size": 4, "generator_batch_size": 8, **kw}
    return WGAN(ResNetGenerator(latent_dim=8, width=8, num_classes=num_classes, image_size=16),
                ResNetCritic(width=8, num_classes=num_classes, image_size=16), adam, adam, **kw)


def _data(batch_size=20):
    return ImageDataModule(SyntheticSource(num_classes=4, per_class=20, image_size=16),
                           image_size=16, batch_size=batch_size, value_range=(-1, 1),
                           val_fraction=0.0, hflip=False, num_workers=0)


def _trainer(tmp_path, max_steps, callbacks=()):
    return L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False,
                     enable_checkpointing=False, enable_progress_bar=False,
                     callbacks=list(callbacks), default_root_dir=tmp_path)


class _CountSteps(Callback):
    def __init__(self):
        self.counts = {"generator": 0, "critic": 0}
        self.per_step = []

    def on_train_start(self, trainer, module):
        opt_g, opt_c = trainer.optimizers
        opt_g.register_step_post_hook(lambda *a: self._bump("generator"))
        opt_c.register_step_post_hook(lambda *a: self._bump("critic"))

    def _bump(self, name):
        self.counts[name] += 1

    def on_train_batch_start(self, *args):
        self.before = dict(self.counts)

    def on_train_batch_end(self, *args):
        self.per_step.append({k: self.counts[k] - self.before[k] for k in self.counts})


@pytest.mark.parametrize("num_classes", [4, 0])
def test_five_critic_updates_and_one_generator_update_per_step(num_classes, tmp_path):
    counter = _CountSteps()
    trainer = _trainer(tmp_path, 3, [counter])
    trainer.fit(_model(num_classes), datamodule=_data())
    assert counter.per_step == [{"generator": 1, "critic": 5}] * 3
    assert trainer.global_step == 3  # max_steps counts generator iterations


def test_learning_rates_reach_zero_at_max_steps(tmp_path):
    model = _model()
    trainer = _trainer(tmp_path, 4)
    trainer.fit(model, datamodule=_data())
    for opt in trainer.optimizers:
        assert opt.param_groups[0]["lr"] == 0.0
    for sched in model.lr_schedulers():
        assert sched.get_last_lr() == [0.0]


def test_a_run_stopped_early_keeps_the_longer_schedule(tmp_path):
    model = _model(lr_decay_steps=10)
    trainer = _trainer(tmp_path, 4)
    trainer.fit(model, datamodule=_data())
    for opt in trainer.optimizers:
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-4 * (1 - 4 / 10))


class _StepClock(Timer):
    """A 10-s budget whose clock advances 2.5 s at every batch's start."""

    def __init__(self):
        super().__init__(duration={"seconds": 10}, verbose=False)
        self.now, self.lrs = 0.0, []

    def time_elapsed(self, stage="train"):
        return self.now

    def on_train_batch_start(self, trainer, *args):
        self.now += 2.5
        self.lrs.append([o.param_groups[0]["lr"] for o in trainer.optimizers])


def test_learning_rates_decay_over_the_time_budget(tmp_path):
    model, clock = _model(lr_decay_over="time"), _StepClock()
    trainer = _trainer(tmp_path, 100, [clock])
    trainer.fit(model, datamodule=_data())
    assert trainer.global_step == 4  # stopped by the budget, not by max_steps
    # each step's rate: the share of the budget left when the step before ended
    assert [lr for lr, _ in clock.lrs] == pytest.approx([2e-4, 1.5e-4, 1e-4, 0.5e-4])
    assert all(g == c for g, c in clock.lrs)
    for opt in trainer.optimizers:
        assert opt.param_groups[0]["lr"] == 0.0


def test_a_resumed_run_decays_from_the_time_already_spent(tmp_path):
    trainer = L.Trainer(max_time={"seconds": 100}, accelerator="cpu", logger=False,
                        enable_progress_bar=False, default_root_dir=tmp_path)
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    timer.load_state_dict({"time_elapsed": {"train": 60.0}})  # as a checkpoint restores it
    model = _model(lr_decay_over="time")
    model.trainer = trainer
    _, scheds = model.configure_optimizers()
    for s in scheds:
        assert s["scheduler"].lr_lambdas[0](0) == pytest.approx(0.4)


def test_a_time_decay_needs_a_time_budget(tmp_path):
    with pytest.raises(ConfigError, match="trainer.max_time"):
        _trainer(tmp_path, 4).fit(_model(lr_decay_over="time"), datamodule=_data())
    with pytest.raises(ConfigError, match="does not apply"):
        _model(lr_decay_over="time", lr_decay_steps=10)
    with pytest.raises(ConfigError, match="'steps' or 'time'"):
        _model(lr_decay_over="epochs")


def test_a_time_decay_is_refused_across_processes(tmp_path):
    # each process's clock would give its own rate, and the replicas' weights would drift
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_time={"seconds": 9},
                        logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    model = _model(lr_decay_over="time")
    model.trainer = trainer
    with pytest.raises(ConfigError, match="one process only"):
        model.configure_optimizers()


def test_the_batch_must_hold_the_critic_batches(tmp_path):
    with pytest.raises(ConfigError, match="data.batch_size=20"):
        _trainer(tmp_path, 1).fit(_model(), datamodule=_data(batch_size=16))


@pytest.mark.parametrize("setting", ["lr_decay", "dequantize"])
def test_a_switch_that_is_not_true_or_false_is_refused(setting):
    with pytest.raises(ConfigError, match=f"^{setting} must be true or false, got 'off'$"):
        _model(**{setting: "off"})


@pytest.mark.parametrize("setting,value", [("n_critic", 0), ("n_critic", 2.5),
                                           ("critic_batch_size", 0),
                                           ("generator_batch_size", -8),
                                           ("lr_decay_steps", 0), ("lr_decay_steps", -5)])
def test_a_count_that_is_not_a_positive_integer_is_refused(setting, value):
    with pytest.raises(ConfigError, match=f"^{setting} must be a positive integer"):
        _model(**{setting: value})


def test_critic_batches_drawn_inside_the_step_from_one_batch(tmp_path):
    counter = _CountSteps()
    trainer = _trainer(tmp_path, 2, [counter])
    trainer.fit(_model(), datamodule=_data(batch_size=4))  # one critic batch per data batch
    assert counter.per_step == [{"generator": 1, "critic": 5}] * 2


def test_generator_step_leaves_the_critic_gradients_alone():
    model = _model()
    out = model.generator_losses(8)
    model.run_backward(out["generator"], inputs=list(model.generator.parameters()))
    assert all(p.grad is None for p in model.critic.parameters())
    assert any(p.grad is not None for p in model.generator.parameters())


def test_critic_update_computes_gradients_for_the_critic_only():
    # the gradient penalty's interpolates are a leaf that requires grad: the update's
    # backward must not compute and store their gradient (work nobody reads)
    torch.manual_seed(0)
    model = _model()
    inputs = []
    model.critic.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    opt = torch.optim.Adam(model.critic.parameters())
    model.critic_update(real, torch.tensor([0, 1, 2, 3]), fake, opt)
    interpolates = [x for x in inputs if x.is_leaf and x.requires_grad]
    assert len(interpolates) == 1
    assert interpolates[0].grad is None
    assert all(p.grad is not None for p in model.critic.parameters())


def test_an_nhwc_iteration_copies_no_activation_or_image():
    # speed.channels_last with the GPU's exact rewrites, the autograd critic update: copies
    # left are autograd laying gradients out as the NHWC weights (the backend's choice),
    # the accuracy's dtype change, and the generator's first activation gradient, which the
    # view of its linear layer's output needs in NCHW order; a layout copy of images or
    # activations anywhere else (a flatten of an NHWC tensor, a leaf's gradient nobody
    # reads, group_norm's backward) fails
    torch.manual_seed(0)
    adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9))
    model = WGAN(ResNetGenerator(latent_dim=8, width=8, num_classes=4, image_size=16,
                                 fused_upsample=True),
                 ResNetCritic(width=8, num_classes=4, image_size=16, fused_downsample=True,
                              fused_norm=True), adam, adam, critic_batch_size=4,
                 generator_batch_size=8)
    channels_last([model])
    optimizers = [adam(model.generator.parameters()), adam(model.critic.parameters())]
    model.optimizers = lambda: optimizers
    images = torch.rand(20, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 4, (20,))
    with CopyRecorder() as recorder:
        model.iteration(images, labels)
    parameter_shapes = {tuple(p.shape) for p in model.parameters()}
    left = [c for c in recorder.copies
            if not (c.node.endswith("AccumulateGrad") and c.shape in parameter_shapes)
            and not (c.operator == "_to_copy" and c.shape == (4,))]
    assert [(c.operator, c.shape, c.node) for c in left] == [
        ("clone", (8, 8, 4, 4), "ViewBackward0")]


def test_critic_loss_parts():
    torch.manual_seed(0)
    model = _model(aux_weight_fake=1.0)
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(1)
    out = model.critic_losses(real, labels, fake)
    expected = (out["wasserstein"] + 10 * out["gradient_penalty"] + out["aux_real"]
                + out["aux_fake"])
    assert torch.allclose(out["critic"], expected)
    scores, _ = model.critic(torch.cat([real, fake]))
    assert torch.allclose(out["wasserstein"], scores[4:].mean() - scores[:4].mean(), atol=1e-6)


def test_ema_generator_is_used_for_sampling_in_eval(tmp_path):
    model = _model(ema_decay=0.5)
    _trainer(tmp_path, 2).fit(model, datamodule=_data())
    model.eval()
    z, y = torch.randn(3, 8), torch.tensor([0, 1, 2])
    with torch.no_grad():
        assert torch.allclose(model.generate(z, y), model.generator_ema(z, y))
        assert not torch.allclose(model.generate(z, y), model.generator.eval()(z, y))
        model.sample_from_average = False  # the trained weights themselves (bench.quality)
        assert torch.allclose(model.generate(z, y), model.generator(z, y))


def test_class_count_must_match_the_data(tmp_path):
    with pytest.raises(ConfigError, match="num_classes=4"):
        _trainer(tmp_path, 1).fit(_model(num_classes=10), datamodule=_data())


def test_weight_clipping_keeps_critic_weights_in_range(tmp_path):
    adam = lambda params: torch.optim.RMSprop(params, lr=0.5)  # big steps: clipping must bite
    model = WGAN(ResNetGenerator(latent_dim=8, width=8, num_classes=0, image_size=16),
                 ResNetCritic(width=8, num_classes=0, image_size=16, norm="none"), adam, adam,
                 critic_batch_size=4, generator_batch_size=8, gp_weight=0.0, clip_value=0.01,
                 lr_decay=False, dequantize=False)
    _trainer(tmp_path, 2).fit(model, datamodule=_data())
    weights = torch.cat([p.flatten() for p in model.critic.parameters()])
    assert weights.abs().max() <= 0.01 + 1e-7
    assert (weights.abs() > 0.0099).any()  # they were pushed to the bound
    out = model.critic_losses(torch.zeros(2, 3, 16, 16), None, torch.zeros(2, 3, 16, 16))
    assert "gradient_penalty" not in out  # no penalty computed without a weight


@pytest.mark.parametrize("num_classes,gp_weight", [(4, 10.0), (0, 10.0), (4, 0.0)])
def test_functional_critic_gradients_are_the_autograd_ones(num_classes, gp_weight):
    # critic_gradients (torch.func, what speed.compile_critic_step compiles) against the
    # autograd path, the gradient penalty's double backward included; float64
    torch.manual_seed(0)
    model = _model(num_classes, gp_weight=gp_weight).double()
    for norm in model.critic.modules():  # layer norm's scale and shift away from 1 and 0
        if isinstance(norm, LayerNorm2d):
            with torch.no_grad():
                norm.weight.normal_(1.0, 0.3)
                norm.bias.normal_(0.0, 0.3)
    real, fake = torch.randn(4, 3, 16, 16).double(), torch.randn(4, 3, 16, 16).double()
    labels = torch.tensor([0, 1, 2, 3]) if num_classes else None
    alpha = torch.rand(4, 1, 1, 1).double()
    out = model.critic_losses(real, labels, fake, alpha)
    params = dict(model.critic.named_parameters())
    expected = torch.autograd.grad(out["critic"], list(params.values()))
    grads, losses = model.critic_gradients({k: p.detach() for k, p in params.items()}, real,
                                           labels, fake, alpha)
    assert set(losses) == set(out)
    for k in out:
        assert torch.allclose(losses[k], out[k].detach(), atol=1e-12), k
    for (name, g), e in zip(grads.items(), expected):
        assert torch.allclose(g, e, atol=1e-10), name


def test_a_critic_update_that_fails_to_compile_runs_through_autograd(tmp_path):
    def broken_compile(fn, **options):
        def compiled(*args):
            raise RuntimeError("no backend here")
        return compiled

    torch.manual_seed(0)
    model = _model()
    model.compile_steps(broken_compile)
    with pytest.warns(UserWarning, match="compiling the critic update failed.*no backend"):
        _trainer(tmp_path, 2).fit(model, datamodule=_data())
    assert model._critic_gradients is None and model.critic_update_compiled is False
    assert all(torch.isfinite(p).all() for p in model.critic.parameters())


def test_a_critic_with_running_statistics_keeps_the_autograd_update():
    from pegasus_lab.nets.study_gan import StudyDiscriminator, StudyGenerator
    rms = lambda params: torch.optim.RMSprop(params, lr=5e-5)
    model = WGAN(StudyGenerator(latent_dim=8, width=8, image_size=16, num_classes=0),
                 StudyDiscriminator(width=8, image_size=16, batch_norm=True), rms, rms,
                 gp_weight=0.0, clip_value=0.01, critic_batch_size=4)
    model.compile_steps(lambda fn, **options: pytest.fail("nothing to compile"))
    assert model._critic_gradients is None and model.critic_update_compiled is None


def test_compiled_gradients_take_the_parameters_layout():
    # channels_last weights, gradients handed back in NCHW: fused Adam walks a weight and its
    # gradient as the same flat memory (given mismatched layouts it silently computes garbage),
    # so the update must lay them out as the weights, as autograd's accumulation does
    def updated(through_func):
        torch.manual_seed(0)
        model = _model()
        model.critic.to(memory_format=torch.channels_last)
        if through_func:
            def nchw_gradients(params, real, labels, fake, alpha):
                grads, out = model.critic_gradients(params, real, labels, fake, alpha)
                return {k: g.contiguous() for k, g in grads.items()}, out
            model._critic_gradients = nchw_gradients
        adam = torch.optim.Adam(model.critic.parameters(), lr=0.1, fused=True)
        torch.manual_seed(1)
        real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
        model.critic_update(real, torch.tensor([0, 1, 2, 3]), fake, adam)
        conv = model.critic.blocks[0].conv1.weight
        assert conv.grad.is_contiguous(memory_format=torch.channels_last)
        return [p.detach() for p in model.critic.parameters()]

    for a, b in zip(updated(False), updated(True)):
        assert torch.allclose(a, b, atol=1e-6)
