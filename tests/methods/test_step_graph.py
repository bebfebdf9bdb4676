"""The CUDA-graph runner: eager off CUDA; optimizers made safe to record; on a GPU, recorded
iterations that train (those tests run where a GPU is)."""
import lightning as L
import pytest
import torch

from pegasus_lab.callbacks.speed import SpeedUp
from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.methods.step_graph import GraphedIteration, make_capturable
from pegasus_lab.methods.wgan import WGAN
from pegasus_lab.nets.resnet_gan import ResNetCritic, ResNetGenerator
from pegasus_lab.speed import Speed

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


def test_off_cuda_every_call_runs_eagerly():
    calls = []
    runner = GraphedIteration(lambda x: calls.append(x) or {"y": x * 2}, warmup=1)
    for i in range(4):
        assert runner(torch.tensor(float(i)))["y"] == 2 * i
    assert len(calls) == 4 and not runner.recorded


def test_make_capturable_keeps_rate_and_steps_in_tensors():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.5)
    p.grad = torch.ones(3)
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 10)
    make_capturable(opt, torch.device("cpu"))
    group = opt.param_groups[0]
    lr = group["lr"]
    assert isinstance(lr, torch.Tensor) and group["capturable"]
    assert isinstance(opt.state[p]["step"], torch.Tensor)
    sched.step()
    assert group["lr"] is lr and lr.item() == pytest.approx(0.45)  # updated in place


def _tiny_wgan():
    adam = lambda params, **kw: torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9), **kw)
    return WGAN(ResNetGenerator(latent_dim=8, width=8, num_classes=4, image_size=16),
                ResNetCritic(width=8, num_classes=4, image_size=16), adam, adam,
                critic_batch_size=4, generator_batch_size=8, ema_decay=0.9)


@cuda
def test_recorded_linear_regression_learns():
    torch.manual_seed(0)
    w_true = torch.randn(4, 1, device="cuda")
    net = torch.nn.Linear(4, 1, bias=False).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=0.05, capturable=True)

    def step(x):
        opt.zero_grad(set_to_none=True)
        loss = (net(x) - x @ w_true).pow(2).mean()
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    runner = GraphedIteration(step, warmup=2)
    losses = [runner(torch.randn(64, 4, device="cuda"))["loss"].item() for _ in range(200)]
    assert runner.recorded and not runner.failed
    assert losses[-1] < 0.01 * losses[0]


@cuda
def test_wgan_iterations_replay_as_one_graph(tmp_path):
    torch.manual_seed(0)
    model = _tiny_wgan()
    data = ImageDataModule(SyntheticSource(num_classes=4, per_class=20, image_size=16),
                           image_size=16, batch_size=20, value_range=(-1, 1), val_fraction=0.0,
                           hflip=False, num_workers=0)
    speed = Speed(cuda_graphs=True, fused_optimizers=True, channels_last=True, bf16=True,
                  fused_layers=True, fused_norms=True)
    trainer = L.Trainer(max_steps=12, accelerator="gpu", devices=1, precision="bf16-mixed",
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        callbacks=[SpeedUp(speed)], default_root_dir=tmp_path)
    before = [p.detach().clone() for p in model.critic.parameters()]
    trainer.fit(model, datamodule=data)
    assert model._graphed is not None and model._graphed.recorded and not model._graphed.failed
    assert trainer.global_step == 12
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(not torch.equal(p, q.cuda()) for p, q in zip(model.critic.parameters(), before))
    # the learning rate decayed linearly, in place, outside the graph
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert float(lr) == pytest.approx(2e-4 * (1 - 12 / 12), abs=1e-9)


