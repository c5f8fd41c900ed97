"""Readers for the Tampere Image Databases TID2013 and TID2008.

Layout (both releases as shipped):

    reference_images/    I01.BMP .. I24.BMP, i25.bmp
    distorted_images/    i01_01_1.bmp .. (case varies: I01_.. / .BMP)
    mos_with_names.txt   lines `5.51429 i01_01_1.bmp`
    mos_std.txt          optional: one std per line, in the same order

File names are matched case-insensitively against the folders' actual listing, since the
releases mix cases. MOS is on 0-9, higher is better (Ponomarenko et al., "Image database
TID2013: Peculiarities, results and perspectives", 2015; TID2008 uses the same protocol).
Records keep the order of `mos_with_names.txt`; the content id is the reference, `I01`..`I25`.

Example:
>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> for folder in ("reference_images", "distorted_images"):
...     os.mkdir(os.path.join(root, folder))
>>> open(os.path.join(root, "reference_images", "I01.BMP"), "w").close()
>>> with open(os.path.join(root, "mos_with_names.txt"), "w") as file:
...     _ = file.write("5.51429 i01_01_1.bmp\\n")
>>> [record] = read_tid2013(root)
>>> os.path.basename(record.reference), record.distortion_type, record.distortion_level
('I01.BMP', '01', 1)
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._common import (
    FolderIndex,
    parse_distortion_name,
    parse_float,
    read_lines,
    require_file,
)
from iqa_keras.data.records import DatasetError, Record, Scale

__all__ = ["read_tid2013", "read_tid2008", "TID_SCALE"]

TID_SCALE = Scale(low=0.0, high=9.0, higher_is_better=True)


def read_tid2013(root: str) -> list[Record]:
    """Reads TID2013 (3000 distorted images of 25 references), in the release's order.

    Raises:
        DatasetError: a missing folder or `mos_with_names.txt`, a bad line, or a
            `mos_std.txt` whose line count differs.
    """
    return _read_tid(root, "TID2013")


def read_tid2008(root: str) -> list[Record]:
    """Reads TID2008 (1700 distorted images of 25 references), in the release's order.

    Raises:
        DatasetError: as `read_tid2013`.
    """
    return _read_tid(root, "TID2008")


def _read_tid(root: str, release: str) -> list[Record]:
    layout = f"{release} (reference_images/, distorted_images/, mos_with_names.txt)"
    label_files = FolderIndex(root, layout)
    mos_path = require_file(label_files.path("mos_with_names.txt"), layout)
    mos_lines = read_lines(mos_path)
    if not mos_lines:
        raise DatasetError(f"{mos_path} is empty: expected lines `<mos> <image name>`.")
    stds = _read_stds(label_files.path("mos_std.txt"), mos_path, len(mos_lines))
    references = FolderIndex(os.path.join(root, "reference_images"), layout)
    distorted = FolderIndex(os.path.join(root, "distorted_images"), layout)
    records = []
    for line, std in zip(mos_lines, stds):
        fields = line.text.split()
        if len(fields) != 2:
            raise line.error("expected two fields, `<mos> <image name>`")
        mos, image = fields
        name = parse_distortion_name(image, line)
        extension = os.path.splitext(image)[1]
        records.append(
            Record(
                distorted=distorted.path(image),
                raw_score=parse_float(mos, line, "mos"),
                scale=TID_SCALE,
                reference=references.path(name.reference + extension),
                score_std=std,
                distortion_type=name.type,
                distortion_level=name.level,
                content_id=name.reference,
            )
        )
    return records


def _read_stds(path: str, mos_path: str, count: int) -> list[float | None]:
    if not os.path.isfile(path):
        return [None] * count
    lines = read_lines(path)
    if len(lines) != count:
        raise DatasetError(
            f"{path} has {len(lines)} values but {mos_path} has {count}; "
            "expected one std per image, in the same order."
        )
    return [parse_float(line.text, line, "std", minimum=0.0) for line in lines]
