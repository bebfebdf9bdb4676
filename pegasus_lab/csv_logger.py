"""Lightning's CSV logger, but a run resumed in its own folder continues its metrics.csv.

Lightning's writer deletes an existing metrics.csv when it starts, so `resume=true` in place
(hydra.run.dir=<the run>) lost every row logged before the resume. Here the file is kept and
its header read: rows are appended under it, and a name new to the file widens the header
(Lightning rewrites the file with the wider header, keeping its rows). The rows of the steps
the resumed run trains again are dropped first (`resumed_logs`)."""
from __future__ import annotations

import csv

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from pegasus_lab.atomic import write_csv


class ContinuingExperimentWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:  # called once, when the writer starts
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = sorted(next(csv.reader(file), []))

    def drop_from(self, step: int) -> int:
        """Remove the file's rows of steps ≥ `step`, which a run resumed at `step` logs again;
        returns how many went. The file is replaced whole (a kill leaves the old one)."""
        path = self.metrics_file_path
        if not self._fs.isfile(path):
            return 0
        with self._fs.open(path, "r", newline="") as file:
            reader = csv.DictReader(file)
            rows, columns = list(reader), reader.fieldnames or []
        kept = [r for r in rows if not r.get("step") or int(float(r["step"])) < step]
        if len(kept) < len(rows):
            write_csv(path, kept, columns)
        return len(rows) - len(kept)


class ContinuingCSVLogger(CSVLogger):
    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
