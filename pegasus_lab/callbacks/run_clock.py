"""A run's wall time over all its parts: a resumed run goes on from the seconds its checkpoint
recorded, so summary.json (and the sweep and study tables) report the whole run, not its last
part."""
from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


class RunClock(Callback):
    def __init__(self) -> None:
        self.before = 0.0  # the earlier parts', from the checkpoint resumed
        self.started: float | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self.started = time.perf_counter()

    def seconds(self) -> float:
        """The earlier parts' seconds and this part's so far (since fit's setup)."""
        now = time.perf_counter() - self.started if self.started is not None else 0.0
        return self.before + now

    def state_dict(self) -> dict:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.before = float(state_dict["seconds"])
