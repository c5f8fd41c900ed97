"""The callbacks of a training run, and the files they keep in its output folder.

    best.keras      the model of the epoch with the best validation SRCC so far
    log.csv         one row of losses and metrics per epoch (appended to on resume)
    tensorboard/    the same for TensorBoard, when the `tensorboard` package is installed
    backup/         the last finished epoch (weights, optimizer, the epoch to start at,
                    whether training has finished), kept while the run is unfinished:
                    starting the run again resumes there

The best checkpoint is written beside its place, then renamed over it, so a run killed
while saving leaves the previous best whole. An epoch is backed up last, once it is
checkpointed and logged, and committed by one atomic write of its state, so that a run
killed at any moment leaves the last backup whole: a run killed before the commit
repeats the epoch, and the log rows of epochs the backup does not hold are dropped on
resume. On resume, the best validation SRCC of the rows kept is the bar a new checkpoint
must pass, early stopping counts the
epochs since the best one as an uninterrupted run would, and the training data of epoch
n is pass n of the pipeline, with the random streams (dropout) of epoch n. An epoch
whose validation SRCC is NaN (it scored every image alike) is never the best. Progress
is `model.fit`'s own bar.

Example:
>>> import tempfile
>>> callbacks = training_callbacks(tempfile.mkdtemp(), early_stopping_patience=5)
>>> [type(callback).__name__ for callback in callbacks if type(callback).__name__ != "TensorBoard"]
['RestoreBackup', 'RandomStreamsAtEpoch', 'ModelCheckpoint', 'PublishCheckpoint', 'EpochLog', 'FiniteEarlyStopping', 'EpochBackup']
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import shutil
import sys
import tempfile

import keras

from iqa_keras.atomic import TEMPORARY_PREFIX, write_atomic, write_json_atomic

__all__ = [
    "MONITOR",
    "BEST_MODEL",
    "EpochLog",
    "LOG",
    "BACKUP",
    "EpochBackup",
    "PublishCheckpoint",
    "RandomStreamsAtEpoch",
    "RestoreBackup",
    "StartPassesAtEpoch",
    "FiniteEarlyStopping",
    "training_callbacks",
    "logged_epochs",
    "is_resuming",
    "is_finished",
    "restore_backup",
    "discard_backup",
    "discarded_backup",
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


class EpochBackup(keras.callbacks.Callback):
    """Backs the run up at the end of each epoch: the weights and optimizer state, the epoch
    to start at, and whether training has finished (stopped early, or its last epoch).

    The weights go to a new file first; `state.json`, written atomically after them,
    names that file and so commits the backup; the weights it replaced are deleted after.
    A kill at any moment leaves the last committed backup whole. `RestoreBackup` restores
    it before the other callbacks start; the run deletes it once its last files are
    written (`discard_backup`).

    Example:
    >>> import tempfile
    >>> EpochBackup(tempfile.mkdtemp()).state() is None
    True
    """

    STATE = "state.json"

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = backup_dir
        self.state_path = os.path.join(backup_dir, self.STATE)

    def state(self) -> dict | None:
        """The committed backup's `{"epoch", "weights", "finished"}`; None without one."""
        if not os.path.isfile(self.state_path):
            return None
        with open(self.state_path, encoding="utf-8") as file:
            return json.load(file)

    def restore(self) -> None:
        """Loads the committed backup into the model, and sets the epoch `fit` starts at."""
        state = self.state()
        if state is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # its variables must exist to load
        self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        self.model._initial_epoch = state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        finished = bool(self.model.stop_training) or epoch + 1 >= (self.params or {}).get("epochs", math.inf)
        self._commit(epoch + 1, finished)

    def mark_finished(self) -> None:
        """Records that training has finished (a callback after this one stopped it)."""
        state = self.state()
        if state is not None and not state["finished"]:
            write_json_atomic(self.state_path, {**state, "finished": True})

    def _commit(self, next_epoch: int, finished: bool) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        descriptor, weights = tempfile.mkstemp(
            prefix=f"epoch{next_epoch}-", suffix=".weights.h5", dir=self.backup_dir
        )
        os.close(descriptor)
        self.model.save_weights(weights, overwrite=True)
        with open(weights, "rb") as file:
            os.fsync(file.fileno())
        state = {"epoch": next_epoch, "weights": os.path.basename(weights), "finished": finished}
        write_json_atomic(self.state_path, state)
        for name in os.listdir(self.backup_dir):  # the replaced weights, and any a kill left
            if name.endswith(".weights.h5") and name != state["weights"]:
                os.remove(os.path.join(self.backup_dir, name))


