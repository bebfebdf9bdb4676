"""Callbacks the tests inject into real runs (importable by subprocesses run from the repo),
a recorder of the copies an operation makes, a folder that refuses new files, and a few
training steps of a model built from a config."""
import errno
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import torch
from lightning.pytorch.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode


class ParamDigest(Callback):
    """Writes a digest of the weights each rank ends with: equal digests across ranks mean the
    gradients of every optimizer were synchronised."""

    def on_train_end(self, trainer, pl_module):
        h = hashlib.sha256()
        # parameters only: batch-norm running statistics are each rank's own until DDP
        # broadcasts rank 0's at the next forward
        for name, p in sorted(pl_module.named_parameters()):
            if "generator_ema" not in name:
                h.update(name.encode())
                h.update(p.detach().cpu().to(torch.float64).numpy().tobytes())
        out = Path(trainer.default_root_dir) / f"digest_rank{trainer.global_rank}.txt"
        out.write_text(h.hexdigest() + "\n")


class ScriptedFID(Callback):
    """Makes this process's FID return `scores` in turn (rank zero is the one that computes
    it), for a run whose curve must take a known course."""

    def __init__(self, scores):
        from pegasus_lab.metrics import distances
        remaining = iter(list(scores))
        distances.fid = lambda *args, **kwargs: next(remaining)


class Copy(NamedTuple):
    operator: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    node: str  # the autograd node running it ("" outside a backward)
    source: str  # the device type copied from
    target: str  # … and to


class CopyRecorder(TorchDispatchMode):
    """Records every operator that copies a tensor (a change of layout, dtype or device: on
    a GPU a kernel or transfer and a memory pass of its own) run inside it."""
    OPERATORS = frozenset({"clone", "copy_", "_to_copy", "contiguous"})

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[Copy] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._overloadpacket.__name__
        if name in self.OPERATORS:
            node = torch._C._current_autograd_node()
            source = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "")
            if name == "copy_":  # copy_(destination, source)
                source = args[1].device.type
            self.copies.append(Copy(name, tuple(out.shape), out.dtype,
                                    node.name() if node is not None else "", source,
                                    out.device.type))
        return out


class InterruptAt(Callback):
    """Raises KeyboardInterrupt, what Ctrl-C raises, as training step `step` starts."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class InterruptOnBuild(Callback):
    """Raises KeyboardInterrupt as the run is built, before training: Ctrl-C while the data
    or the model is being set up."""

    def __init__(self) -> None:
        raise KeyboardInterrupt


class TerminateAt(Callback):
    """Sends this process SIGTERM (`kill`, `timeout`, a container stopped) as training step
    `step` starts."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            import os
            import signal
            os.kill(os.getpid(), signal.SIGTERM)


class TerminateOnTrainStart(Callback):
    """Sends this process SIGTERM as training starts, before the callbacks after it start: a
    `kill` while the FID curve reads the training set's features."""

    def on_train_start(self, trainer, pl_module) -> None:
        import os
        import signal
        os.kill(os.getpid(), signal.SIGTERM)


def refuse_new_files(monkeypatch, error: int = errno.EROFS) -> None:
    """Creating a file fails as in a read-only (EROFS) or another user's (EACCES) folder, which
    permissions alone would not do for root."""
    real_open = os.open

    def refusing(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(error, os.strerror(error), str(path))
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, "open", refusing)


def fit_steps(cfg, root: Path, steps: int, model=None, epochs: int | None = None):
    """`steps` CPU training steps of `model` (built from `cfg.model` when None) on `cfg.data`,
    or fewer where `epochs` end first, without logger, checkpoints or validation; the
    trainer."""
    import lightning as L
    from hydra.utils import instantiate
    model = model if model is not None else instantiate(cfg.model)
    trainer = L.Trainer(max_steps=steps, max_epochs=epochs, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        default_root_dir=root)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    return trainer
