"""Reader for SPAQ, the Smartphone Photography Attribute and Quality database (Fang et al.).

Expected layout, as the authors ship it::

    TestImage/                                         the 11125 photos, e.g. 00001.jpg
    Annotations/MOS and Image attribute scores.xlsx    `Image name`, `MOS`, and the
                                                       Brightness, Colorfulness, Contrast,
                                                       Noisiness, Sharpness attributes

Reading the workbook needs openpyxl (`pip install iqa-keras[xlsx]`). Only `Image name`
and `MOS` are read; the attribute scores have no place in a `Record`.

Scores: MOS on 0-100, higher is better (Fang et al., "Perceptual quality assessment of
smartphone photography", CVPR 2020). No std is released.

The photos are the phones' full-resolution originals (thousands of pixels a side). The
SPAQ authors resize each so that its shorter side is 512 pixels before training; that is
the data pipeline's job (a resize policy), not the reader's: records point at the
originals.

Records, in the workbook's order: no references; content id = the image's own name
without extension; no distortion type or level; no split.

Example:
>>> read_spaq("nowhere")
Traceback (most recent call last):
...
iqa_keras.data.records.DatasetError: Label file not found: nowhere/Annotations/MOS and Image attribute scores.xlsx. Expected the SPAQ ...
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._common import parse_float
from iqa_keras.data.readers._tables import read_sheet
from iqa_keras.data.records import Record, Scale

__all__ = ["read_spaq", "SPAQ_SCALE"]

LABEL_FILE = os.path.join("Annotations", "MOS and Image attribute scores.xlsx")
LAYOUT = f"SPAQ (TestImage/, {LABEL_FILE})"
SPAQ_SCALE = Scale(low=0.0, high=100.0, higher_is_better=True)


def read_spaq(root: str) -> list[Record]:
    """Reads SPAQ: the 11125 smartphone photos with their MOS.

    Args:
        root: the release folder (holding `TestImage/` and `Annotations/`).

    Raises:
        DatasetError: a missing or unreadable workbook (openpyxl missing included), a
            sheet without `Image name` and `MOS`, or a bad row (naming the line).
    """
    rows = read_sheet(os.path.join(root, LABEL_FILE), ("Image name", "MOS"), LAYOUT)
    records = []
    for row in rows:
        name = row["Image name"]
        if not name:
            raise row.line.error("`Image name` is empty")
        records.append(
            Record(
                distorted=os.path.join(root, "TestImage", name),
                raw_score=parse_float(row["MOS"], row.line, "MOS"),
                scale=SPAQ_SCALE,
                content_id=os.path.splitext(name)[0],
            )
        )
    return records
