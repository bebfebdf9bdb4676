"""Speed switches (the performance issue): ways to run the same training faster on a GPU.

Each switch is a field of `Speed`; conf/speed/fast.yaml (the default) turns them on,
conf/speed/plain.yaml turns them all off (the unoptimised path, for comparisons). They act only
on the device types listed in `devices` (the GPU by default): on the CPU a run is the plain one,
so CPU results and tests do not depend on them unless a test asks for it; conf/speed/cpu.yaml
lists the CPU instead, with the switches that pay there.

- cudnn_benchmark: let cuDNN time its algorithms once per input shape (shapes are static here).
- tf32: TensorFloat-32 for fp32 matmuls and convolutions (Ampere and later).
- channels_last: networks' 4-D weights (hence activations) in NHWC, the layout tensor cores use,
  and the image batches too (`images_channels_last`), so that no step starts with a layout copy
  and a compiled network sees real and generated images alike (one graph, not two).
- bf16: train under bfloat16 autocast (Lightning's precision "bf16-mixed"); no loss scaler is
  needed, which the multi-optimizer methods rely on.
- fused_optimizers: one fused kernel per optimizer step where the optimizer offers it (Adam…).
- cuda_graphs: every method records its whole training iteration (all its networks' updates)
  once and replays it (methods/step_graph.py); the gradient penalty's double backward is fine
  in a graph.
- compile: torch.compile for every network no double backward passes through (VAE, VAE-GAN,
  DCGAN, AC-GAN, and WGAN's generator; not a WGAN-GP critic, whose gradient penalty is
  differentiated twice), for its calls in training mode (`compile_training_calls`); the
  parameter names, hence checkpoints, stay the same. Its
  `compile_mode` may not be one that records CUDA graphs of its own (reduce-overhead,
  max-autotune) while cuda_graphs records the whole iteration: a clear error says so.
- compile_critic_step: a WGAN-GP critic update's loss and gradients (the gradient penalty's
  double backward included) written with torch.func transforms (WGAN.critic_gradients) and
  compiled whole with torch.compile, which it cannot do through autograd.grad(create_graph):
  the elementwise and reduction tail of forward, backward and double backward fused.
- fused_layers: exact rewrites of layer pairs (nets/fused_ops.py: conv + mean pool as one
  strided conv, nearest upsampling + conv as one sub-pixel transposed conv), same parameters.
- fused_norms: layer norms (paper-2's critic) computed by torch's layer_norm kernels instead of
  group_norm, the same function (nets/layer_norm.py), with the double backward the gradient
  penalty needs written in closed form: 36 operators per layer instead of 85, and
  channels_last input read without a copy.
- sparse_logging: log training losses only on the steps the logger writes
  (trainer.log_every_n_steps): no per-step Python work or host syncs for values nobody sees.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence

import torch
from lightning_utilities.core.apply_func import apply_to_collection

from pegasus_lab.errors import ConfigError, require_bool

SWITCHES = ("cudnn_benchmark", "tf32", "channels_last", "bf16", "fused_optimizers",
            "cuda_graphs", "compile", "compile_critic_step", "sparse_logging", "fused_layers",
            "fused_norms")

# torch.compile modes whose Inductor settings record CUDA graphs (triton.cudagraphs)
GRAPHING_COMPILE_MODES = ("reduce-overhead", "max-autotune")


@dataclasses.dataclass(frozen=True)
class Speed:
    devices: tuple[str, ...] = ("cuda",)
    cudnn_benchmark: bool = False
    tf32: bool = False
    channels_last: bool = False
    bf16: bool = False
    fused_optimizers: bool = False
    cuda_graphs: bool = False
    compile: bool = False
    compile_critic_step: bool = False
    sparse_logging: bool = False
    fused_layers: bool = False
    fused_norms: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None
    graph_warmup_steps: int = 3

    def __post_init__(self) -> None:
        for switch in SWITCHES:
            require_bool(f"speed.{switch}", getattr(self, switch))
        object.__setattr__(self, "devices", tuple(str(d) for d in self.devices))
        unknown = [d for d in self.devices if d not in ("cuda", "cpu", "mps", "xpu")]
        if unknown:
            raise ConfigError(f"speed.devices: unknown device types {unknown}; use cuda, cpu…")
        if self.cuda_graphs and (self.compile or self.compile_critic_step) \
                and self.compile_mode in GRAPHING_COMPILE_MODES:
            raise ConfigError(
                f"speed.compile_mode={self.compile_mode} records CUDA graphs of its own, which "
                f"cannot be replayed inside the whole iteration's graph (speed.cuda_graphs): "
                f"use speed.compile_mode=max-autotune-no-cudagraphs, or "
                f"speed.cuda_graphs=false to let torch.compile record its graphs instead")
        steps = self.graph_warmup_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError("speed.graph_warmup_steps must be at least 1 (the optimizers' "
                              "state must exist before an iteration is recorded)")

    @classmethod
    def plain(cls) -> Speed:
        return cls()

    def enabled(self) -> list[str]:
        return [s for s in SWITCHES if getattr(self, s)]

    def on(self, device: torch.device | str) -> Speed:
        """These settings as they apply to `device`: all off for a device type not listed
        (or one torch has no device for, e.g. Lightning's `tpu`: the Trainer says whether the
        accelerator exists)."""
        try:
            kind = torch.device(device).type
        except RuntimeError:
            kind = str(device)
        if kind in self.devices:
            return self
        return dataclasses.replace(self, **{s: False for s in SWITCHES})

    @staticmethod
    def device_type(accelerator: str | None) -> str:
        """The device type a Trainer with this accelerator will train on."""
        accelerator = str(accelerator or "auto")
        if accelerator in ("gpu", "cuda"):
            return "cuda"
        if accelerator == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return accelerator

    def precision(self, device_type: str) -> str:
        """Lightning's precision for a run on `device_type`."""
        return "bf16-mixed" if self.on(device_type).bf16 else "32-true"

    def apply_backend(self) -> None:
        """Process-wide backend flags (cuDNN autotuning, TF32)."""
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        precision = "tf32" if self.tf32 else "ieee"
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            torch.backends.cuda.matmul.fp32_precision = precision
            torch.backends.cudnn.conv.fp32_precision = precision
        else:  # torch < 2.9
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
            torch.backends.cudnn.allow_tf32 = self.tf32

    def optimizer_options(self, factory: Callable) -> dict:
        """Keyword arguments that make `factory`'s optimizer fused, where it offers that."""
        if not self.fused_optimizers:
            return {}
        cls = getattr(factory, "func", factory)
        params = inspect.signature(cls.__init__).parameters if inspect.isclass(cls) else {}
        given = getattr(factory, "keywords", {}) or {}
        if "fused" in given or "foreach" in given:  # the config decided
            return {}
        if "fused" in params:
            return {"fused": True}
        return {"foreach": True} if "foreach" in params else {}


