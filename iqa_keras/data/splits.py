"""Splits by content: no scene is ever seen in two parts of a split.

In a full-reference database every reference image comes with dozens of distorted
versions; a random split of the records would put versions of one scene in both the
training and the test part and inflate every correlation reported. Splits here are
drawn over `Record.content_id` (the reference image's id, or the image itself for
no-reference databases) and the proportions are counted in contents, not records.

A split is a dict `part name -> list of records`, the records of each part in their
original order; `split_by_content` returns one such dict per repeat, `k_fold_by_content`
one per fold.

Example:
>>> from iqa_keras.data.records import Record, Scale
>>> scale = Scale(1.0, 5.0, True)
>>> records = [Record(f"s{scene}_d{level}.png", 3.0, scale, reference=f"s{scene}.png")
...            for scene in range(10) for level in range(3)]
>>> (split,) = split_by_content(records, (0.8, 0.2), seed=1)
>>> {name: len(part) for name, part in split.items()}
{'train': 24, 'test': 6}
>>> sorted(official_split([Record("a.png", 3.0, scale, split="train"),
...                        Record("b.png", 2.0, scale, split="test")]))
['test', 'train']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from iqa_keras.data.records import Record

__all__ = ["k_fold_by_content", "official_split", "split_by_content"]

# Part names given to ratios passed as a sequence, by the number of parts.
_SEQUENCE_PART_NAMES = {2: ("train", "test"), 3: ("train", "validation", "test")}
_OFFICIAL_ORDER = ("train", "validation", "test")


def split_by_content(
    records: Sequence[Record],
    ratios: Sequence[float] | Mapping[str, float],
    seed: int = 0,
    repeats: int = 1,
) -> list[dict[str, list[Record]]]:
    """Splits records into parts that share no content id, `repeats` times.

    Args:
        records: the records of one (or several) databases.
        ratios: the share of contents in each part: `(train, test)`,
            `(train, validation, test)`, or a dict `name -> share` for other names.
            Shares must be positive and sum to 1.
        seed: repeat `i` draws its permutation from `numpy.random.default_rng([seed, i])`,
            so a split depends only on the seed, the repeat and the set of content ids.
        repeats: how many independent splits to draw (the field reports the median
            correlation over 10 such repeats).

    Returns:
        One dict per repeat, mapping each part name (in the order of `ratios`) to its
        records. Each part gets `round(share * number of contents)` contents (largest
        remainders), and at least one.

    Raises:
        ValueError: bad ratios or repeats, or fewer contents than parts.

    Example:
    >>> from iqa_keras.data.records import Record, Scale
    >>> records = [Record(f"{i}.png", 3.0, Scale(1.0, 5.0, True)) for i in range(5)]
    >>> splits = split_by_content(records, {"train": 0.6, "test": 0.4}, repeats=2)
    >>> [[len(part) for part in split.values()] for split in splits]
    [[3, 2], [3, 2]]
    """
    shares = _named_ratios(ratios)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer. Received: repeats={repeats!r}")
    if not records:
        raise ValueError("`records` is empty: there is nothing to split.")
    contents = sorted({record.content_id for record in records})
    counts = _contents_per_part(list(shares.values()), len(contents), ratios)
    splits = []
    for repeat in range(repeats):
        order = np.random.default_rng([seed, repeat]).permutation(len(contents))
        part_of_content = {}
        boundaries = np.cumsum([0] + counts)
        for name, start, stop in zip(shares, boundaries[:-1], boundaries[1:]):
            for index in order[start:stop]:
                part_of_content[contents[index]] = name
        split = {name: [] for name in shares}
        for record in records:
            split[part_of_content[record.content_id]].append(record)
        splits.append(split)
    return splits


def k_fold_by_content(records: Sequence[Record], folds: int = 5, seed: int = 0) -> list[dict[str, list[Record]]]:
    """Cross-validation folds over content ids: each content is tested in exactly one fold.

    Args:
        records: the records to split.
        folds: the number of folds, at least 2 and at most the number of contents.
        seed: the contents are shuffled by `numpy.random.default_rng(seed)`, then dealt
            into folds whose sizes differ by at most one content.

    Returns:
        One dict `{"train": ..., "test": ...}` per fold; the test parts cover every
        record once.

    Raises:
        ValueError: bad `folds`, or fewer contents than folds.

    Example:
    >>> from iqa_keras.data.records import Record, Scale
    >>> records = [Record(f"{i}.png", 3.0, Scale(1.0, 5.0, True)) for i in range(7)]
    >>> [(len(fold["train"]), len(fold["test"])) for fold in k_fold_by_content(records, folds=3)]
    [(4, 3), (5, 2), (5, 2)]
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"`folds` must be an integer of at least 2. Received: folds={folds!r}")
    if not records:
        raise ValueError("`records` is empty: there is nothing to split.")
    contents = sorted({record.content_id for record in records})
    if len(contents) < folds:
        raise ValueError(f"Cannot make {folds} folds of {len(contents)} distinct content ids. Received: folds={folds}")
    order = np.random.default_rng(seed).permutation(len(contents))
    fold_of_content = {contents[index]: rank % folds for rank, index in enumerate(order)}
    return [
        {
            "train": [record for record in records if fold_of_content[record.content_id] != fold],
            "test": [record for record in records if fold_of_content[record.content_id] == fold],
        }
        for fold in range(folds)
    ]


