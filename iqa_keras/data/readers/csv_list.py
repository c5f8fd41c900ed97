"""Reader for a plain CSV list of rated images: the way to bring your own data.

Columns (a header row is required; other columns are ignored):

    reference,distorted,score[,std][,split][,content]     full-reference
    distorted,score[,std][,split][,content]               no-reference

The score column is named `score` or `mos` (higher is better) or `dmos` (lower is
better), unless `higher_is_better` says otherwise; with several, the first of these
names. Relative paths are resolved against the CSV file's folder. `split` accepts train,
validation and test, and common aliases (training, val, valid, dev, testing; any case);
an empty cell means no split. The scale is the observed range of the scores unless
`scale` gives the known one. The content id, which keeps a scene's images in one part
when the records are split, is the `content` cell where the file has one; otherwise (or
where the cell is empty) the reference's path relative to that folder, without extension
(or the image's own, with no reference): `scene1/ref.png` and `scene2/ref.png` are two
contents. Give no-reference lists with several versions of one scene a `content` column,
or each image is its own content and a scene can land in both training and test. Records
keep the order of the file.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ratings.csv")
>>> with open(path, "w") as file:
...     _ = file.write("distorted,score,split\\na.png,20,train\\nb.png,80,val\\nc.png,50,\\n")
>>> records = read_csv(path, higher_is_better=False)
>>> [(os.path.basename(r.distorted), r.score, r.split) for r in records]
[('a.png', 1.0, 'train'), ('b.png', 0.0, 'validation'), ('c.png', 0.5, None)]
>>> with open(path, "w") as file:
...     _ = file.write("distorted,dmos\\nscene1/a.png,20\\nscene2/a.png,80\\n")
>>> [(r.content_id, r.score) for r in read_csv(path)]  # dmos: lower is better
[('scene1/a', 1.0), ('scene2/a', 0.0)]
>>> with open(path, "w") as file:
...     _ = file.write("distorted,mos,content\\nbeach_dark.png,2,beach\\nbeach_blur.png,3,beach\\n")
>>> [r.content_id for r in read_csv(path)]
['beach', 'beach']
"""

from __future__ import annotations

import numbers
import os

from iqa_keras.data.readers._common import observed_scale, parse_float, parse_split, read_table
from iqa_keras.data.records import DatasetError, Record, Scale

__all__ = ["read_csv"]

_SCORE_COLUMNS = {"score": True, "mos": True, "dmos": False}  # name -> higher is better
_EXPECTED = (
    "a CSV file with a header row and columns reference,distorted,score (full-reference) or "
    "distorted,score (no-reference), optionally std, split and content; the score column may "
    "also be named mos, or dmos when lower is better"
)


def read_csv(
    path: str, higher_is_better: bool | None = None, scale: tuple[float, float] | None = None
) -> list[Record]:
    """Reads a CSV list of rated images.

    Args:
        path: the CSV file (not a folder).
        higher_is_better: whether a higher score means better quality; None: as the score
            column's name says (`dmos`: lower is better; `score`, `mos`: higher).
        scale: the scores' known `(low, high)` range; None uses the observed min and max.

    Raises:
        DatasetError: the file missing, no score column, a column missing, an empty
            path, a score that is not a number or lies outside `scale`, a negative std or
            an unknown split name; line errors name the line number and show the line.
    """
    if higher_is_better is not None and not isinstance(higher_is_better, bool):
        raise TypeError(
            "`higher_is_better` must be None, True or False. "
            f"Received: higher_is_better={higher_is_better!r}"
        )
    if scale is not None:
        _check_scale(scale)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DatasetError(f"{path} is a folder; expected {_EXPECTED}.")
    if not os.path.isfile(path):
        raise DatasetError(f"CSV file not found: {path}. Expected {_EXPECTED}.")
    optional = ("reference", "std", "split", "content", *_SCORE_COLUMNS)
    rows = read_table(path, required=("distorted",), optional=optional)
    if not rows:
        raise DatasetError(f"{path} has a header but no rows; expected {_EXPECTED}.")
    named = [name for name in _SCORE_COLUMNS if name in rows[0]]
    if not named:
        raise DatasetError(f"{path}: no score column (score, mos or dmos). Expected {_EXPECTED}.")
    score_column = named[0]
    if higher_is_better is None:
        higher_is_better = _SCORE_COLUMNS[score_column]
    known_scale = None if scale is None else Scale(float(scale[0]), float(scale[1]), higher_is_better)
    folder = os.path.dirname(os.path.abspath(path))
    fields = [_parse_row(row, folder, known_scale, score_column) for row in rows]
    used_scale = known_scale or observed_scale(
        (field["raw_score"] for field in fields),
        higher_is_better,
        path,
        hint="Pass the known range as read_csv(path, scale=(low, high)).",
    )
    return [Record(scale=used_scale, **field) for field in fields]


def _parse_row(row, folder: str, known_scale: Scale | None, score_column: str) -> dict:
    """The `Record` fields of one row (all but the scale), every value checked."""
    score = parse_float(row[score_column], row.line, score_column)
    if known_scale is not None and not known_scale.low <= score <= known_scale.high:
        raise row.line.error(
            f"`{score_column}` {score} lies outside scale=({known_scale.low}, {known_scale.high})"
        )
    std = row.get("std")
    distorted = _resolve(folder, row, "distorted")
    reference = _resolve(folder, row, "reference") if "reference" in row else None
    return dict(
        distorted=distorted,
        raw_score=score,
        reference=reference,
        score_std=parse_float(std, row.line, "std", minimum=0.0) if std else None,
        split=parse_split(row.get("split", ""), row.line),
        content_id=row.get("content", "") or _path_content_id(reference or distorted, folder),
    )


def _path_content_id(image: str, folder: str) -> str:
    """`image`'s path relative to `folder`, without extension, with `/` separators."""
    try:
        content = os.path.relpath(image, folder)
    except ValueError:  # on another drive (Windows): no relative path
        content = image
    return os.path.splitext(content)[0].replace(os.sep, "/")


def _check_scale(scale) -> None:
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


def _resolve(folder: str, row, column: str) -> str:
    if not row[column]:
        raise row.line.error(f"`{column}` is empty; expected an image path")
    return os.path.join(folder, row[column])
