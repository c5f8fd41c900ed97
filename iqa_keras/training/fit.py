"""Training from a config, and fine-tuning a saved model on the user's own images.

`train(config)`: records -> split by content (or the official split) -> tf.data
pipelines -> model, built under the distribution strategy and precision policy ->
AdamW with warm-up and cosine decay, the config's weighted losses, SRCC and PLCC
metrics -> `model.fit` with the callbacks of `iqa_keras.training.callbacks` -> the
best checkpoint evaluated on the test part. Model kinds differ only in how they are
built (`ModelConfig.build`) and compiled (`compile_model`): a `HallucinatedIQA` gets
one optimizer per part and trains as a GAN on references (recipe (a)), or, built
from `model.pretrained`, trains its regressor alone (recipe (b)). The output folder
then holds:

    config.yaml     the resolved config (written first; a resumed run must match it)
    best.keras      the best model by validation SRCC
    log.csv, tensorboard/
    metrics.json    the test part's SRCC, KRCC, PLCC, RMSE and the best epoch

`finetune(...)`: a saved model, a CSV of the user's rated images -> held-out part by
content -> its SRCC/PLCC before -> `model.fit` on the rest (encoder frozen if asked)
-> its SRCC/PLCC after -> the fine-tuned model saved.

Example:
>>> TrainResult.__dataclass_fields__.keys() >= {"output_dir", "best_model_path", "metrics"}
True
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from iqa_keras.data import (
    DatasetError,
    PassCounter,
    PipelineConfig,
    Record,
    read_dataset,
    split_by_content,
    training_dataset,
)
from iqa_keras.atomic import claim_output_folder, save_model_atomic, write_json_atomic
from iqa_keras.evaluation import Evaluation, evaluate
from iqa_keras.loading import load
from iqa_keras.models import HallucinatedIQA
from iqa_keras.training import callbacks as run_files
from iqa_keras.training.compiling import compile_model
from iqa_keras.training.config import (
    ConfigError,
    GanConfig,
    OptimizerConfig,
    TrainingConfig,
    build_model,
    config_to_dict,
    load_config,
    read_parts,
    save_config,
)
from iqa_keras.training.precision import precision_policy
from iqa_keras.training.strategy import is_chief, make_strategy
from iqa_keras.training.validation import ImageValidation, predict_scores

__all__ = [
    "TrainResult",
    "FinetuneResult",
    "train",
    "train_from_file",
    "finetune",
    "compile_model",
]

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
FINETUNED_MODEL = "finetuned.keras"
FINETUNE_REPORT = "finetune.json"
_MULTIWORKER_UNSUPPORTED = (
    "is multiworker, which Keras 3.15's TensorFlow trainer cannot run: it rejects "
    "MultiWorkerMirroredStrategy's first batch for every model (keras-team/keras#20329, 'Attempt to "
    "convert a value (PerReplica ...) to a Tensor'). On one machine, strategy: mirrored trains over all "
    "its GPUs; over several machines, Keras' distribution API on the JAX backend "
    "(keras.distribution.DataParallel) is the working route, which iqa-keras train does not drive yet."
)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What `train` did.

    Attributes:
        output_dir: the run's folder.
        best_model_path: the best checkpoint (by validation SRCC).
        metrics: what `metrics.json` holds (test numbers, best epoch, ...); empty on
            the non-chief workers of a cluster, which write no files.
        history: `model.fit`'s history of this call (a resumed run: the epochs since).
        model: the model as `model.fit` left it (the last epoch's, not the best).
    """

    output_dir: str
    best_model_path: str
    metrics: dict
    history: dict
    model: keras.Model

    def summary(self) -> str:
        """Two lines for a terminal: where the best model is, and how it scores."""
        test = self.metrics.get("test")
        if not test:
            return f"best model: {self.best_model_path}"
        return (
            f"best model: {self.best_model_path} (epoch {self.metrics['best_epoch']}, "
            f"val_srcc {self.metrics['best_val_srcc']:.4f})\n"
            f"{self.metrics['evaluated_on']} part, {test['n']} images: SRCC {test['srcc']:.4f}  "
            f"KRCC {test['krcc']:.4f}  PLCC {test['plcc']:.4f}  RMSE {test['rmse']:.4f}"
        )