def channels_last(modules: Sequence[torch.nn.Module]) -> None:
    """Store the 4-D weights of `modules` in NHWC (in place; parameters stay the same objects,
    so optimizers built before or after keep working)."""
    for m in modules:
        m.to(memory_format=torch.channels_last)


def images_channels_last(batch):
    """`batch` (a tensor or a collection of them) with its 4-D tensors, the image batches, in
    NHWC as the networks' weights are under `channels_last`; labels and the rest as they are."""
    def nhwc(t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t
    return apply_to_collection(batch, torch.Tensor, nhwc)


def logs_sparsely(pl_module) -> bool:
    """Whether a method logs its losses only on the steps the logger writes (its applied
    `speed.sparse_logging`); False for a module without speed settings."""
    return bool(getattr(getattr(pl_module, "speed", None), "sparse_logging", False))


def compile_training_calls(module: torch.nn.Module, **options) -> None:
    """torch.compile `module` (as `module.compile(**options)` would: the parameter names stay)
    for its calls in training mode, the training steps', and leave its calls in eval mode —
    validation, the sanity check, sampling, figures, FID — eager. Each of those would compile
    graphs of its own (batch norm on running statistics, no autograd, other batch sizes): 10 of
    paper-0's 15 graphs at the start of a run, for a few batches per epoch."""
    module.compile(**options)
    module._compiled_call_impl = _TrainingCallsCompiled(module, module._compiled_call_impl)


class _TrainingCallsCompiled:
    """What a compiled module calls (nn.Module keeps it as `_compiled_call_impl`): the compiled
    call in training mode, the module's own otherwise."""

    def __init__(self, module: torch.nn.Module, compiled: Callable) -> None:
        self.module, self.compiled = module, compiled

    def __call__(self, *args, **kwargs):
        if self.module.training:
            return self.compiled(*args, **kwargs)
        return self.module._call_impl(*args, **kwargs)
