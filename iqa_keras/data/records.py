"""The record type every dataset reader returns, and the checks run before training.

A `Record` is one rated image: its file, its reference (full-reference databases), its
human score both raw and normalised to [0, 1] with higher = better, and what the release
says about it. Readers build records; splits, the tf.data pipeline and evaluation only
consume them, so a new database needs a reader and nothing else.

Example:
>>> scale = Scale(low=1.0, high=5.0, higher_is_better=True)
>>> record = Record(distorted="I01_01_01.png", raw_score=4.0, scale=scale,
...                 reference="I01.png", content_id="I01")
>>> record.score
0.75
>>> Scale(low=0.0, high=100.0, higher_is_better=False).normalise(25.0)
0.75
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence

__all__ = ["Scale", "Record", "DatasetError", "check_files"]


class DatasetError(ValueError):
    """A dataset that cannot be used as it is: missing files, bad label lines, bad columns."""


@dataclasses.dataclass(frozen=True)
class Scale:
    """The range and direction of a dataset's raw scores.

    Args:
        low: the lowest raw score of the scale (or observed, for open scales like Elo).
        high: the highest raw score.
        higher_is_better: False for DMOS-style scores, where lower means better quality.
    """

    low: float
    high: float
    higher_is_better: bool

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(
                f"`high` must be greater than `low`. Received: low={self.low}, high={self.high}"
            )

    def normalise(self, raw_score: float) -> float:
        """Maps a raw score to [0, 1] with 1 = best quality (linear, not clipped)."""
        unit = (float(raw_score) - self.low) / (self.high - self.low)
        return unit if self.higher_is_better else 1.0 - unit

    def denormalise(self, score: float) -> float:
        """The inverse of `normalise`: a [0, 1] score back on the dataset's raw scale."""
        unit = float(score) if self.higher_is_better else 1.0 - float(score)
        return self.low + unit * (self.high - self.low)


@dataclasses.dataclass(frozen=True)
class Record:
    """One rated image of a dataset.

    Args:
        distorted: path of the image that was rated.
        raw_score: its score as the release gives it (MOS, DMOS, Elo, ...).
        scale: the release's score range and direction.
        reference: path of the pristine reference, or None (no-reference databases).
        score_std: standard deviation of the raw score, where the release gives it.
        distortion_type: the distortion's name or id as the release encodes it.
        distortion_level: the distortion's level (1 = mildest), where encoded.
        content_id: the scene: the reference image's id, or the image itself when there
            is no reference. Splits by content never put one content id in two parts.
        split: the release's official split (`"train"`, `"validation"`, `"test"`), if any.
    """

    distorted: str
    raw_score: float
    scale: Scale
    reference: str | None = None
    score_std: float | None = None
    distortion_type: str | None = None
    distortion_level: int | None = None
    content_id: str = ""
    split: str | None = None

    def __post_init__(self):
        if not self.content_id:
            # With no scene information the image itself is its own content.
            source = self.reference or self.distorted
            object.__setattr__(self, "content_id", os.path.splitext(os.path.basename(source))[0])

    @property
    def score(self) -> float:
        """The raw score normalised to [0, 1], higher = better."""
        return self.scale.normalise(self.raw_score)


def check_files(records: Sequence[Record], dataset: str = "dataset", shown: int = 10) -> None:
    """Checks that every image a dataset names exists, before any training starts.

    Raises:
        DatasetError: listing the first `shown` missing files by name, then a count.

    Example:
    >>> scale = Scale(1.0, 5.0, True)
    >>> check_files([Record("missing.png", 3.0, scale)], "demo")
    Traceback (most recent call last):
    ...
    iqa_keras.data.records.DatasetError: demo: 1 of 1 image files are missing: missing.png
    """
    missing = sorted(set(path for path in _paths(records) if not os.path.isfile(path)))
    if missing:
        total = len(set(_paths(records)))
        listed = ", ".join(missing[:shown])
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        raise DatasetError(
            f"{dataset}: {len(missing)} of {total} image files are missing: {listed}{more}"
        )


def _paths(records: Iterable[Record]):
    for record in records:
        yield record.distorted
        if record.reference is not None:
            yield record.reference
