"""Reader for KonIQ-10k, the in-the-wild no-reference database of the University of Konstanz.

Layout (the release as shipped):

    koniq10k_scores_and_distributions.csv   image_name,c1,c2,c3,c4,c5,c_total,MOS,SD,MOS_zscore
    512x384/ and/or 1024x768/               the images, one folder per resolution
    koniq10k_distributions_sets.csv         optional: the official split, column `set`
                                            (training / validation / test)

MOS is on the 1-5 ACR scale, higher is better, and SD is its rating std (Hosu, Lin, Sziranyi,
Saupe, "KonIQ-10k: An ecologically valid database for deep learning of blind image quality
assessment", IEEE TIP 2020). Records keep the order of the scores file; each image is its
own content.

Example:
>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> with open(os.path.join(root, "koniq10k_scores_and_distributions.csv"), "w") as file:
...     _ = file.write('"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","MOS_zscore"\\n'
...                    '"10004473376.jpg",0,25,73,7,3,108,3.828571429,0.6206362,77.38364758\\n')
>>> [record] = read_koniq10k(root)
>>> record.content_id, round(record.score, 4), record.split, record.reference
('10004473376', 0.7071, None, None)
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._common import parse_float, parse_split, read_table, require_file
from iqa_keras.data.records import Record, Scale

__all__ = ["read_koniq10k", "KONIQ10K_SCALE", "RESOLUTIONS"]

KONIQ10K_SCALE = Scale(low=1.0, high=5.0, higher_is_better=True)
RESOLUTIONS = ("512x384", "1024x768")
_LAYOUT = "KonIQ-10k (koniq10k_scores_and_distributions.csv and 512x384/ or 1024x768/)"


def read_koniq10k(root: str, resolution: str | None = None) -> list[Record]:
    """Reads KonIQ-10k (10073 images), with the official split when its file is present.

    Args:
        root: the release folder.
        resolution: `"512x384"` or `"1024x768"`, the image folder to use; None takes
            512x384 when that folder exists, else 1024x768.

    Raises:
        DatasetError: the scores file missing or bad, or the sets file lacking an image.
    """
    if resolution not in (None, *RESOLUTIONS):
        raise ValueError(
            f"`resolution` must be one of {', '.join(RESOLUTIONS)} or None. "
            f"Received: resolution={resolution!r}"
        )
    if resolution is None:
        first, second = (os.path.join(root, folder) for folder in RESOLUTIONS)
        images = first if os.path.isdir(first) or not os.path.isdir(second) else second
    else:
        images = os.path.join(root, resolution)
    scores = require_file(os.path.join(root, "koniq10k_scores_and_distributions.csv"), _LAYOUT)
    splits = _read_splits(os.path.join(root, "koniq10k_distributions_sets.csv"))
    records = []
    for row in read_table(scores, required=("image_name", "MOS", "SD")):
        name = row["image_name"]
        if splits is not None and name not in splits:
            raise row.line.error(
                f"image {name} is missing from the official split file "
                "koniq10k_distributions_sets.csv beside it"
            )
        records.append(
            Record(
                distorted=os.path.join(images, name),
                raw_score=parse_float(row["MOS"], row.line, "MOS"),
                scale=KONIQ10K_SCALE,
                score_std=parse_float(row["SD"], row.line, "SD", minimum=0.0),
                split=None if splits is None else splits[name],
            )
        )
    return records


def _read_splits(path: str) -> dict[str, str | None] | None:
    """The official split by image name, or None when the sets file is absent."""
    if not os.path.isfile(path):
        return None
    rows = read_table(path, required=("image_name", "set"))
    return {row["image_name"]: parse_split(row["set"], row.line) for row in rows}
