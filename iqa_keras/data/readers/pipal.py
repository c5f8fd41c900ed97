"""Reader for the PIPAL training set (perceptual IQA of image restoration, NTIRE challenges).

Layout (the release as shipped):

    Train_Ref/                  A0001.bmp .. the references
    Distortion_1/ .. Distortion_4/
                                the distorted images A0001_00_00.bmp (reference A0001,
                                type group 00, index 00), spread over these folders
    Train_Label/A0001.txt ..    one file per reference, lines `A0001_00_00.bmp,1520.06`

Scores are Elo ratings from pairwise preferences, higher is better, on an open scale: the
`Scale` spans the observed minimum and maximum (Gu et al., "PIPAL: a large-scale image
quality assessment dataset for perceptual image restoration", ECCV 2020). Records come in
the order of the label files sorted by name, then of their lines. The second number of a
name indexes images within a type group, not a severity, so `distortion_level` is None.

Example:
>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> for folder in ("Train_Ref", "Train_Label", "Distortion_1"):
...     os.mkdir(os.path.join(root, folder))
>>> for name in ("A0001_00_00.bmp", "A0001_10_02.bmp"):
...     open(os.path.join(root, "Distortion_1", name), "w").close()
>>> with open(os.path.join(root, "Train_Label", "A0001.txt"), "w") as file:
...     _ = file.write("A0001_00_00.bmp,1520.06\\nA0001_10_02.bmp,1389.5\\n")
>>> [(record.distortion_type, record.score) for record in read_pipal(root)]
[('00', 1.0), ('10', 0.0)]
"""

from __future__ import annotations

import os
import re

from iqa_keras.data.readers._common import (
    observed_scale,
    parse_distortion_name,
    parse_float,
    read_lines,
    require_folder,
)
from iqa_keras.data.records import DatasetError, Record

__all__ = ["read_pipal"]

_LAYOUT = "PIPAL (Train_Ref/, Distortion_1/ .. Distortion_4/, Train_Label/*.txt)"
_DISTORTION_FOLDER = re.compile(r"^Distortion_(\d+)$")


def read_pipal(root: str) -> list[Record]:
    """Reads the PIPAL training set (23200 distorted images of 200 references).

    Raises:
        DatasetError: a missing folder, a bad label line, or distorted images found in
            none of the `Distortion_<k>` folders (listing them).
    """
    labels = require_folder(os.path.join(root, "Train_Label"), _LAYOUT)
    label_files = sorted(name for name in os.listdir(labels) if name.lower().endswith(".txt"))
    if not label_files:
        raise DatasetError(f"No label files (*.txt) in {labels}. Expected the {_LAYOUT} layout.")
    rated = []
    for label_file in label_files:
        for line in read_lines(os.path.join(labels, label_file)):
            fields = [field.strip() for field in line.text.split(",")]
            if len(fields) != 2:
                raise line.error("expected two fields, `<image name>,<elo score>`")
            image, elo = fields
            rated.append((image, parse_distortion_name(image, line), parse_float(elo, line, "elo")))
    scale = observed_scale((elo for _, _, elo in rated), True, labels)
    paths = _distorted_paths(root)
    _check_found([image for image, _, _ in rated], paths, root)
    return [
        Record(
            distorted=paths[image],
            raw_score=elo,
            scale=scale,
            reference=os.path.join(root, "Train_Ref", name.reference + os.path.splitext(image)[1]),
            distortion_type=name.type,
            content_id=name.reference,
        )
        for image, name, elo in rated
    ]


def _distorted_paths(root: str) -> dict[str, str]:
    """Maps each distorted image name to its path, over the Distortion_<k> folders in order."""
    numbered = sorted(
        (int(match[1]), match[0])
        for match in map(_DISTORTION_FOLDER.match, os.listdir(require_folder(root, _LAYOUT)))
        if match and os.path.isdir(os.path.join(root, match[0]))
    )
    if not numbered:
        raise DatasetError(f"No Distortion_<k> folders in {root}. Expected the {_LAYOUT} layout.")
    paths = {}
    for _, folder in numbered:
        for name in sorted(os.listdir(os.path.join(root, folder))):
            paths.setdefault(name, os.path.join(root, folder, name))
    return paths


def _check_found(images: list[str], paths: dict[str, str], root: str, shown: int = 10):
    """Raises a `DatasetError` listing the rated images found in no Distortion_<k> folder."""
    missing = [image for image in images if image not in paths]
    if missing:
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        raise DatasetError(
            f"PIPAL: {len(missing)} of {len(images)} rated images are in none of the "
            f"Distortion_<k> folders of {root}: {', '.join(missing[:shown])}{more}"
        )
