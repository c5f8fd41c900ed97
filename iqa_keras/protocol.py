"""The field's protocol over splits: the figures of each split's test part and their median.

A measure that does not learn from the split (a classic metric, a trained model) is scored
once on every record; each split then evaluates its own part. The field reports the median
SRCC and PLCC over 10 random 80/20 splits by content, or the figures of k-fold
cross-validation.

Example:
>>> from iqa_keras.data import Record, Scale
>>> records = [Record(f"{i}.png", float(i), Scale(0.0, 100.0, True)) for i in range(40)]
>>> parts = evaluation_parts(records, "content", repeats=10)
>>> rows = evaluate_parts({record: record.score for record in records}, parts)
>>> len(rows), rows[-1]["split"], rows[-1]["srcc"]
(11, 'median', 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from iqa_keras import evaluation
from iqa_keras.data.readers._common import SPLIT_ALIASES
from iqa_keras.data.records import Record
from iqa_keras.data.splits import k_fold_by_content, official_split, split_by_content

__all__ = ["SPLITS", "evaluate_parts", "evaluation_parts"]

SPLITS = ("all", "official", "content", "kfold")

# The share of contents tested in a random split by content, as the field draws them.
_TEST_SHARE = 0.2


def evaluation_parts(
    records: Sequence[Record],
    split: str = "all",
    part: str = "test",
    seed: int = 0,
    repeats: int = 1,
    folds: int = 5,
) -> list[list[Record]]:
    """The parts of `records` to evaluate, one per split.

    Args:
        records: the records of a database.
        split: `"all"` (every record, one part), `"official"` (the release's split),
            `"content"` (random 80/20 splits by content, `repeats` of them) or `"kfold"`
            (`folds` folds by content: the test parts cover every record once).
        part: the part of each split to evaluate (`train`, `test`, ... and their
            aliases); with `"kfold"` it must be the test part.
        seed: the seed of the random splits (`split_by_content`, `k_fold_by_content`).
        repeats: the number of random splits with `"content"`.
        folds: the number of folds with `"kfold"`.

    Raises:
        ValueError: an unknown split or part, or options that have no effect on `split`.

    Example:
    >>> from iqa_keras.data import Record, Scale
    >>> records = [Record(f"{i}.png", 1.0, Scale(1.0, 5.0, True)) for i in range(10)]
    >>> [len(part) for part in evaluation_parts(records, "kfold", folds=5)]
    [2, 2, 2, 2, 2]
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {', '.join(SPLITS)}. Received: split={split!r}")
    if repeats != 1 and split != "content":
        raise ValueError(f"`repeats` applies to the content split only. Received: repeats={repeats!r}, split={split!r}")
    if split == "all":
        return [list(records)]
    name = SPLIT_ALIASES.get(part.strip().lower(), part)
    if split == "official":
        splits = [official_split(records)]
    elif split == "content":
        splits = split_by_content(records, {"train": 1.0 - _TEST_SHARE, "test": _TEST_SHARE}, seed, repeats)
    else:
        if name != "test":
            raise ValueError(f"`part` must be the test part with the kfold split. Received: part={part!r}")
        splits = k_fold_by_content(records, folds, seed)
    if name not in splits[0]:
        raise ValueError(f"--part {part}: the {split} split has the parts {', '.join(sorted(splits[0]))}")
    return [parts[name] for parts in splits]


def evaluate_parts(scores: Mapping[Record, float], parts: Sequence[Sequence[Record]]) -> list[dict]:
    """The protocol's figures for each part, then (for several parts) their median.

    Args:
        scores: each record's predicted score, higher = better.
        parts: the parts to evaluate, e.g. from `evaluation_parts`.

    Returns:
        One dict per part, `{"split": "1", "srcc": ..., "krcc": ..., "plcc": ...,
        "plcc_raw": ..., "rmse": ..., "n": ...}`; with several parts a last row
        `"split": "median"` holds the median of each figure over the parts.

    Example:
    >>> from iqa_keras.data import Record, Scale
    >>> records = [Record(f"{i}.png", float(i), Scale(0.0, 9.0, True)) for i in range(6)]
    >>> [row["split"] for row in evaluate_parts({r: -r.score for r in records}, [records])]
    ['1']
    """
    rows = []
    for index, part in enumerate(parts, start=1):
        result = evaluation.evaluate([scores[record] for record in part], [record.score for record in part])
        rows.append({"split": str(index), **result.as_dict()})
    if len(rows) > 1:
        figures = [key for key in rows[0] if key != "split"]
        median = {key: float(np.median([row[key] for row in rows])) for key in figures}
        rows.append({"split": "median", **median, "n": int(median["n"])})
    return rows