@dataclasses.dataclass(frozen=True)
class FinetuneResult:
    """What `finetune` did: the held-out part's numbers before and after.

    Example:
    >>> before = Evaluation(0.5, 0.4, 0.55, 0.5, 0.2, 6)
    >>> after = Evaluation(0.75, 0.6, 0.8, 0.7, 0.1, 6)
    >>> print(FinetuneResult("out/finetuned.keras", before, after, ["encoder_small"]).table())
    held-out images: 6
            before   after
    SRCC    0.5000  0.7500
    PLCC    0.5500  0.8000
    """

    model_path: str
    before: Evaluation
    after: Evaluation
    frozen: list[str]

    def as_dict(self) -> dict:
        """The report as plain values: `{"model_path", "frozen", "before", "after"}`."""
        return {
            "model_path": self.model_path,
            "frozen": list(self.frozen),
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
        }

    def table(self) -> str:
        """SRCC and PLCC before and after, as a small text table."""
        lines = [f"held-out images: {self.after.n}", f"{'':6}  {'before':>6}  {'after':>6}"]
        for name in ("srcc", "plcc"):
            lines.append(
                f"{name.upper():6}  {getattr(self.before, name):6.4f}  {getattr(self.after, name):6.4f}"
            )
        return "\n".join(lines)


def train_from_file(path: str | os.PathLike, overrides=None, callbacks=None) -> TrainResult:
    """`train(load_config(path, overrides))`: what `iqa-keras train CONFIG` runs."""
    return train(load_config(path, overrides), callbacks=callbacks)


