"""Scoring records image by image, and validating a training run that way.

`predict_scores` gives each image's score through `iqa_keras.tiling.Scorer`, the route
of `iqa-keras score` and `evaluate` (a large image tiled and pooled as they pool it), so
a run's test figures and `finetune`'s before/after figures equal what the command
reports for the same model. `ImageValidation` gives each epoch's validation SRCC and PLCC
the same way.

Example:
>>> ImageValidation([], None).records
[]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np

from iqa_keras.data import PipelineConfig, Record, evaluation_dataset
from iqa_keras.evaluation import plcc, srcc
from iqa_keras.tiling import Scorer

__all__ = ["predict_scores", "ImageValidation"]


def predict_scores(
    model: keras.Model | Scorer, records: Sequence[Record], config: PipelineConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The model's score and the human score (`Record.score`) of each readable image.

    Images are read by `evaluation_dataset(records, config)` (resized as it says; the
    references only for a full-reference model) and scored by a `Scorer` with the
    config's `tile_size` and `tile_overlap`, or by the `Scorer` passed as `model`.

    Returns:
        `(predictions, scores)`, two float64 vectors in the order of `records`.
    """
    config = config or PipelineConfig(batch_size=1)
    scorer = model if isinstance(model, Scorer) else Scorer(model, config.tile_size, config.tile_overlap)
    # A no-reference model on a full-reference database: its references are not decoded.
    dataset = evaluation_dataset(records, config if scorer.full_reference else dataclasses.replace(
        config, use_reference=False
    ))
    if scorer.full_reference and "reference" not in dataset.element_spec[0]:
        raise ValueError(
            f"The model takes reference, which these records do not give (e.g. "
            f"{records[0].distorted} has no reference image): a full-reference model needs "
            "records with references."
        )
    predictions, scores = [], []
    for inputs, batch_scores in dataset:
        reference = inputs.get("reference")
        predictions.append(scorer.score_batch(
            inputs["distorted"].numpy(), None if reference is None else reference.numpy()
        ))
        scores.append(np.asarray(batch_scores, np.float64))
    return np.concatenate(predictions), np.concatenate(scores)


class ImageValidation(keras.callbacks.Callback):
    """Sets each epoch's `val_srcc` and `val_plcc` (Pearson's, before any logistic fit, as
    the compiled metric's) from `predict_scores` on `records`; NaN where they are undefined.

    Put it before the callbacks that read those logs (checkpoint, CSV log, early stopping).
    """

    def __init__(self, records: Sequence[Record], config: PipelineConfig | None):
        super().__init__()
        self.records = records
        self.config = config or PipelineConfig(batch_size=1)
        self._scorer = None

    def on_epoch_end(self, epoch, logs=None):
        if self._scorer is None:  # one compiled scorer for the run: it reads the current weights
            self._scorer = Scorer(self.model, self.config.tile_size, self.config.tile_overlap)
        predictions, scores = predict_scores(self._scorer, self.records, self.config)
        try:  # no logistic fit: Pearson's raw, as the compiled PLCC metric
            figures = {"val_srcc": srcc(predictions, scores), "val_plcc": plcc(predictions, scores)}
        except ValueError:  # fewer than 2 readable images, or a non-finite score
            figures = {"val_srcc": float("nan"), "val_plcc": float("nan")}
        if logs is not None:
            logs.update(figures)