def official_split(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Groups records by the split their release defines (`Record.split`).

    Returns:
        A dict `split name -> records`, `train`, `validation`, `test` first, then any
        other names in alphabetical order; records keep their original order.

    Raises:
        ValueError: no record has an official split, or only some have one.

    Example:
    >>> from iqa_keras.data.records import Record, Scale
    >>> official_split([Record("a.png", 3.0, Scale(1.0, 5.0, True))])
    Traceback (most recent call last):
    ...
    ValueError: None of the 1 records has an official split (`Record.split` is None
    everywhere); use split_by_content instead.
    """
    unassigned = [record.distorted for record in records if record.split is None]
    if len(unassigned) == len(records):
        raise ValueError(
            f"None of the {len(records)} records has an official split (`Record.split` is "
            "None everywhere); use split_by_content instead."
        )
    if unassigned:
        raise ValueError(
            f"{len(unassigned)} of {len(records)} records have no official split, e.g. "
            f"{unassigned[0]}. Split them with split_by_content or drop them first."
        )
    names = {record.split for record in records}
    ordered = [name for name in _OFFICIAL_ORDER if name in names]
    ordered += sorted(names - set(_OFFICIAL_ORDER))
    split = {name: [] for name in ordered}
    for record in records:
        split[record.split].append(record)
    return split


def _named_ratios(ratios) -> dict[str, float]:
    if isinstance(ratios, Mapping):
        shares = {str(name): share for name, share in ratios.items()}
    elif (
        isinstance(ratios, Sequence)
        and not isinstance(ratios, str)
        and len(ratios) in _SEQUENCE_PART_NAMES
    ):
        shares = dict(zip(_SEQUENCE_PART_NAMES[len(ratios)], ratios))
    else:
        raise ValueError(
            "`ratios` must be (train, test), (train, validation, test) or a dict "
            f"name -> share. Received: ratios={ratios!r}"
        )
    if len(shares) < 2:
        raise ValueError(f"`ratios` must name at least two parts. Received: ratios={ratios!r}")
    for share in shares.values():
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not share > 0:
            raise ValueError(
                f"Every share in `ratios` must be a positive number. Received: ratios={ratios!r}"
            )
    if not math.isclose(sum(shares.values()), 1.0, rel_tol=0.0, abs_tol=1e-6):
        raise ValueError(
            f"The shares in `ratios` must sum to 1 (within 1e-6). Received: ratios={ratios!r}, "
            f"which sum to {sum(shares.values())!r}"
        )
    return {name: float(share) for name, share in shares.items()}


def _contents_per_part(shares: list[float], num_contents: int, ratios) -> list[int]:
    """Largest-remainder rounding of `shares * num_contents`, with every part non-empty."""
    if num_contents < len(shares):
        raise ValueError(
            f"Cannot split {num_contents} contents into {len(shares)} non-empty parts. "
            f"Received: ratios={ratios!r} over {num_contents} distinct content ids."
        )
    exact = np.array(shares) * num_contents
    counts = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - counts), kind="stable")[: num_contents - counts.sum()]:
        counts[index] += 1
    while (counts == 0).any():
        counts[np.argmax(counts)] -= 1
        counts[np.argmin(counts)] += 1
    return counts.tolist()
