"""Scoring records image by image, and validating a training run that way.

`predict_scores` gives each image's score (a tiled image's is the mean of its tiles'),
as the test figures of a run and `finetune`'s before/after figures use it.
`ImageValidation` gives an epoch's validation SRCC and PLCC the same way, for runs
whose evaluation is tiled: `model.fit`'s own validation would rank the tiles one by one,
each labelled with its image's score, and overflow the streaming SRCC's buffer.

Example:
>>> ImageValidation([], None).records
[]
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from iqa_keras.data import PipelineConfig, Record, evaluation_dataset
from iqa_keras.evaluation import plcc, srcc

__all__ = ["predict_scores", "ImageValidation"]


def predict_scores(
    model: keras.Model, records: Sequence[Record], config: PipelineConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The model's score and the human score (`Record.score`) of each readable image.

    Images go through `evaluation_dataset(records, config)`; with `config.tile_size`
    an image's score is the mean of its tiles'.

    Returns:
        `(predictions, scores)`, two float64 vectors in the order of `records`.
    """
    config = config or PipelineConfig(batch_size=1)
    predictions, scores = [], []
    # A no-reference model evaluated on a full-reference database takes the distorted image only.
    taken = model.input if isinstance(model.input, dict) else None
    dataset = evaluation_dataset(records, config)
    missing = sorted(set(taken or ()) - set(dataset.element_spec[0]))
    if missing:
        raise ValueError(
            f"The model takes {', '.join(missing)}, which these records do not give (e.g. "
            f"{records[0].distorted} has no reference image): a full-reference model needs "
            "records with references."
        )
    for inputs, batch_scores in dataset:
        if taken is not None:
            inputs = {name: inputs[name] for name in taken}
        batch_predictions = np.asarray(model.predict_on_batch(inputs), np.float64).reshape(-1)
        if config.tile_size is not None:
            predictions.append([batch_predictions.mean()])
            scores.append([float(batch_scores[0])])
        else:
            predictions.append(batch_predictions)
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
        self.config = config

    def on_epoch_end(self, epoch, logs=None):
        predictions, scores = predict_scores(self.model, self.records, self.config)
        try:  # no logistic fit: Pearson's raw, as the compiled PLCC metric
            figures = {"val_srcc": srcc(predictions, scores), "val_plcc": plcc(predictions, scores)}
        except ValueError:  # fewer than 2 readable images, or a non-finite score
            figures = {"val_srcc": float("nan"), "val_plcc": float("nan")}
        if logs is not None:
            logs.update(figures)
