"""Level groups: the images of one distortion of one photo, at all its levels.

Training batches filled with level groups (`PipelineConfig(level_groups=True)`)
put the levels of a distortion on one content side by side, cropped at the same place,
so that a batch-wise ranking loss (`pairwise_ranking`, `plcc`, ...) learns their order:
the level order within each (photo, type) becomes ranking supervision. The order taught
is that of the scores, which is the level order wherever the human scores fall with
the level (22 of KADID-10k's 25 types; its mean shift and contrast change are rated
best at middle levels, its colour shift's levels 4 and 5 alike).

A group is the records sharing `content_id` and `distortion_type` that have a
`distortion_level`; every other record (compositions, authentic distortions) is a group
of its own. Both the tf.data pipeline and `iqa_keras.data.arrays.CropBatches` take their
groups from `batch_groups` and draw each epoch as the groups in a fresh random order
(`CropBatches` through `epoch_units`, which also repeats them `patches_per_image` times).

Example:
>>> from iqa_keras.data.records import Record, Scale
>>> scale = Scale(1.0, 5.0, True)
>>> records = [Record(f"I01_01_0{level}.png", 5.0 - level, scale, distortion_type="01",
...                   distortion_level=level, content_id="I01") for level in (2, 1, 3)]
>>> records.append(Record("I01_C2_01.png", 2.0, scale, distortion_type="C2", content_id="I01"))
>>> level_groups(records)
[[1, 0, 2], [3]]
>>> order, units = epoch_units([[1, 0, 2], [3]], repeats=2, rng=np.random.default_rng(0))
>>> order.tolist(), units.tolist()
([1, 0, 2, 1, 0, 2, 3, 3], [2, 2, 2, 0, 0, 0, 1, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iqa_keras.data.records import Record

__all__ = ["batch_groups", "level_groups", "epoch_units"]


def level_groups(records: Sequence[Record]) -> list[list[int]]:
    """Indices of `records` grouped by (content, distortion type), each group in level
    order; records without a level are groups of one. Groups keep the order of their
    first record."""
    groups: dict[object, list[int]] = {}
    for index, record in enumerate(records):
        if record.distortion_type is None or record.distortion_level is None:
            key = ("single", index)
        else:
            key = (record.content_id, record.distortion_type)
        groups.setdefault(key, []).append(index)
    return [sorted(group, key=lambda i: records[i].distortion_level or 0) for group in groups.values()]


def batch_groups(records: Sequence[Record], by_level: bool) -> list[list[int]]:
    """The units batches are drawn in: `level_groups(records)`, or with `by_level` False
    every record a group of its own (batches of independently drawn records)."""
    return level_groups(records) if by_level else [[index] for index in range(len(records))]


def epoch_units(
    groups: Sequence[Sequence[int]], repeats: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch: (record indices in batch order, the unit of each).

    A unit is one repetition of one group (`unit % len(groups)` is the group); units come
    in random order and a unit's records one after the other, so a batch holds whole
    groups but where a group straddles two batches. Records of one unit share its crop.
    """
    units = rng.permutation(len(groups) * repeats)
    members = [groups[unit % len(groups)] for unit in units]
    return (
        np.concatenate(members).astype(np.int64),
        np.repeat(units, [len(group) for group in members]).astype(np.int64),
    )
