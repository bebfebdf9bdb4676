"""The speed switches: where they apply, what they ask of Lightning and the optimizers."""
import copy
import dataclasses

import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.speed import SWITCHES, Speed, compile_training_calls
from tests.conftest import compose_config


def test_fast_preset_turns_everything_on_for_the_gpu_only():
    speed = instantiate(compose_config("train").speed)
    assert speed.devices == ("cuda",)
    assert set(speed.on("cuda").enabled()) == set(SWITCHES)
    assert speed.on("cpu").enabled() == []  # CPU runs stay the plain ones
    # an accelerator torch has no device for: off, and the Trainer says whether it exists
    assert speed.on("tpu").enabled() == [] and speed.precision(Speed.device_type("tpu")) == \
        "32-true"


def test_plain_preset_turns_everything_off():
    speed = instantiate(compose_config("train", ["speed=plain"]).speed)
    assert speed.on("cuda").enabled() == [] and speed.on("cpu").enabled() == []


def test_fast_fp32_preset_is_the_fast_one_without_bf16():
    speed = instantiate(compose_config("train", ["speed=fast_fp32"]).speed)
    assert set(speed.on("cuda").enabled()) == set(SWITCHES) - {"bf16"}
    assert speed.precision("cuda") == "32-true"


def test_cpu_preset_turns_on_what_applies_on_a_cpu_in_fp32():
    speed = instantiate(compose_config("train", ["speed=cpu"]).speed)
    # torch.compile of whole networks measured slower on a CPU (docs/performance.md); a CPU
    # step takes seconds and syncs nothing: its losses are logged every step
    assert set(speed.on("cpu").enabled()) == set(SWITCHES) - {
        "bf16", "cuda_graphs", "cudnn_benchmark", "tf32", "compile", "sparse_logging"}
    assert speed.precision("cpu") == "32-true"
    assert speed.on("cuda").enabled() == []  # a GPU run takes speed=fast
    with_bf16 = instantiate(compose_config("train", ["speed=cpu", "speed.bf16=true"]).speed)
    assert with_bf16.precision("cpu") == "bf16-mixed"


def test_precision_follows_the_bf16_switch_and_the_device():
    speed = Speed(bf16=True)
    assert speed.precision("cuda") == "bf16-mixed"
    assert speed.precision("cpu") == "32-true"
    assert Speed(bf16=True, devices=("cuda", "cpu")).precision("cpu") == "bf16-mixed"
    assert Speed().precision("cuda") == "32-true"


def test_device_type_of_accelerators():
    assert Speed.device_type("gpu") == "cuda" and Speed.device_type("cpu") == "cpu"
    assert Speed.device_type("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_fused_optimizers_where_offered():
    from functools import partial
    speed = Speed(fused_optimizers=True)
    assert speed.optimizer_options(partial(torch.optim.Adam, lr=1e-3)) == {"fused": True}
    assert speed.optimizer_options(partial(torch.optim.RMSprop, lr=1e-3)) == {"foreach": True}
    # what the config says wins
    assert speed.optimizer_options(partial(torch.optim.Adam, foreach=True)) == {}
    assert speed.optimizer_options(partial(torch.optim.Adam, fused=False)) == {}
    assert Speed().optimizer_options(partial(torch.optim.Adam)) == {}


def test_fused_adam_takes_the_same_steps():
    torch.manual_seed(0)
    a = torch.nn.Linear(6, 3)
    b = torch.nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    opts = [torch.optim.Adam(a.parameters(), 1e-2, betas=(0.0, 0.9)),
            torch.optim.Adam(b.parameters(), 1e-2, betas=(0.0, 0.9),
                             **Speed(fused_optimizers=True).optimizer_options(torch.optim.Adam))]
    for _ in range(5):
        x = torch.randn(8, 6)
        for net, opt in zip((a, b), opts):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_unknown_device_type_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown device types"):
        Speed(devices=("gpu0",))
    with pytest.raises(ConfigError, match="graph_warmup_steps"):
        Speed(graph_warmup_steps=0)
    with pytest.raises(ConfigError, match="graph_warmup_steps"):
        Speed(graph_warmup_steps="3")


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_given_as_text_is_a_clear_error(switch):
    """`speed.bf16=flase` reaches the config as the text 'flase', which is truthy: refused,
    not run in bf16."""
    with pytest.raises(ConfigError, match=f"^speed.{switch} must be true or false, got 'flase'$"):
        Speed(**{switch: "flase"})


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
def test_compile_modes_that_record_graphs_clash_with_the_iteration_graph(mode):
    with pytest.raises(ConfigError, match="max-autotune-no-cudagraphs"):
        Speed(cuda_graphs=True, compile=True, compile_mode=mode)
    with pytest.raises(ConfigError, match="cuda_graphs=false"):
        Speed(cuda_graphs=True, compile_critic_step=True, compile_mode=mode)
    Speed(cuda_graphs=False, compile=True, compile_mode=mode)  # torch.compile records them
    Speed(cuda_graphs=True, compile=True, compile_mode="max-autotune-no-cudagraphs")


def test_backend_flags_are_set_and_reset():
    try:
        Speed(cudnn_benchmark=True, tf32=True).apply_backend()
        assert torch.backends.cudnn.benchmark
        Speed().apply_backend()
        assert not torch.backends.cudnn.benchmark
    finally:
        Speed().apply_backend()


def test_every_switch_is_a_field():
    fields = {f.name for f in dataclasses.fields(Speed)}
    assert set(SWITCHES) <= fields


class _ConvNormNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


def test_compiled_networks_compile_their_training_calls_only():
    # validation, sampling and figures call the networks in eval mode, under no_grad, at other
    # batch sizes: each would be a graph of its own to compile, for a few batches per epoch
    from torch._dynamo.testing import CompileCounter
    torch.manual_seed(0)
    net = _ConvNormNet()
    eager = copy.deepcopy(net)
    names = [n for n, _ in net.named_parameters()]
    counter = CompileCounter()
    compile_training_calls(net, backend=counter)
    assert [n for n, _ in net.named_parameters()] == names  # checkpoints stay the same
    x = torch.randn(8, 3, 6, 6)
    assert torch.allclose(net(x), eager(x), atol=1e-6)  # training mode: compiled
    assert counter.frame_count == 1
    net.eval()
    eager.eval()
    with torch.no_grad():
        for batch in (x, x[:3]):  # eval mode, no autograd, another batch size: eager
            assert torch.allclose(net(batch), eager(batch), atol=1e-6)
    assert counter.frame_count == 1
    net.train()
    net(x).sum().backward()
    assert counter.frame_count == 1 and net.conv.weight.grad is not None  # the same graph again


def test_a_copy_of_a_compiled_network_computes_with_its_own_weights():
    # (nn.Module leaves the compiled call out of what it copies; the EMA copies a generator)
    from torch._dynamo.testing import CompileCounter
    net = _ConvNormNet()
    compile_training_calls(net, backend=CompileCounter())
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.conv.weight.zero_(), twin.conv.bias.fill_(1.0)
    x = torch.randn(4, 3, 6, 6)
    assert not torch.allclose(twin(x), net(x))  # not the original's compiled call
    assert torch.equal(twin.conv(x), torch.ones(4, 4, 4, 4))
