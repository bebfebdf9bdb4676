"""Callbacks the tests inject into real runs (importable by subprocesses run from the repo)."""
import hashlib
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


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