class _NoSyncWindow(L.Callback):
    """torch's sync debug mode set to raise from the start of batch `first` to the start of
    batch `last`: any host sync in those steps (the iteration replayed, Lightning's loop, the
    callbacks, the bar) fails the run, naming the operation."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last, self.watched = first, last, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        watch = self.first <= batch_idx < self.last
        torch.cuda.set_sync_debug_mode("error" if watch else "default")
        if watch:
            self.watched.append(batch_idx)

    def on_train_end(self, trainer, module):
        torch.cuda.set_sync_debug_mode("default")


@cuda
@pytest.mark.parametrize("name", ["vae_conv", "vaegan", "dcgan", "acwgan_gp", "study_acgan"])
def test_replayed_steps_that_log_nothing_never_wait_for_the_gpu(name, tmp_path):
    from pegasus_lab.cli.train import build
    from tests.conftest import compose_config, smoke
    cfg = compose_config("train", [*smoke(name), "trainer.accelerator=gpu",
                                   "trainer.max_epochs=1", "trainer.limit_train_batches=12",
                                   "trainer.max_steps=12", "trainer.log_every_n_steps=1000",
                                   "trainer.limit_val_batches=0", "logger=none",
                                   # compiling is the test above's (minutes); syncs are the
                                   # loop's and the graph's, compiled or not
                                   "speed.compile=false", "speed.compile_critic_step=false"],
                         tmp_path)
    datamodule, model, trainer = build(cfg)
    window = _NoSyncWindow(first=6, last=11)  # recorded at step 3 (graph_warmup_steps 3)
    trainer.callbacks.append(window)
    try:
        trainer.fit(model, datamodule=datamodule)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert model._graphed is not None and model._graphed.recorded
    assert window.watched == [6, 7, 8, 9, 10]


@cuda
@pytest.mark.parametrize("name,extra", [
    ("dcgan", ["model.lecam_weight=0.3"]), ("study_acgan", ["model.lecam_weight=0.3"]),
    ("acwgan_gp", []),
    ("dcgan", ["model.r1_gamma=1", "model.adversarial_loss=hinge"]),
    ("study_acgan", ["model.r1_gamma=1", "model.adversarial_loss=least_squares"]),
    ("acwgan_gp", ["model.top_k_decay=0.5"]), ("dcgan", ["model.top_k_decay=0.5"]),
    ("cdcgan", ["model.consistency_real=10", "model.consistency_fake=10"]),
    ("study_acgan", ["model.consistency_real=10", "model.consistency_fake=10"]),
    ("dcgan", ["model.diff_augment_target=0.6"])])
def test_the_small_data_options_run_inside_the_replayed_graph_without_waiting(name, extra,
                                                                              tmp_path):
    # DiffAugment's random transforms, the generator's average, LeCam's averages and R1's
    # double backward are device work: recorded with the iteration (torch's generator state
    # advances at each replay), and no host sync
    from pegasus_lab.cli.train import build
    from tests.conftest import compose_config, smoke
    cfg = compose_config("train", [*smoke(name), "trainer.accelerator=gpu",
                                   "trainer.max_epochs=1", "trainer.limit_train_batches=12",
                                   "trainer.max_steps=12", "trainer.log_every_n_steps=1000",
                                   "trainer.limit_val_batches=0", "logger=none",
                                   "speed.compile=false", "speed.compile_critic_step=false",
                                   "model.diff_augment=[color,translation,cutout]",
                                   "model.ema_decay=0.9", *extra], tmp_path)
    datamodule, model, trainer = build(cfg)
    assert model.diff_augment is not None and model.generator_ema is not None
    window = _NoSyncWindow(first=6, last=11)
    trainer.callbacks.append(window)
    try:
        trainer.fit(model, datamodule=datamodule)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert model._graphed is not None and model._graphed.recorded and not model._graphed.failed
    assert window.watched == [6, 7, 8, 9, 10]
    assert all(torch.isfinite(p).all() for p in model.parameters())


@cuda
@pytest.mark.parametrize("name", ["vae_conv", "vaegan", "dcgan", "acwgan_gp", "study_acgan"])
def test_every_method_replays_its_iteration_with_the_default_switches(name, tmp_path):
    from pegasus_lab.cli.train import build
    from tests.conftest import compose_config, smoke
    cfg = compose_config("train", [*smoke(name), "trainer.accelerator=gpu",
                                   "trainer.max_epochs=3", "trainer.limit_train_batches=4"],
                         tmp_path)
    datamodule, model, trainer = build(cfg)
    trainer.fit(model, datamodule=datamodule)
    assert model._graphed is not None and model._graphed.recorded and not model._graphed.failed
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if name == "acwgan_gp":  # its critic update compiled whole, inside the recorded graph
        assert model.critic_update_compiled is True


class _StandInGraph:
    """Replays by running the recorded function on the static inputs, writing its results into
    the static outputs, as a CUDA graph's kernels would."""

    def __init__(self, fn, static_inputs, outputs):
        self.fn, self.static_inputs, self.outputs = fn, static_inputs, outputs
        self.replays = 0

    def replay(self):
        self.replays += 1
        for k, v in self.fn(*self.static_inputs).items():
            self.outputs[k].copy_(v)


