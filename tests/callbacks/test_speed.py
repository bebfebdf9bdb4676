"""The speed switches applied to real runs (on the CPU, where a test turns them on)."""
import lightning as L
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch._dynamo.utils import counters

from pegasus_lab.callbacks.divergence import DivergenceGuard
from pegasus_lab.callbacks.speed import SpeedUp
from pegasus_lab.cli.train import build
from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.methods.wgan import WGAN
from pegasus_lab.nets.fused_ops import REWRITES
from pegasus_lab.nets.layer_norm import LayerNorm2d
from pegasus_lab.nets.resnet_gan import ResNetCritic, ResNetGenerator
from pegasus_lab.speed import Speed
from tests.conftest import compose_config, smoke

ALL_ON_CPU = ["speed.devices=[cpu]", "speed.compile_backend=aot_eager"]
# torch.compile takes torch.func transforms over a module whole (speed.compile_critic_step) in
# torch 2.11 and 2.14 (tried); 2.4 cannot, and the critic then updates through autograd
FUNC_COMPILES = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 11)


def _critic_update_compiled(model, warnings_seen) -> bool:
    failed = [w for w in warnings_seen if "critic update failed" in str(w.message)]
    if FUNC_COMPILES:
        assert not failed and model.critic_update_compiled is True
        return True
    assert failed and model.critic_update_compiled is False  # the fallback, said once
    return False


def _fit(model_name, tmp_path):
    cfg = compose_config("train", [*smoke(model_name), *ALL_ON_CPU], tmp_path)
    datamodule, model, trainer = build(cfg)
    assert trainer.precision == "bf16-mixed"
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def _is_nhwc(module):
    weights = [p for p in module.parameters() if p.ndim == 4 and p.shape[-1] > 1]
    return weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


def test_compiled_nhwc_bf16_runs(tmp_path):
    # VAE-GAN: three backward passes through one compiled graph (retain_graph) under bf16: the
    # case where AOTAutograd's donated buffers must be off (it fails otherwise)
    networks = ["encoder", "decoder", "discriminator"]
    model, trainer = _fit("vaegan", tmp_path)
    assert trainer.global_step > 0
    assert all(getattr(model, n)._compiled_call_impl is not None for n in networks)
    assert _is_nhwc(model)
    assert all(o.defaults.get("fused") or o.defaults.get("foreach") for o in trainer.optimizers)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_wgan_gp_runs_with_every_switch(tmp_path, recwarn):
    model, trainer = _fit("acwgan_gp", tmp_path)
    assert trainer.global_step == 5  # generator iterations, counted once each
    rewrites = [m for m in model.modules() if isinstance(m, REWRITES)]
    assert rewrites and all(m.fused for m in rewrites)
    # the critic is differentiated twice (gradient penalty): the module is never compiled, its
    # whole update is (torch.func, under bf16 autocast here); the generator is
    assert model.critic._compiled_call_impl is None
    _critic_update_compiled(model, recwarn)
    assert model.generator._compiled_call_impl is not None
    assert _is_nhwc(model.critic)
    assert all(o.defaults["fused"] for o in trainer.optimizers)


def test_cpu_preset_runs_a_cpu_run_with_its_switches_in_fp32(tmp_path, recwarn):
    cfg = compose_config("train", [*smoke("acwgan_gp"), "speed=cpu",
                                   "speed.compile_backend=aot_eager"], tmp_path)
    datamodule, model, trainer = build(cfg)
    assert trainer.precision == "32-true"
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 5
    assert all(m.fused for m in model.modules() if isinstance(m, (*REWRITES, LayerNorm2d)))
    assert _is_nhwc(model.critic) and _is_nhwc(model.generator)
    assert all(o.defaults["fused"] for o in trainer.optimizers)
    assert model.generator._compiled_call_impl is None  # whole networks stay eager on a CPU
    _critic_update_compiled(model, recwarn)


