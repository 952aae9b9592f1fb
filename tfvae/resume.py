"""Resuming a killed run: an atomic epoch backup, the epochs it holds, the history cut back to them.

`tfvae.runs.train(..., resume=True)` continues from the last completed epoch
backed up in RUN/backup and appends to RUN/history.csv.
"""

import csv
import json
import os

import keras

from tfvae import atomic


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose two files are each replaced atomically.

    Keras writes latest.weights.h5 in place; a SIGKILL during that write would
    leave a corrupt backup and lose the whole run, not one epoch.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        atomic.write_with(self._weights_path,
                          lambda tmp: self.model.save_weights(tmp, overwrite=True),
                          overwrite=True, suffix=".weights.h5")
        atomic.write_json(self._training_metadata_path,
                          {"epoch": self._current_epoch, "batch": self._last_batch_seen},
                          overwrite=True)


def completed_epochs(run_dir):
    """Epochs completed before the last backup of the run in `run_dir` (0 without one)."""
    path = os.path.join(run_dir, "backup", "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def truncate_history(path, epochs):
    """Keeps the header of a CSVLogger file and its complete rows for epochs before `epochs`."""
    # A kill between the backup and the CSV row (or during a half-written
    # row) must not leave rows for epochs that will be trained again.
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    keep = [r for r in body if len(r) == len(header) and r[0].isdigit() and int(r[0]) < epochs]
    atomic.write_file(path, lambda f: csv.writer(f, lineterminator="\n").writerows([header] + keep),
                      overwrite=True, newline="")