def train(config: TrainingConfig, callbacks: Sequence[keras.callbacks.Callback] | None = None) -> TrainResult:
    """Trains a model as `config` says; an interrupted run in `output_dir` resumes.

    Args:
        config: a `TrainingConfig` (see `iqa_keras.training.config`).
        callbacks: more callbacks for `model.fit`, run after the run's own.

    Returns:
        A `TrainResult`; the files are those of the module docstring.
    """
    for name, value in (("output_dir", config.output_dir), ("data.root", config.data.root)):
        if not value:
            raise ConfigError(name, "is required: set it in the config or as an override")
    try:
        config.model.check_files()
    except ConfigError as error:
        raise error.within("model") from None
    # The data first: a config the data refuses leaves the output folder as it was.
    parts = read_parts(config.data)
    _check_crops_fit(parts["train"], config.data.train)
    if config.gan is not None or config.model.name == "siamese_difference":
        _check_references(parts["train"], config)
    strategy = make_strategy(config.trainer.strategy)
    chief = is_chief(strategy)
    output_dir = config.output_dir
    if chief:
        claim_output_folder(output_dir, "output_dir", ours=run_files.is_resuming(output_dir))
    os.makedirs(output_dir, exist_ok=True)
    # One backup, the chief's: every worker restores it, so that all resume at one epoch.
    backup_dir = os.path.join(output_dir, run_files.BACKUP)
    if chief:
        shutil.rmtree(run_files.discarded_backup(backup_dir), ignore_errors=True)  # a kill while discarding
    resuming = run_files.is_resuming(output_dir)
    # Read before the model is built: its variables are initialised by a collective (the
    # chief's values broadcast), which the chief must pass before it discards the backup.
    finished = run_files.is_finished(backup_dir)  # killed after training, before its last files
    metrics_path = os.path.join(output_dir, METRICS_FILE)
    if chief and not resuming and os.path.isfile(metrics_path):
        raise ConfigError(
            "output_dir",
            f"holds a finished run ({metrics_path}), which this one would overwrite: use another "
            f"output_dir, or delete {output_dir} to train again. Received: {output_dir!r}",
        )
    if chief:
        _write_resolved_config(config, output_dir, resuming)

    with precision_policy(config.trainer.precision):
        keras.utils.set_random_seed(config.trainer.seed)
        passes = PassCounter()
        train_data = training_dataset(parts["train"], config.data.train, passes=passes)
        # Validated image by image as the test part and the command score (tiles pooled).
        image_validation = [ImageValidation(parts["validation"], config.data.evaluation)]
        # Not the dataset's cardinality: unknown (-2) when images may be skipped.
        steps_per_epoch = config.data.train.training_batches(len(parts["train"]))
        capacity = config.trainer.srcc_capacity or max(
            len(parts["train"]) * config.data.train.patches_per_image, len(parts["validation"])
        )
        with strategy.scope():
            try:
                model = build_model(config.model)
            except ConfigError as error:
                raise error.within("model") from None
            compile_model(
                model,
                config.losses,
                config.optimizer,
                steps_per_epoch,
                config.trainer.epochs,
                capacity,
                gan=config.gan,
            )
        run_callbacks = run_files.training_callbacks(
            output_dir, config.trainer.early_stopping_patience, writes_files=chief, passes=passes
        )
        if finished:
            with strategy.scope():
                run_files.restore_backup(model, backup_dir)
            history = {}
        else:
            try:
                history = model.fit(
                    train_data,
                    epochs=config.trainer.epochs,
                    callbacks=image_validation + run_callbacks + list(callbacks or []),
                    shuffle=False,  # the pipeline shuffles
                ).history
            except ValueError as error:
                if "PerReplica" in str(error) and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                    raise ConfigError("trainer.strategy", _MULTIWORKER_UNSUPPORTED) from error
                raise
            if chief:
                run_files.EpochBackup(backup_dir).mark_finished()  # stopped by a callback of the caller's
    best_model_path = os.path.join(output_dir, run_files.BEST_MODEL)
    metrics = {}
    if chief:
        metrics = _final_metrics(config, parts, best_model_path)
        write_json_atomic(metrics_path, metrics)
        run_files.discard_backup(backup_dir)  # the run is finished
    return TrainResult(output_dir, best_model_path, metrics, dict(history), model)