def is_finished(backup_dir: str) -> bool:
    """Whether the backup in `backup_dir` is of a run whose training has finished."""
    state = EpochBackup(backup_dir).state()
    return state is not None and state["finished"]


def restore_backup(model: keras.Model, backup_dir: str) -> None:
    """Loads the weights and optimizer state of the backup in `backup_dir` into `model`."""
    backup = EpochBackup(backup_dir)
    backup.set_model(model)
    backup.restore()


def discard_backup(backup_dir: str) -> None:
    """Deletes a finished run's backup, renamed to `discarded_backup(backup_dir)` first: a
    run killed while deleting it leaves no backup that would be taken for an unfinished
    run, only a hidden folder that the next run deletes."""
    discarded = discarded_backup(backup_dir)
    shutil.rmtree(discarded, ignore_errors=True)
    if os.path.isdir(backup_dir):
        os.replace(backup_dir, discarded)
        shutil.rmtree(discarded)


def discarded_backup(backup_dir: str) -> str:
    """Where `discard_backup` moves a backup to delete it.

    >>> discarded_backup(os.path.join("runs", "a", "backup")) == os.path.join("runs", "a", ".iqa-keras-backup")
    True
    """
    return os.path.join(os.path.dirname(backup_dir), TEMPORARY_PREFIX + os.path.basename(backup_dir))


class RestoreBackup(keras.callbacks.Callback):
    """Restores `backup` (weights, optimizer, the epoch to start at) first of all, and drops
    the log rows of the epochs it does not hold: a run killed after logging an epoch but
    before backing it up repeats that epoch. The best validation SRCC of the rows kept is
    the bar `checkpoint` (the best model's) must pass.

    Example:
    >>> import tempfile
    >>> os.path.basename(RestoreBackup(EpochBackup(tempfile.mkdtemp()), tempfile.mkdtemp()).log)
    'log.csv'
    """

    def __init__(self, backup: EpochBackup, output_dir: str | None, checkpoint=None):
        super().__init__()
        self.backup = backup
        self.log = None if output_dir is None else os.path.join(output_dir, LOG)
        self.checkpoint = checkpoint

    def on_train_begin(self, logs=None):
        self.backup.set_model(self.model)
        self.backup.restore()
        start = self.model._initial_epoch or 0
        if start:
            where = "" if self.log is None else f" {os.path.dirname(self.log)}"
            print(f"Resuming{where} from epoch {start + 1}: epochs 1-{start} restored from its backup",
                  file=sys.stderr)
        if self.log is None or not os.path.isfile(self.log):
            return
        _drop_rows_from_epoch(self.log, start)
        if self.checkpoint is not None:
            kept = [row.get(MONITOR, math.nan) for row in logged_epochs(os.path.dirname(self.log))]
            finite = [value for value in kept if math.isfinite(value)]
            # Not None: Keras would then take a first NaN as the best and never save again.
            self.checkpoint.best = max(finite, default=-math.inf)


def _drop_rows_from_epoch(path: str, epoch: int) -> None:
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    kept = rows[:1] + [row for row in rows[1:] if row and _float(row[0]) < epoch]
    if len(kept) < len(rows):
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(kept)
        write_atomic(path, lambda file: file.write(text.getvalue().encode("utf-8")))


class EpochLog(keras.callbacks.CSVLogger):
    """Keras' `CSVLogger`, but the file is opened at the first epoch's end, so that a run
    that fails before finishing an epoch (an unreadable image) leaves no empty log.

    Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> log = EpochLog(path)
    >>> log.on_train_begin()
    >>> os.path.exists(path)
    False
    >>> log.on_epoch_end(0, {"loss": 0.5}); log.on_train_end()
    >>> open(path).read().splitlines()
    ['epoch,loss,val_loss', '0,0.5,NA']
    """

    def on_train_begin(self, logs=None):
        self._opened = False

    def on_epoch_end(self, epoch, logs=None):
        if not self._opened:
            super().on_train_begin()
            self._opened = True
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self._opened:
            super().on_train_end(logs)


