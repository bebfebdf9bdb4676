"""Stores the run's resolved config (and the data's class names) in every checkpoint, as plain
data, so `pegasus-sample` can rebuild the model through its `_target_` and the file stays
loadable with weights_only; the scheduler's job that trains it, so that the job, requeued,
knows its own checkpoint, and the run's overrides, so that a multirun continued in its folder
knows each job's setting (`resume.resume_path`)."""
from __future__ import annotations

from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.checkpoints import CLASSES_KEY, CONFIG_KEY, JOB_KEY, OVERRIDES_KEY
from pegasus_lab.resume import hydra_overrides, scheduler_job


class ConfigInCheckpoint(Callback):
    def __init__(self, config: DictConfig | dict) -> None:
        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
        self.config = config
        self.job = scheduler_job()
        self.overrides = hydra_overrides()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config
        if self.job is not None:
            checkpoint[JOB_KEY] = self.job
        if self.overrides is not None:
            checkpoint[OVERRIDES_KEY] = self.overrides
        classes = getattr(trainer.datamodule, "classes", None)
        if classes is not None:  # class names for figures and explorers, without the data
            checkpoint[CLASSES_KEY] = list(classes)
