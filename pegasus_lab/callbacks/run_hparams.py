"""The run's hyperparameters, logged when its first step is about to train.

A resumed run with nothing left to train (a finished run run again, as a recipe does, or one
that stays stopped early) logs nothing: TensorBoard's HPARAMS tab keeps the row its earlier
part wrote, whose `code` is the commit that trained the weights, where logging at the start of
every command would have put the commit of the command that only loaded them.

They also go to `<run>/tensorboard/hparams.yaml`, which Lightning's TensorBoard logger writes
once, when fitting starts, before they are logged (it held `{}`), and leaves alone after: it is
written again here (the CSV logger rewrites its own)."""
from __future__ import annotations

import os
from collections.abc import Mapping

import lightning as L
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger


class RunHparams(L.Callback):
    def __init__(self, hparams: Mapping[str, int | float | str | bool]) -> None:
        self.hparams = dict(hparams)
        self.logged = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.logged:
            return
        self.logged = True
        from pegasus_lab.tensorboard_hparams import write_session_start
        for lg in trainer.loggers:
            lg.log_hyperparams(self.hparams)
            if isinstance(lg, TensorBoardLogger) and trainer.is_global_zero:
                os.makedirs(lg.log_dir, exist_ok=True)
                save_hparams_to_yaml(os.path.join(lg.log_dir, lg.NAME_HPARAMS_FILE), lg.hparams)
        write_session_start(trainer, self.hparams)  # TensorBoard's HPARAMS tab