# -- the exact switches change nothing but the speed -------------------------------------------
def _wgan():
    # SGD: Adam would turn the rounding noise of gradients that are zero in exact arithmetic
    # (conv biases before a norm layer) into full-size steps and hide what is compared here
    torch.manual_seed(0)
    sgd = lambda params, **kw: torch.optim.SGD(params, lr=1e-3, momentum=0.5, **kw)
    return WGAN(ResNetGenerator(latent_dim=8, width=8, num_classes=4, image_size=16),
                ResNetCritic(width=8, num_classes=4, image_size=16), sgd, sgd,
                critic_batch_size=4, generator_batch_size=8, lr_decay=False)


def _data():
    return ImageDataModule(SyntheticSource(num_classes=4, per_class=20, image_size=16),
                           image_size=16, batch_size=20, value_range=(-1, 1), val_fraction=0.0,
                           hflip=False, num_workers=0)


def _train(speed, tmp_path, steps=3, logger=False, log_every=50):
    model = _wgan()
    torch.manual_seed(1)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=logger,
                        enable_checkpointing=False, enable_progress_bar=False,
                        log_every_n_steps=log_every, callbacks=[SpeedUp(speed)],
                        default_root_dir=tmp_path)
    trainer.fit(model, datamodule=_data())
    return model


def test_exact_switches_train_to_the_same_weights(tmp_path, recwarn):
    plain = _train(Speed.plain(), tmp_path)
    # + the compiled generator, through AOTAutograd without Inductor's kernels (whose reordered
    # float sums are not exact), so that its traced graph is what is compared
    exact = Speed(devices=("cpu",), fused_layers=True, fused_norms=True, channels_last=True,
                  fused_optimizers=True, cuda_graphs=True, sparse_logging=True, compile=True,
                  compile_critic_step=True, compile_backend="aot_eager")
    torch._dynamo.reset()
    counters.clear()
    fast = _train(exact, tmp_path)
    # the critic's whole update (penalty's double backward included) compiled as one graph
    if _critic_update_compiled(fast, recwarn):
        assert not counters["graph_break"]
        assert counters["stats"]["unique_graphs"] >= 2  # the critic update's, the generator's
    assert all(m.fused for m in fast.modules() if isinstance(m, REWRITES))
    assert all(m.fused for m in fast.modules() if isinstance(m, LayerNorm2d))
    assert any(isinstance(m, LayerNorm2d) for m in fast.modules())
    assert fast.generator._compiled_call_impl is not None
    moved = 0.0
    for (name, p), q, p0 in zip(plain.named_parameters(), fast.parameters(),
                                _wgan().parameters()):
        assert torch.allclose(p, q, atol=1e-5), name
        moved += (p - p0).abs().sum().item()
    assert moved > 0  # the runs trained
    # batch-norm statistics (updated inside the compiled generator's graph too)
    for (name, b), c in zip(plain.named_buffers(), fast.buffers()):
        assert torch.allclose(b.float(), c.float(), atol=1e-5), name


def test_sparse_logging_writes_the_same_curves(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    curves = []
    for i, speed in enumerate([Speed.plain(), Speed(devices=("cpu",), sparse_logging=True)]):
        logger = TensorBoardLogger(tmp_path / f"tb{i}", name="", version="")
        _train(speed, tmp_path, steps=6, logger=logger, log_every=2)
        events = EventAccumulator(str(tmp_path / f"tb{i}"))
        events.Reload()
        curves.append({tag: [(e.step, round(e.value, 5)) for e in events.Scalars(tag)]
                       for tag in events.Tags()["scalars"] if tag.startswith("train/")})
    plain, sparse = curves
    assert plain["train/critic"] and len(plain["train/critic"]) == 3
    assert plain == sparse


def test_divergence_checks_follow_the_logged_steps():
    guard = DivergenceGuard()
    trainer = type("T", (), {"log_every_n_steps": 25})()
    module = type("M", (), {"speed": Speed()})()
    assert guard._interval(trainer, module) == 1
    module.speed = Speed(devices=("cpu",), sparse_logging=True)
    assert guard._interval(trainer, module) == 25
    assert DivergenceGuard(every_n_steps=7)._interval(trainer, module) == 7