class _CpuGraphed(GraphedIteration):
    """The runner's control flow on the CPU: CUDA's stream, capture and replay stood in for."""
    warmups = 0

    @staticmethod
    def _applies(x):
        return True

    def _warmup(self, inputs):
        self.warmups += 1
        return self.fn(*inputs)

    def _capture(self, static_inputs):
        if getattr(self, "capture_fails", False):
            raise RuntimeError("operation not permitted when stream is capturing")
        outputs = {k: torch.zeros_like(v) for k, v in self.fn(*static_inputs).items()}
        return _StandInGraph(self.fn, static_inputs, outputs), outputs


def test_warm_up_then_record_once_then_replay_with_new_inputs():
    runner = _CpuGraphed(lambda x: {"y": x * 2}, warmup=2)
    results = [runner(torch.full((3,), float(i)))["y"].clone() for i in range(6)]
    assert [r[0].item() for r in results] == [0, 2, 4, 6, 8, 10]  # every call's own inputs
    assert runner.warmups == 2 and runner.recorded
    assert runner.graph.replays == 4  # the recording call and the three after it
    assert runner(torch.ones(3))["y"] is runner.static_outputs["y"]  # static: read before next


def test_other_shapes_run_eagerly_and_a_failed_recording_stays_eager():
    runner = _CpuGraphed(lambda x: {"y": x + 1}, warmup=1)
    for _ in range(3):
        runner(torch.zeros(4))
    replays = runner.graph.replays
    assert runner(torch.zeros(5))["y"].shape == (5,)  # the last, smaller batch of an epoch
    assert runner.graph.replays == replays

    failing = _CpuGraphed(lambda x: {"y": x + 1}, warmup=1)
    failing.capture_fails = True
    failing(torch.zeros(2))
    with pytest.warns(UserWarning, match="CUDA graph failed"):
        assert failing(torch.zeros(2))["y"].tolist() == [1.0, 1.0]
    assert failing.failed and not failing.recorded
    assert failing(torch.ones(2))["y"].tolist() == [2.0, 2.0]


@pytest.mark.parametrize("nhwc", [False, True])
def test_a_method_trains_through_the_runner(nhwc, monkeypatch, tmp_path):
    """WGAN-GP through run_iteration with the stand-in graph: recorded once, one counted step
    per replay, the learning rate decaying in a tensor the graph reads; under channels_last
    the recorded inputs are NHWC images, as every batch copied into them."""
    import pegasus_lab.methods.base as base

    def rate_in_tensor(optimizer, device):  # capturable=True itself needs CUDA
        for group in optimizer.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]))

    monkeypatch.setattr(base, "GraphedIteration", _CpuGraphed)
    monkeypatch.setattr(base, "make_capturable", rate_in_tensor)
    model = _tiny_wgan()
    data = ImageDataModule(SyntheticSource(num_classes=4, per_class=20, image_size=16),
                           image_size=16, batch_size=20, value_range=(-1, 1), val_fraction=0.0,
                           hflip=False, num_workers=0)
    trainer = L.Trainer(max_steps=6, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        callbacks=[SpeedUp(Speed(devices=("cpu",), cuda_graphs=True,
                                                 channels_last=nhwc))],
                        default_root_dir=tmp_path)
    trainer.fit(model, datamodule=data)
    runner = model._graphed
    assert runner.recorded and runner.warmups == 3 and runner.graph.replays == 3
    images = runner.static_inputs[0]
    assert images.ndim == 4 and images.is_contiguous(memory_format=torch.channels_last) == nhwc
    assert trainer.global_step == 6
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor) and float(lr) == pytest.approx(0.0, abs=1e-12)
    assert torch.isfinite(trainer.callback_metrics["train/critic"])


@cuda
@pytest.mark.parametrize("name", ["dcgan", "acwgan_gp"])
def test_top_k_s_share_changes_under_a_recorded_graph_at_each_epoch(name, tmp_path):
    # the share is written in place at each epoch's start, into the buffer the graph
    # recorded in the first epoch reads: no new recording, no host sync
    from pegasus_lab.cli.train import build
    from tests.conftest import compose_config, smoke
    cfg = compose_config("train", [*smoke(name), "trainer.accelerator=gpu",
                                   "trainer.max_epochs=3", "trainer.limit_train_batches=6",
                                   "trainer.max_steps=-1", "trainer.limit_val_batches=0",
                                   "logger=none", "model.top_k_decay=0.25",
                                   "model.top_k_least=0.01"], tmp_path)
    datamodule, model, trainer = build(cfg)
    trainer.fit(model, datamodule=datamodule)
    assert model._graphed is not None and model._graphed.recorded and not model._graphed.failed
    assert model.top_k.share.item() == 0.25 ** 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