def finetune(
    model_path: str | os.PathLike,
    data_csv: str | os.PathLike,
    output_dir: str | os.PathLike,
    freeze_encoder: bool = True,
    learning_rate: float = 1e-5,
    epochs: int = 5,
    validation_split: float = 0.2,
    seed: int = 0,
    batch_size: int = 8,
    crop_size: int | None = 224,
) -> FinetuneResult:
    """Fine-tunes a saved model on a CSV of rated images, reporting the gain.

    The CSV is read with `read_dataset("csv", data_csv)` (columns
    `reference,distorted,score`, or `distorted,score` for a no-reference model);
    `validation_split` of its contents (reference images; images, or the CSV's `content`
    cells, for a no-reference model) are held out. The
    model is scored on them before and after fitting on the rest.

    Args:
        model_path: a `.keras` model taking `{"reference", "distorted"}`, or
            `{"distorted"}`, and returning the score.
        data_csv: the user's ratings.
        output_dir: receives `finetuned.keras`, `finetune.json` (the report) and `log.csv`.
        freeze_encoder: keep the weights of the model's encoder (its sub-model named
            `encoder...`) and train the rest; for a `HallucinatedIQA`, keep its
            generator and discriminator and train its regressor (recipe (b)). False
            trains every part, also those the saved model had frozen.
        learning_rate: the peak learning rate of every part trained (cosine decay, no
            warm-up): AdamW's of the model (a `HallucinatedIQA`'s regressor), Adam's of a
            `HallucinatedIQA`'s generator and discriminator.
        epochs: passes over the training part, 1 or more.
        validation_split: the share of contents held out, in (0, 1).
        seed: fixes the split, the crops and the initial state.
        batch_size: crops per batch.
        crop_size: side of the training crops; None trains on whole images, one per
            batch (`batch_size=1`).

    Returns:
        A `FinetuneResult`; `table()` prints the comparison, `as_dict()` gives it.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs!r}")
    if not (isinstance(validation_split, (int, float)) and 0 < validation_split < 1):
        raise ValueError(f"`validation_split` must be in (0, 1). Received: validation_split={validation_split!r}")
    if crop_size is None and batch_size != 1:
        raise ValueError(
            f"`crop_size=None` trains on whole images, whose sizes may differ: pass batch_size=1. "
            f"Received: batch_size={batch_size}"
        )
    output_dir = os.fspath(output_dir)
    saved = os.path.join(output_dir, FINETUNED_MODEL)
    if os.path.exists(saved):
        raise FileExistsError(f"output_dir {output_dir} holds an earlier result, {saved}, which finetune never "
                              "overwrites: use another output_dir, or delete it.")
    records = read_dataset("csv", data_csv)
    (parts,) = split_by_content(
        records, {"train": 1.0 - validation_split, "held_out": validation_split}, seed=seed
    )
    batches = PipelineConfig(batch_size=batch_size, crop_size=crop_size, seed=seed)
    _check_crops_fit(parts["train"], batches)
    keras.utils.set_random_seed(seed)
    model = load(model_path, compile=False)
    if len(parts["held_out"]) < 2:
        raise ValueError(
            f"`validation_split` {validation_split} of {data_csv} holds out {len(parts['held_out'])} "
            "image(s); the before/after correlations need at least 2: rate more images, or raise it"
        )
    before = evaluate(*predict_scores(model, parts["held_out"]))

    # Set either way: a saved model keeps its parts' flags (a recipe (b) model's are frozen).
    extractors = _feature_extractors(model, required=freeze_encoder)
    for part in extractors:
        part.trainable = not freeze_encoder
    frozen = [part.name for part in extractors if not part.trainable]
    train_data = training_dataset(parts["train"], batches)
    steps_per_epoch = batches.training_batches(len(parts["train"]))
    capacity = len(parts["train"])
    compile_model(
        model,
        TrainingConfig().losses,
        OptimizerConfig(learning_rate=learning_rate, warmup_epochs=0.0),
        steps_per_epoch,
        epochs,
        capacity,
        gan=GanConfig(generator_learning_rate=learning_rate, discriminator_learning_rate=learning_rate),
    )
    claim_output_folder(output_dir, "output_dir")
    model.fit(
        train_data,
        epochs=epochs,
        callbacks=[run_files.EpochLog(os.path.join(output_dir, run_files.LOG))],
        shuffle=False,  # the pipeline shuffles
    )
    after = evaluate(*predict_scores(model, parts["held_out"]))
    save_model_atomic(model, saved)
    result = FinetuneResult(saved, before, after, frozen)
    write_json_atomic(os.path.join(output_dir, FINETUNE_REPORT), result.as_dict())
    return result


def _check_crops_fit(records: Sequence[Record], config: PipelineConfig) -> None:
    """Fails before any training, naming the first image smaller than the crops after the
    config's resizing (sizes read from the file headers), rather than from inside
    `model.fit`'s pipeline. Unreadable files are left to the pipeline's `on_error`."""
    if config.crop_size is None:
        return
    crop_height, crop_width = config.crop_size
    for record in records:
        for path in (record.distorted, record.reference if config.use_reference else None):
            if path is None:
                continue
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except (OSError, ValueError):
                continue
            resized_width, resized_height = _resized_size(width, height, config)
            if resized_width < crop_width or resized_height < crop_height:
                after = "" if (width, height) == (resized_width, resized_height) else (
                    f", {resized_width}x{resized_height} after resizing")
                raise DatasetError(
                    f"Image {path} is {width}x{height} (width x height{after}), smaller than "
                    f"`crop_size` {crop_width}x{crop_height}."
                )


def _resized_size(width: int, height: int, config: PipelineConfig) -> tuple[int, int]:
    """(width, height) after the pipeline's resizing policy."""
    if config.resize_to is not None:
        return config.resize_to[1], config.resize_to[0]
    if config.resize_shorter_side is None:
        return width, height
    scale = config.resize_shorter_side / min(width, height)
    return round(width * scale), round(height * scale)


