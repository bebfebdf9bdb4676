"""What every generative method shares: its pixel range, latent sampling, optimizer building and
starting from another run's weights. Each method's update rule stays in its own module."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch

from pegasus_lab.checkpoints import load_checkpoint, misfit, state_dict_of
from pegasus_lab.data.transforms import check_range, to_unit
from pegasus_lab.errors import CheckpointError, ConfigError, from_settings
from pegasus_lab.methods.step_graph import GraphedIteration, make_capturable
from pegasus_lab.speed import Speed, images_channels_last


def factory_name(factory: Callable) -> str:
    """The class or function a `_partial_: true` config calls (torch.optim.Adam → 'Adam')."""
    return getattr(getattr(factory, "func", factory), "__name__", repr(factory))


def factory_key(factory: Callable, default: str) -> str:
    """Where in the config a factory comes from (`model.optimizer`), as Hydra recorded it."""
    return getattr(factory, "_hydra_full_key", None) or default


FACTORY_EXAMPLES = {"optimizer": "{_target_: torch.optim.Adam, _partial_: true, lr: 1e-3}",
                    "scheduler": "{_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, "
                                 "step_size: 30}"}


def require_factory(factory, key: str):
    """`factory` if it can be called (a `_partial_: true` config), else a config error; a
    name such as `model.scheduler=cosine` is not one."""
    if not callable(factory):
        example = FACTORY_EXAMPLES.get(key)
        raise ConfigError(f"{key} must be a config with a _target_ and `_partial_: true`"
                          + (f", e.g. {example}" if example else "") + f"; got {factory!r}")
    return factory


def call_factory(factory: Callable, key: str, **arguments):
    """`factory(**arguments)` (an optimizer or scheduler of the config), with the config's own
    mistakes as config errors: a value torch refuses (`lr=-1`), a key the class does not take
    (`+model.optimizer.lrr=1`) or one it needs left out. `factory` passed `require_factory`."""
    try:
        return from_settings(factory, factory_key(factory, key), arguments,
                             factory_name(factory))
    except ValueError as err:  # torch's own checks of the config's values (lr, betas, …)
        raise ConfigError(f"{factory_name(factory)} refuses the model's {key} settings: "
                          f"{err}") from err


class GenerativeModule(L.LightningModule):
    # the config key that sets a class-conditional model's class count
    classes_key = "model.generator.num_classes"

    def __init__(self, latent_dim: int, input_range: Sequence[float] = (0.0, 1.0)) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.latent_dim = int(latent_dim)
        self.input_range = check_range(input_range)
        # the speed switches that apply to this run (set by callbacks.speed.SpeedUp; all off
        # when the module is used alone)
        self.speed = Speed.plain()
        self._graphed: GraphedIteration | None = None
        # the global step whose losses were last logged (None: none yet)
        self.logged_at_step: int | None = None

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in `input_range` from latents."""
        raise NotImplementedError

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """`generate`: what Lightning's model summary runs on `example_input_array`."""
        return self.generate(z, labels)

    @property
    def example_input_array(self):
        """One latent (with class 0 for a class-conditional model: no random label drawn, so
        the summary leaves the run's random stream as it was): the model summary's FLOPs and
        sizes are those of generating one image."""
        z = torch.zeros(1, self.latent_dim)
        return (z, torch.zeros(1, dtype=torch.long)) if getattr(self, "num_classes", 0) else z

    @example_input_array.setter
    def example_input_array(self, example) -> None:  # LightningModule.__init__ sets None
        pass

    def to_unit(self, images: torch.Tensor) -> torch.Tensor:
        return to_unit(images, self.input_range)

    def in_network_layout(self, batch):
        """`batch` with its images laid out as the networks' weights: NHWC under
        speed.channels_last. Real images then meet the weights and the generated images in one
        layout: no layout copy where a step starts, and a compiled discriminator sees real and
        fake batches alike (paper-3 compiled a graph for each). Applied where an iteration
        starts (`run_iteration`), not in Lightning's `on_after_batch_transfer`, which warns in
        every run that has a data module."""
        return images_channels_last(batch) if self.speed.channels_last else batch

    def build_optimizer(self, factory: Callable, params) -> torch.optim.Optimizer:
        options = self.speed.optimizer_options(require_factory(factory, "optimizer"))
        return call_factory(factory, "optimizer", params=params, **options)

    def compilable_networks(self) -> list[str]:
        """Names of the networks torch.compile may wrap: never one that a double backward
        passes through (a gradient penalty's critic), which compiled graphs do not support."""
        return []

    # whether a step runs several backward passes through one graph (retain_graph=True)
    retains_graph = False

    # values the progress bar shows, logged with logger=False (not prog_bar=True: Lightning
    # reads prog-bar values back to Python after every batch, a host sync per step on a GPU);
    # callbacks/progress_bar.py reads them in the steps that log them
    progress_bar_keys: tuple[str, ...] = ()

    @property
    def method_name(self) -> str:
        """The method as messages to the user name it: the class's name, unless one class
        serves several methods (paper-4's GAN is AC-GAN's class without classes)."""
        return type(self).__name__

    def log_for_progress_bar(self, name: str, value: torch.Tensor, **kwargs) -> None:
        """Log one of `progress_bar_keys` for the bar: with logger=False for a bar that reads
        those keys itself in the steps that log them (callbacks/progress_bar.py); with
        prog_bar=True for any other bar (Lightning's own, Rich), which then shows the value at
        the cost of Lightning's read-back after every batch; without a bar, for nobody."""
        bar = self._trainer.progress_bar_callback if self._trainer is not None else None
        other_bar = bar is not None and not getattr(bar, "reads_progress_bar_keys", False)
        self.log(name, value, logger=False, prog_bar=other_bar, **kwargs)

    def logging_due(self) -> bool:
        """Whether this step's losses reach anyone: every step, or with speed.sparse_logging
        only on the steps the logger writes (trainer.log_every_n_steps), so the other steps
        spend no time or host syncs on values nobody sees."""
        due = (not self.speed.sparse_logging or self._trainer is None
               or bool(self.trainer._logger_connector.should_update_logs))
        if due:  # what the progress bar shows is new (callbacks/progress_bar.py)
            self.logged_at_step = self.global_step
        return due

    def run_backward(self, loss: torch.Tensor, **kwargs) -> None:
        """loss.backward through Lightning when attached to a Trainer (precision, strategy),
        plainly otherwise (unit tests). kwargs: inputs=…, retain_graph=…"""
        if self._trainer is not None:
            self.manual_backward(loss, **kwargs)
        else:
            loss.backward(**kwargs)

    # -- several networks, several backward passes, and DDP -------------------------------
    # DDP's reducer expects one backward per forward; these methods run several per step, each
    # for one network. So DDP's automatic gradient sync is switched off and each optimizer's
    # gradients are averaged across ranks just before it steps.
    def on_train_batch_start(self, batch, batch_idx) -> None:
        # Lightning re-enables DDP's sync after every step's forward: off again before each
        ddp = getattr(self.trainer.strategy, "model", None)
        if isinstance(ddp, torch.nn.parallel.DistributedDataParallel):
            ddp.require_backward_grad_sync = False

    def on_train_start(self) -> None:
        if self.trainer.world_size > 1:  # the same weights everywhere, different noise per rank
            torch.manual_seed(torch.initial_seed() + self.trainer.global_rank)

    def sync_gradients(self, optimizer) -> None:
        """Average the gradients of `optimizer`'s parameters across ranks (no-op alone)."""
        if self._trainer is None or self.trainer.world_size < 2:
            return
        import torch.distributed as dist
        grads = [p.grad for group in getattr(optimizer, "optimizer", optimizer).param_groups
                 for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.trainer.world_size
        for g, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            g.copy_(synced)

    def step_without_counting(self, optimizer) -> None:
        """Step an optimizer (after syncing its gradients across ranks) without advancing
        trainer.global_step: `run_iteration` counts one step per iteration however many
        networks it updates (Lightning counts every LightningOptimizer.step in manual
        optimization). Needs fp32 or bf16: fp16's gradient scaler is bypassed here, which
        `check_precision` guards against."""
        self.sync_gradients(optimizer)
        getattr(optimizer, "optimizer", optimizer).step()

    # -- one training iteration, optionally recorded as a CUDA graph --------------------------
    def iteration(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """A method's whole update on one batch, as pure device work (no host syncs, no
        logging), stepping every optimizer with `step_without_counting`; returns the detached
        losses. Methods that define it train through `run_iteration`."""
        raise NotImplementedError

    def graphable(self, *inputs: torch.Tensor) -> bool:
        """Whether this step's iteration can be recorded (static shapes, device work only)."""
        return True

    def run_iteration(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """`iteration(*inputs)`, replayed as one CUDA graph when speed.cuda_graphs applies
        (methods/step_graph.py), then counted as one training step (trainer.global_step)."""
        inputs = self.in_network_layout(inputs)
        runner = self._graph_runner(inputs)
        out = runner(*inputs) if runner is not None else self.iteration(*inputs)
        optimizers = self.optimizers()
        self.count_step(optimizers[0] if isinstance(optimizers, list) else optimizers)
        return out

    def _graph_runner(self, inputs) -> GraphedIteration | None:
        if not self.speed.cuda_graphs or not GraphedIteration._applies(inputs[0]):
            return None
        if self.trainer.world_size > 1 or not self.graphable(*inputs):
            return None  # DDP's all-reduce / data drawn inside the step: eager
        if self._graphed is None:
            optimizers = self.optimizers()
            for opt in optimizers if isinstance(optimizers, list) else [optimizers]:
                make_capturable(getattr(opt, "optimizer", opt), inputs[0].device)
            self._graphed = GraphedIteration(self.iteration, self.speed.graph_warmup_steps)
        return self._graphed

    @staticmethod
    def count_step(optimizer) -> None:
        """Advance trainer.global_step by one as a counted `step` would, for a step that ran
        elsewhere (inside a replayed CUDA graph): the manual-optimization loop counts through
        the LightningOptimizer's before/after hooks."""
        for hook in ("_on_before_step", "_on_after_step"):
            getattr(optimizer, hook, lambda: None)()

    def check_classes_match_data(self) -> None:
        """A class-conditional model must have as many classes as its data."""
        k = int(getattr(self, "num_classes", 0) or 0)
        dm = self.trainer.datamodule
        if k and dm is not None and dm.num_classes != k:
            raise ConfigError(f"the data has {dm.num_classes} classes, the model {k}: set "
                              f"{self.classes_key}={dm.num_classes}")

    def check_precision(self) -> None:
        precision = str(getattr(self.trainer, "precision", "32"))
        if precision.startswith("16"):
            raise ConfigError(f"{self.method_name} updates several networks per step and "
                              f"supports 32 or bf16 precision, not {precision}")

    def load_initial_weights(self, path: str) -> None:
        """Start from the network weights of another run (e.g. paper-1's stage 1)."""
        state = state_dict_of(path, load_checkpoint(path))
        # the other run may hold networks this model lacks: those are left out, not an error
        wrong = misfit(self.state_dict(), state, unexpected_too=False)
        if wrong:
            raise CheckpointError(f"weights in {path} do not fit this model: {wrong}")
        self.load_state_dict(state, strict=False)
