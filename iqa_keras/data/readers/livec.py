"""Reader for the LIVE In the Wild Image Quality Challenge Database (Ghadiyaram and Bovik).

Expected layout, as the authors ship it (`ChallengeDB_release/`)::

    Images/                       the 1162 test images, e.g. 10.bmp
    Images/trainingImages/        the 7 images used to train the subjects
    Data/AllImages_release.mat    `AllImages_release`, a cell array of the 1169 file names
    Data/AllMOS_release.mat       `AllMOS_release`, their MOS (same order)
    Data/AllStdDev_release.mat    `AllStdDev_release`, the std of their ratings

The release lists the 7 training images first; they were only shown to train the
subjects and are dropped, leaving the 1162 rated images in the release's order.

Scores: MOS on 0-100, higher is better (the study's continuous rating bar; Ghadiyaram
and Bovik, "Massive online crowdsourced study of subjective and objective picture
quality", IEEE TIP 2016), with their standard deviations.

Records: no references (authentic distortions); content id = the image's own name
without extension; no distortion type or level; no split.

Example:
>>> read_livec("nowhere")
Traceback (most recent call last):
...
iqa_keras.data.records.DatasetError: Label file not found: nowhere/Data/AllImages_release.mat. Expected the LIVE Challenge ...
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._tables import MatFile
from iqa_keras.data.records import Record, Scale

__all__ = ["read_livec", "LIVEC_SCALE"]

LAYOUT = (
    "LIVE Challenge (Images/, Data/AllImages_release.mat, Data/AllMOS_release.mat, "
    "Data/AllStdDev_release.mat)"
)
RELEASE_SIZE = 1169
TRAINING_IMAGES = 7
LIVEC_SCALE = Scale(low=0.0, high=100.0, higher_is_better=True)


def read_livec(root: str) -> list[Record]:
    """Reads LIVE Challenge: the 1162 rated images with their MOS and std.

    Args:
        root: the release folder (`ChallengeDB_release`).

    Raises:
        DatasetError: a missing or unreadable .mat file, a missing variable, a variable
            without the release's 1169 entries, or a non-finite MOS.
    """
    data = os.path.join(root, "Data")
    names = _variable(data, "AllImages_release").strings("AllImages_release", RELEASE_SIZE)
    mos_file = _variable(data, "AllMOS_release")
    scores = mos_file.numbers("AllMOS_release", RELEASE_SIZE)
    stds = _variable(data, "AllStdDev_release").numbers("AllStdDev_release", RELEASE_SIZE)
    return [
        Record(
            distorted=os.path.join(root, "Images", names[index]),
            raw_score=mos_file.finite("AllMOS_release", scores, index, names[index]),
            scale=LIVEC_SCALE,
            score_std=float(stds[index]),
            content_id=os.path.splitext(names[index])[0],
        )
        for index in range(TRAINING_IMAGES, RELEASE_SIZE)
    ]


def _variable(data: str, name: str) -> MatFile:
    """The release's `<name>.mat`, which holds the variable of the same name."""
    return MatFile(os.path.join(data, f"{name}.mat"), LAYOUT)
