"""Reader for KADID-10k, and for datasets written by `iqa-keras generate` in its layout.

Layout (the release as shipped):

    images/     I01.png .. I81.png and the distorted I<ref>_<type>_<level>.png
    dmos.csv    dist_img,ref_img,dmos,var

Scores are on the 1-5 ACR scale of the KADID-10k paper (Lin, Hosu, Saupe, QoMEX 2019),
higher is better despite the column's name; `var` is the variance of the ratings, so
the score std is its square root. Generated datasets may name references with more digits
(`I001.png`), use composition types (`I001_C2_03.png`, whose number indexes the
compositions, not a level: their `distortion_level` is None), omit `var` or add columns.

Example:
>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> with open(os.path.join(root, "dmos.csv"), "w") as file:
...     _ = file.write("dist_img,ref_img,dmos,var\\nI01_01_01.png,I01.png,4.57,0.4\\n")
>>> [record] = read_kadid10k(root)
>>> record.content_id, record.distortion_type, record.distortion_level, round(record.score, 4)
('I01', '01', 1, 0.8925)
"""

from __future__ import annotations

import math
import os

from iqa_keras.data.readers._common import (
    parse_distortion_name,
    parse_float,
    read_table,
    require_file,
)
from iqa_keras.data.records import Record, Scale

__all__ = ["read_kadid10k", "KADID10K_SCALE"]

KADID10K_SCALE = Scale(low=1.0, high=5.0, higher_is_better=True)
_LAYOUT = "KADID-10k (images/ and dmos.csv with columns dist_img,ref_img,dmos,var)"


def read_kadid10k(root: str) -> list[Record]:
    """Reads KADID-10k (or a generated dataset in its layout), in the order of dmos.csv.

    Args:
        root: the folder holding `images/` and `dmos.csv`.

    Raises:
        DatasetError: `dmos.csv` missing, lacking columns, or with a bad line.
    """
    labels = require_file(os.path.join(root, "dmos.csv"), _LAYOUT)
    images = os.path.join(root, "images")
    records = []
    for row in read_table(labels, required=("dist_img", "ref_img", "dmos"), optional=("var",)):
        name = parse_distortion_name(row["dist_img"], row.line)
        std = None
        if row.get("var"):
            std = math.sqrt(parse_float(row["var"], row.line, "var", minimum=0.0))
        records.append(
            Record(
                distorted=os.path.join(images, row["dist_img"]),
                raw_score=parse_float(row["dmos"], row.line, "dmos"),
                scale=KADID10K_SCALE,
                reference=os.path.join(images, row["ref_img"]),
                score_std=std,
                distortion_type=name.type,
                distortion_level=None if _is_composition(name.type) else name.level,
                content_id=os.path.splitext(row["ref_img"])[0],
            )
        )
    return records


def _is_composition(distortion_type: str) -> bool:
    """`iqa-keras generate` names compositions of 2 or 3 distortions `C2` and `C3`."""
    return distortion_type.upper().startswith("C") and distortion_type[1:].isdigit()
