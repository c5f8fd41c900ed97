"""The callbacks of a training run, and the files they keep in its output folder.

    best.keras      the model of the epoch with the best validation SRCC so far
    log.csv         one row of losses and metrics per epoch (appended to on resume)
    tensorboard/    the same for TensorBoard, when the `tensorboard` package is installed
    backup/         the last finished epoch (weights, optimizer, epoch number), kept
                    while the run is unfinished: starting the run again resumes there

The best checkpoint is written beside its place, then renamed over it, so a run killed
while saving leaves the previous best whole. On resume, the best validation SRCC logged
so far is the bar a new checkpoint must pass, early stopping counts its patience from
the resumed epoch on, and the training data of epoch n is pass n of the pipeline, as
it would have been uninterrupted. An epoch whose validation SRCC is NaN (it scored every
image alike) is never the best. Progress is `model.fit`'s own bar.

Example:
>>> import tempfile
>>> callbacks = training_callbacks(tempfile.mkdtemp(), early_stopping_patience=5)
>>> [type(callback).__name__ for callback in callbacks if type(callback).__name__ != "TensorBoard"]
['BackupAndRestore', 'ModelCheckpoint', 'PublishCheckpoint', 'CSVLogger', 'FiniteEarlyStopping']
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os

import keras

__all__ = [
    "MONITOR",
    "BEST_MODEL",
    "LOG",
    "BACKUP",
    "PublishCheckpoint",
    "StartPassesAtEpoch",
    "FiniteEarlyStopping",
    "training_callbacks",
    "logged_epochs",
    "is_resuming",
]

MONITOR = "val_srcc"
BEST_MODEL = "best.keras"
LOG = "log.csv"
BACKUP = "backup"
TENSORBOARD = "tensorboard"
_UNPUBLISHED_PREFIX = ".saving-"


class PublishCheckpoint(keras.callbacks.Callback):
    """Renames a checkpoint that another callback has just written into its place.

    Example:
    >>> PublishCheckpoint(".saving-best.keras", "best.keras").target
    'best.keras'
    """

    def __init__(self, written: str, target: str):
        super().__init__()
        self.written = written
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if os.path.exists(self.written):
            os.replace(self.written, self.target)


class StartPassesAtEpoch(keras.callbacks.Callback):
    """Numbers the training data's passes from the epoch `model.fit` starts at.

    It runs after `BackupAndRestore`, which sets that epoch when resuming, so that epoch n
    trains on pass n of the pipeline whether or not the run was interrupted before it.

    Example:
    >>> from iqa_keras.data import PassCounter
    >>> StartPassesAtEpoch(PassCounter()).passes.next_pass
    0
    """

    def __init__(self, passes):
        super().__init__()
        self.passes = passes

    def on_train_begin(self, logs=None):
        # Keras' own record of the epoch to start at, set by BackupAndRestore on resume.
        self.passes.start_at(self.model._initial_epoch or 0)


class FiniteEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` (mode "max" or "min") that takes an epoch whose monitored value is
    NaN as no improvement.

    Keras' own takes a first NaN (e.g. the SRCC of an epoch that scored every image
    alike) as its best, and then no later value beats it.

    Example:
    >>> FiniteEarlyStopping(monitor="val_srcc", mode="max", patience=2).patience
    2
    """

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and not math.isfinite(value):
            logs = {**logs, self.monitor: math.inf if self.mode == "min" else -math.inf}
        super().on_epoch_end(epoch, logs)


def is_resuming(output_dir: str, backup_dir: str | None = None) -> bool:
    """Whether `output_dir` holds an unfinished run that `training_callbacks` resumes.

    Example:
    >>> import tempfile
    >>> is_resuming(tempfile.mkdtemp())
    False
    """
    return os.path.isdir(backup_dir or os.path.join(output_dir, BACKUP))


def logged_epochs(output_dir: str) -> list[dict[str, float]]:
    """The rows of the run's `log.csv` (empty without one), values as floats.

    Example:
    >>> import tempfile
    >>> logged_epochs(tempfile.mkdtemp())
    []
    """
    path = os.path.join(output_dir, LOG)
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as file:
        return [{key: _float(value) for key, value in row.items()} for row in csv.DictReader(file)]


def training_callbacks(
    output_dir: str,
    early_stopping_patience: int | None = None,
    backup_dir: str | None = None,
    writes_files: bool = True,
    passes=None,
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in the order they must run at the end of each epoch.

    Args:
        output_dir: the run's folder (see the module docstring).
        early_stopping_patience: epochs without a better validation SRCC before
            stopping; None never stops early.
        backup_dir: where this process backs its state up; default `output_dir/backup`.
            The non-chief workers of a cluster each need their own.
        writes_files: False for the non-chief workers of a cluster: then only the
            backup, the passes and early stopping remain.
        passes: the `PassCounter` of the training dataset, numbered from the epoch the
            run starts at.
    """
    backup_dir = backup_dir or os.path.join(output_dir, BACKUP)
    resuming = is_resuming(output_dir, backup_dir)
    previous = [row[MONITOR] for row in logged_epochs(output_dir) if math.isfinite(row.get(MONITOR, math.nan))]
    best_so_far = max(previous) if resuming and previous else None
    # The backup comes first: an epoch is logged only once it can be resumed from.
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True)]
    if passes is not None:
        callbacks.append(StartPassesAtEpoch(passes))
    if writes_files:
        written = os.path.join(output_dir, _UNPUBLISHED_PREFIX + BEST_MODEL)
        callbacks += [
            keras.callbacks.ModelCheckpoint(
                written,
                monitor=MONITOR,
                mode="max",
                save_best_only=True,
                # Not None: Keras would then take a first NaN as the best and never save again.
                initial_value_threshold=-math.inf if best_so_far is None else best_so_far,
            ),
            PublishCheckpoint(written, os.path.join(output_dir, BEST_MODEL)),
            keras.callbacks.CSVLogger(os.path.join(output_dir, LOG), append=resuming),
        ]
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(output_dir, TENSORBOARD), write_graph=False)
            )
    if early_stopping_patience is not None:
        callbacks.append(
            FiniteEarlyStopping(monitor=MONITOR, mode="max", patience=early_stopping_patience, baseline=best_so_far)
        )
    return callbacks


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
