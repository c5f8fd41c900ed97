"""Trains a recipe of `training/` on the JAX backend, e.g. on a GPU without TensorFlow.

    KERAS_BACKEND=jax python training/train_on_jax.py training/synthetic_fr.yaml \\
        --set data.root=data/synthetic

The same config as `iqa-keras train CONFIG` and the same split (`iqa_keras.training.config.split_records`),
model, losses and optimizers (`compile_model`), but fed from memory by
`iqa_keras.data.arrays.CropBatches` instead of the tf.data pipeline, and a
`HallucinatedIQA` trained by `iqa_keras.training.jax_gan.fit_hallucinated_iqa`. After
every epoch the model scores the validation part's centre crops (`data.train.crop_size`
doubled, at most the image), and the best epoch by SRCC is kept. `output_dir` then holds
`config.yaml`, `log.csv` (epoch, losses, val_srcc), `best.keras` (float32, uncompiled:
the model to ship) and `metrics.json` (the best epoch, its validation SRCC and PLCC).
No resuming, distribution (`trainer.strategy`) or early stopping
(`trainer.early_stopping_patience`) here, and `data.evaluation` is not read: `iqa-keras
train` has those. A config that resizes its training images (`data.train.resize_to` or
`resize_shorter_side`) is refused, since the crops would come from other pixels.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time

import keras
import numpy as np

from iqa_keras.atomic import claim_output_folder, save_model_atomic, write_atomic, write_json_atomic
from iqa_keras.data.arrays import CropBatches
from iqa_keras.evaluation import evaluate
from iqa_keras.io import read_image
from iqa_keras.models import HallucinatedIQA
from iqa_keras.training.compiling import compile_model
from iqa_keras.training.config import build_model, load_config, read_parts, save_config
from iqa_keras.training.jax_gan import fit_hallucinated_iqa
from iqa_keras.training.precision import precision_policy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a training config (YAML or JSON)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        parser.error(f"set KERAS_BACKEND=jax (the backend is {keras.backend.backend()!r})")
    config = load_config(args.config, args.set)
    for field in ("resize_to", "resize_shorter_side"):
        if getattr(config.data.train, field) is not None:
            parser.error(f"`data.train.{field}` is set, but this script crops the images as they are; "
                         "train with `iqa-keras train`, or resize the images beforehand")
    crop_size = config.data.train.crop_size
    if crop_size is None or crop_size[0] != crop_size[1]:
        parser.error(f"`data.train.crop_size` must be one side (square crops) for this script. Received: {crop_size}")
    try:
        claim_output_folder(config.output_dir, "output_dir")
    except FileExistsError as error:
        parser.error(str(error))
    save_config(config, os.path.join(config.output_dir, "config.yaml"))
    parts = read_parts(config.data)
    train = config.data.train
    started = time.time()
    with precision_policy(config.trainer.precision) as precision:
        keras.utils.set_random_seed(config.trainer.seed)
        batches = CropBatches(
            parts["train"], train.batch_size, train.crop_size[0], train.patches_per_image,
            use_reference=train.use_reference, augment=train.augment,
            level_groups=train.level_groups, seed=train.seed,
        )
        validation = _centre_crops(parts["validation"], 2 * train.crop_size[0])
        print(f"{len(parts['train'])} training and {len(parts['validation'])} validation images "
              f"loaded in {time.time() - started:.0f} s; precision {precision}", flush=True)
        model = build_model(config.model)
        capacity = max(len(parts["train"]) * train.patches_per_image, len(parts["validation"]))
        compile_model(model, config.losses, config.optimizer, len(batches), config.trainer.epochs,
                      capacity, gan=config.gan)
        keeper = _BestEpoch(config, model, validation)
        if isinstance(model, HallucinatedIQA):
            fit_hallucinated_iqa(model, batches, config.trainer.epochs, on_epoch_end=keeper)
        else:
            epoch_end = keras.callbacks.LambdaCallback(on_epoch_end=keeper)
            model.fit(batches, epochs=config.trainer.epochs, callbacks=[epoch_end], verbose=2)
    keeper.finish(time.time() - started)
    return 0


def _centre_crops(records, size):
    """(inputs, scores): the centre square crop of each record's images, `size` pixels
    or the smallest image's shorter side if less."""

    def crop(path):
        image = read_image(path)
        height, width = image.shape[:2]
        side = min(size, height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return image[top : top + side, left : left + side]

    names = ["distorted"] + (["reference"] if all(r.reference is not None for r in records) else [])
    crops = {name: [crop(getattr(record, name)) for record in records] for name in names}
    side = min(image.shape[0] for images in crops.values() for image in images)
    inputs = {name: np.stack([image[:side, :side] for image in images]) for name, images in crops.items()}
    return inputs, np.array([record.score for record in records])


class _BestEpoch:
    """After each epoch: validation SRCC, a log row, and `best.keras` when it improved."""

    def __init__(self, config, model, validation):
        self.config, self.model, self.validation = config, model, validation
        self.best = {"val_srcc": -np.inf}
        self.rows = []

    def __call__(self, epoch, logs):
        inputs, scores = self.validation
        taken = {name: inputs[name] for name in self.model.input} if isinstance(self.model.input, dict) else inputs
        predictions = np.asarray(self.model.predict(taken, batch_size=16, verbose=0), np.float64).reshape(-1)
        figures = evaluate(predictions, scores)
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "val_srcc": figures.srcc, "val_plcc": figures.plcc}
        self.rows.append(row)
        print(f"epoch {epoch + 1}: val_srcc {figures.srcc:.4f}  val_plcc {figures.plcc:.4f}", flush=True)
        _write_csv(os.path.join(self.config.output_dir, "log.csv"), self.rows)
        if figures.srcc > self.best["val_srcc"]:
            self.best = row
            _save_float32(self.model, self.config, os.path.join(self.config.output_dir, "best.keras"))

    def finish(self, seconds):
        metrics = {"best_epoch": self.best.get("epoch"), "val_srcc": self.best["val_srcc"],
                   "val_plcc": self.best.get("val_plcc"), "training_seconds": round(seconds),
                   "backend": keras.backend.backend()}
        write_json_atomic(os.path.join(self.config.output_dir, "metrics.json"), metrics)
        print(json.dumps(metrics), flush=True)


def _save_float32(model, config, path):
    """Saves an uncompiled float32 copy of `model` (what CPUs score fastest with)."""
    with precision_policy("float32"):
        copy = build_model(config.model)
    copy.set_weights(model.get_weights())
    save_model_atomic(copy, path)


def _write_csv(path, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[-1]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, lambda file: file.write(text.getvalue().encode("utf-8")))


if __name__ == "__main__":
    sys.exit(main())
