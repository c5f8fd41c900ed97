"""Scoring images: one pair, or many files, with the same code the command line uses.

Example:
>>> import iqa_keras
>>> from iqa_keras.scoring import EXAMPLE_IMAGES
>>> value = iqa_keras.score(EXAMPLE_IMAGES["distorted_jpeg"], reference=EXAMPLE_IMAGES["reference"],
...                         metric="psnr")
>>> round(value, 2)
24.66
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator

import numpy as np

from iqa_keras import io, metrics

__all__ = ["EXAMPLE_IMAGES", "PairScore", "score", "score_pairs"]

_EXAMPLES = os.path.join(os.path.dirname(__file__), "examples")
EXAMPLE_IMAGES = {
    name: os.path.join(_EXAMPLES, f"{name}.png")
    for name in ("reference", "distorted_jpeg", "distorted_blur")
}


@dataclasses.dataclass(frozen=True)
class PairScore:
    """The score of one distorted image, or the error that stopped it."""

    distorted: str
    reference: str | None
    metric: str
    score: float | None = None
    error: str | None = None


def score(
    distorted,
    reference=None,
    metric: str = "ssim",
    data_range: float = 255.0,
    color: str | None = None,
) -> float:
    """Scores a distorted image against its reference with a classic metric.

    Args:
        distorted: an image file or an HxWxC array with values in `[0, data_range]`.
        reference: the pristine image, a file or an array of the same size.
        metric: a name from `iqa_keras.metrics.available()`.
        data_range: the value range of array inputs (files are read as 0-255).
        color: colour handling (`"rgb"`, `"y"`, `"gray"`); the metric's default if None.
    """
    if reference is None:
        raise ValueError(
            f"Metric {metric!r} is full-reference: pass `reference`. Received: reference=None"
        )
    info = metrics.get(metric)
    reference_image = _as_image(reference)
    distorted_image = _as_image(distorted)
    io.check_same_size(reference_image, distorted_image, _name(reference), _name(distorted))
    options = {} if color is None else {"color": color}
    return float(info.function(reference_image, distorted_image, data_range=data_range, **options))


def score_pairs(
    pairs: Iterable[tuple[str, str]], metric: str = "ssim", color: str | None = None
) -> Iterator[PairScore]:
    """Scores (reference, distorted) files one by one; a failing pair yields its error.

    A bad file never stops the others: its `PairScore` carries `error` (naming the file)
    and no score, so a caller can report it and still keep every other result.
    """
    metrics.get(metric)  # unknown names fail before any file is read
    for reference, distorted in pairs:
        try:
            value = score(distorted, reference=reference, metric=metric, color=color)
        except (io.ImageReadError, ValueError) as error:
            yield PairScore(distorted, reference, metric, error=str(error))
        else:
            yield PairScore(distorted, reference, metric, score=value)


def _as_image(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return io.read_image(image)
    return np.asarray(image)


def _name(image) -> str:
    return os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<array>"