class StartPassesAtEpoch(keras.callbacks.Callback):
    """Numbers the training data's passes from the epoch `model.fit` starts at.

    It runs after `RestoreBackup`, which sets that epoch when resuming, so that epoch n
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


class RandomStreamsAtEpoch(keras.callbacks.Callback):
    """Starts the model's random generators (dropout's) at each epoch where an
    uninterrupted run would have them, so that a resumed run draws the same masks.

    A generator's state is its seed, fixed when the model is built, and a counter of
    draws (one per training step), which no backup keeps; epoch n starts the counter at
    `n * 2**20`.

    Example:
    >>> RandomStreamsAtEpoch.DRAWS_PER_EPOCH == 2**20
    True
    """

    DRAWS_PER_EPOCH = 2**20

    def on_epoch_begin(self, epoch, logs=None):
        for variable in self.model.variables:
            if variable.path.endswith("seed_generator_state"):
                seed = keras.ops.convert_to_numpy(variable)[0]
                variable.assign(keras.ops.convert_to_tensor([seed, epoch * self.DRAWS_PER_EPOCH], variable.dtype))


class FiniteEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` (mode "max" or "min") that takes an epoch whose monitored value is
    NaN as no improvement, and that resumes: given the run's `output_dir`, it starts from
    the best value and the epochs since it in `log.csv`'s rows before the epoch `fit`
    starts at.

    Keras' own takes a first NaN (e.g. the SRCC of an epoch that scored every image
    alike) as its best, and then no later value beats it.

    Example:
    >>> FiniteEarlyStopping(monitor="val_srcc", mode="max", patience=2).patience
    2
    """

    def __init__(self, *args, output_dir: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_dir = output_dir

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        start = self.model._initial_epoch or 0
        if self.output_dir is None or not start:
            return
        values = [row.get(self.monitor, math.nan) for row in logged_epochs(self.output_dir) if row["epoch"] < start]
        finite = [(value, index) for index, value in enumerate(values) if math.isfinite(value)]
        if finite:
            sign = -1 if self.mode == "min" else 1
            best, best_index = max(finite, key=lambda item: (sign * item[0], -item[1]))
            self.best, self.best_epoch = best, best_index
            self.wait = len(values) - 1 - best_index
        elif values:  # as uninterrupted: the first NaN epoch the best (-inf), the others no better
            self.best, self.best_epoch = (math.inf if self.mode == "min" else -math.inf), 0
            self.wait = len(values) - 1

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and not math.isfinite(value):
            logs = {**logs, self.monitor: math.inf if self.mode == "min" else -math.inf}
        super().on_epoch_end(epoch, logs)


def is_resuming(output_dir: str) -> bool:
    """Whether `output_dir` holds an unfinished run that `training_callbacks` resumes.

    Example:
    >>> import tempfile
    >>> is_resuming(tempfile.mkdtemp())
    False
    """
    return os.path.isdir(os.path.join(output_dir, BACKUP))


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
    writes_files: bool = True,
    passes=None,
) -> list[keras.callbacks.Callback]:
    """The run's callbacks, in the order they must run at the end of each epoch.

    Args:
        output_dir: the run's folder (see the module docstring).
        early_stopping_patience: epochs without a better validation SRCC before
            stopping; None never stops early.
        writes_files: False for the non-chief workers of a cluster: they write nothing,
            and restore the chief's backup (their weights are the chief's), so that every
            worker resumes at the same epoch.
        passes: the `PassCounter` of the training dataset, numbered from the epoch the
            run starts at.
    """
    resuming = is_resuming(output_dir)
    backup = EpochBackup(os.path.join(output_dir, BACKUP))
    written = os.path.join(output_dir, _UNPUBLISHED_PREFIX + BEST_MODEL)
    # The bar is set on resume, from the log rows that the backup holds.
    checkpoint = keras.callbacks.ModelCheckpoint(
        written, monitor=MONITOR, mode="max", save_best_only=True, initial_value_threshold=-math.inf
    )
    callbacks = [
        RestoreBackup(backup, output_dir if writes_files else None, checkpoint if writes_files else None),
        RandomStreamsAtEpoch(),
    ]
    if passes is not None:
        callbacks.append(StartPassesAtEpoch(passes))
    if writes_files:
        callbacks += [
            checkpoint,
            PublishCheckpoint(written, os.path.join(output_dir, BEST_MODEL)),
            EpochLog(os.path.join(output_dir, LOG), append=resuming),
        ]
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(output_dir, TENSORBOARD), write_graph=False)
            )
    if early_stopping_patience is not None:
        callbacks.append(
            FiniteEarlyStopping(monitor=MONITOR, mode="max", patience=early_stopping_patience, output_dir=output_dir)
        )
    # Last: an epoch is backed up once it is checkpointed and logged.
    return callbacks + ([backup] if writes_files else [])


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
