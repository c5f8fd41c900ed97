"""Reader for a plain CSV list of rated images: the way to bring your own data.

Columns (a header row is required; other columns are ignored):

    reference,distorted,score[,std][,split]     full-reference
    distorted,score[,std][,split]               no-reference

Relative paths are resolved against the CSV file's folder. `split` accepts train,
validation and test, and common aliases (training, val, valid, dev, testing; any case);
an empty cell means no split. The scale is the observed range of `score` unless `scale`
gives the known one; scores are higher-is-better unless `higher_is_better=False`. The
content id is the reference's file name without extension (or the image's own, with no
reference). Records keep the order of the file.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ratings.csv")
>>> with open(path, "w") as file:
...     _ = file.write("distorted,score,split\\na.png,20,train\\nb.png,80,val\\nc.png,50,\\n")
>>> records = read_csv(path, higher_is_better=False)
>>> [(os.path.basename(r.distorted), r.score, r.split) for r in records]
[('a.png', 1.0, 'train'), ('b.png', 0.0, 'validation'), ('c.png', 0.5, None)]
"""

from __future__ import annotations

import numbers
import os

from iqa_keras.data.readers._common import observed_scale, parse_float, parse_split, read_table
from iqa_keras.data.records import DatasetError, Record, Scale

__all__ = ["read_csv"]

_EXPECTED = (
    "a CSV file with a header row and columns reference,distorted,score (full-reference) or "
    "distorted,score (no-reference), optionally std and split"
)


def read_csv(
    path: str, higher_is_better: bool = True, scale: tuple[float, float] | None = None
) -> list[Record]:
    """Reads a CSV list of rated images.

    Args:
        path: the CSV file (not a folder).
        higher_is_better: False when a lower score means better quality (DMOS-style).
        scale: the scores' known `(low, high)` range; None uses the observed min and max.

    Raises:
        DatasetError: the file missing, a column missing, an empty path, a score that is
            not a number or lies outside `scale`, a negative std or an unknown split name;
            line errors name the line number and show the line.
    """
    if not isinstance(higher_is_better, bool):
        raise TypeError(
            "`higher_is_better` must be True or False. "
            f"Received: higher_is_better={higher_is_better!r}"
        )
    known_scale = None if scale is None else _known_scale(scale, higher_is_better)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DatasetError(f"{path} is a folder; expected {_EXPECTED}.")
    if not os.path.isfile(path):
        raise DatasetError(f"CSV file not found: {path}. Expected {_EXPECTED}.")
    rows = read_table(path, required=("distorted", "score"), optional=("reference", "std", "split"))
    if not rows:
        raise DatasetError(f"{path} has a header but no rows; expected {_EXPECTED}.")
    folder = os.path.dirname(os.path.abspath(path))
    fields = [_parse_row(row, folder, known_scale) for row in rows]
    used_scale = known_scale or observed_scale(
        (field["raw_score"] for field in fields),
        higher_is_better,
        path,
        hint="Pass the known range as read_csv(path, scale=(low, high)).",
    )
    return [Record(scale=used_scale, **field) for field in fields]


def _parse_row(row, folder: str, known_scale: Scale | None) -> dict:
    """The `Record` fields of one row (all but the scale), every value checked."""
    score = parse_float(row["score"], row.line, "score")
    if known_scale is not None and not known_scale.low <= score <= known_scale.high:
        raise row.line.error(
            f"`score` {score} lies outside scale=({known_scale.low}, {known_scale.high})"
        )
    std = row.get("std")
    return dict(
        distorted=_resolve(folder, row, "distorted"),
        raw_score=score,
        reference=_resolve(folder, row, "reference") if "reference" in row else None,
        score_std=parse_float(std, row.line, "std", minimum=0.0) if std else None,
        split=parse_split(row.get("split", ""), row.line),
    )


def _known_scale(scale, higher_is_better: bool) -> Scale:
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(value, numbers.Real) for value in scale)
        or not scale[1] > scale[0]
    ):
        raise ValueError(
            f"`scale` must be None or a (low, high) pair of numbers with high > low. "
            f"Received: scale={scale!r}"
        )
    return Scale(float(scale[0]), float(scale[1]), higher_is_better)


def _resolve(folder: str, row, column: str) -> str:
    if not row[column]:
        raise row.line.error(f"`{column}` is empty; expected an image path")
    return os.path.join(folder, row[column])
