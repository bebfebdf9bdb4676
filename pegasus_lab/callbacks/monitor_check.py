"""A misspelt validation monitor (`callbacks.model_checkpoint.monitor=val/los`), said after the
sanity check's few validation batches, before training. Lightning says it only where the
monitor is first read: after the first epoch, which for a paper's run can take many
minutes. Monitors outside val/ (a training loss) are logged later and left to Lightning, as
is a run without a sanity check (trainer.num_sanity_val_steps=0, or a resumed run)."""
from __future__ import annotations

from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from pegasus_lab.errors import ConfigError


class MonitorCheck(Callback):
    def on_sanity_check_end(self, trainer, pl_module) -> None:
        logged = sorted(name for name in trainer.callback_metrics if name.startswith("val/"))
        if not logged:  # nothing validated (no batches): no way to tell yet
            return
        for c in trainer.callbacks:
            kind = ("ModelCheckpoint" if isinstance(c, ModelCheckpoint) else
                    "EarlyStopping" if isinstance(c, EarlyStopping) else None)
            monitor = getattr(c, "monitor", None) if kind else None
            if monitor and monitor.startswith("val/") and monitor not in logged:
                raise ConfigError(f"{kind}(monitor={monitor!r}): {pl_module.method_name} "
                                  f"logs no {monitor}; its validation logs {', '.join(logged)} (a "
                                  f"misspelt monitor?)")