def _check_references(records: list[Record], config: TrainingConfig) -> None:
    """A full-reference model, and recipe (a), which learns the generator from references:
    the training part and the batches need references."""
    if config.data.train.use_reference and any(record.reference is not None for record in records):
        if config.model.name != "siamese_difference" or config.data.evaluation.use_reference:
            return
        raise ConfigError(
            "data.evaluation.use_reference",
            "must be true for the full-reference model siamese_difference. Received: False",
        )
    given = f"data.dataset {config.data.dataset!r} with data.train.use_reference {config.data.train.use_reference} gives none"
    if config.model.name == "siamese_difference":
        raise ConfigError("model.name", f"siamese_difference is full-reference, and {given}. Received: 'siamese_difference'")
    raise ConfigError(
        "model.pretrained",
        "is required without references (recipe (b)): joint training (recipe (a)) learns the "
        f"generator from the references, and {given}. Received: None",
    )


def _write_resolved_config(config: TrainingConfig, output_dir: str, resuming: bool) -> None:
    """Writes the resolved config; a resumed run must have the same one."""
    path = os.path.join(output_dir, CONFIG_FILE)
    if resuming and os.path.isfile(path):
        previous = config_to_dict(load_config(path))
        current = config_to_dict(config)
        # The folder itself may be named otherwise ("runs/a/" for "runs/a", or absolutely).
        same_folder = os.path.realpath(str(previous.get("output_dir"))) == os.path.realpath(output_dir)
        changed = [name for name in current if current[name] != previous.get(name)
                   and not (name == "output_dir" and same_folder)]
        if changed:
            raise ConfigError(
                changed[0],
                f"differs from the interrupted run's config in {path}, which this run would "
                f"resume (sections changed: {', '.join(changed)}). Use another `output_dir`, "
                f"or delete {os.path.join(output_dir, run_files.BACKUP)} to start afresh.",
            )
    save_config(config, path)


def _final_metrics(config: TrainingConfig, parts: dict, best_model_path: str) -> dict:
    """The best checkpoint's numbers on the test part, with the run's best epoch."""
    if not os.path.isfile(best_model_path):
        raise RuntimeError(
            f"No epoch reached a finite {run_files.MONITOR}, so no best model was saved to "
            f"{best_model_path}. See {os.path.join(config.output_dir, run_files.LOG)}."
        )
    rows = run_files.logged_epochs(config.output_dir)
    monitored = [row.get(run_files.MONITOR, math.nan) for row in rows]
    best_index = int(np.nanargmax(monitored))
    model = keras.saving.load_model(best_model_path, compile=False)
    test = evaluate(*predict_scores(model, parts["test"], config.data.evaluation))
    return {
        "dataset": config.data.dataset,
        "evaluated_on": "validation" if parts["test"] is parts["validation"] else "test",
        "best_model": run_files.BEST_MODEL,
        "best_epoch": int(rows[best_index]["epoch"]) + 1,
        "best_val_srcc": monitored[best_index],
        "epochs_logged": len(rows),
        "test": test.as_dict(),
    }


def _feature_extractors(model: keras.Model, required: bool = True) -> list[keras.Model]:
    """What `freeze_encoder` keeps: a `HallucinatedIQA`'s generator and discriminator,
    else the model's encoder sub-models (named `encoder...`, as `build_encoder` names them);
    a model without them is refused when `required`."""
    if isinstance(model, HallucinatedIQA):
        return [model.generator, model.discriminator]
    encoders = [
        layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name.startswith("encoder")
    ]
    if not encoders and required:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(
            f"`freeze_encoder=True` but the model has no encoder sub-model (a nested model "
            f"named 'encoder...'); its layers are: {names}. Use freeze_encoder=False."
        )
    return encoders
