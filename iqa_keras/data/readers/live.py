"""Reader for the LIVE Image Quality Assessment Database, Release 2 (Sheikh et al.).

Expected layout, as the authors ship it (`databaserelease2/`)::

    jp2k/ jpeg/ wn/ gblur/ fastfading/   img1.bmp ... imgN.bmp (and info.txt, not needed)
    refimgs/                             the 29 reference images, e.g. coinsinfountain.bmp
    dmos.mat                             `dmos` and `orgs`, 1x982 each
    refnames_all.mat                     `refnames_all`, a 1x982 cell array of reference names
    dmos_realigned.mat                   optional: `dmos_new` and `dmos_std`, 1x982 each

The 982 entries of the .mat files run over the folders in the order jp2k (227), jpeg
(233), wn (174), gblur (174), fastfading (174); within a folder, entry k is `img<k>.bmp`.
Entries with `orgs == 1` are copies of the reference images and are dropped, leaving the
779 distorted images, in that order.

Scores: DMOS, lower is better, on the nominal 0-100 scale of the study (Sheikh, Sabir and
Bovik, "A statistical evaluation of recent full reference image quality assessment
algorithms", IEEE TIP 2006). When `dmos_realigned.mat` is present its realigned DMOS
(`dmos_new`, the scores the authors recommend, aligned across the study's sessions) and
their standard deviations (`dmos_std`) are used; otherwise the original `dmos`, without
std. DMOS are differences of z-scores rescaled to 0-100, so a few lie just outside that
range (the realigned ones are reported to span about -3 to 112): normalised scores of
those images fall slightly outside [0, 1], as `Scale.normalise` does not clip.

Records: content id = the reference's name without extension (e.g. `coinsinfountain`),
distortion type = the folder name, level = None (LIVE has no discrete levels), no split.

Example:
>>> read_live("nowhere")
Traceback (most recent call last):
...
iqa_keras.data.records.DatasetError: Label file not found: nowhere/dmos.mat. Expected the LIVE Release 2 ...
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._tables import MatFile
from iqa_keras.data.records import Record, Scale

__all__ = ["read_live", "LIVE_FOLDERS", "LIVE_SCALE"]

LAYOUT = "LIVE Release 2 (jp2k/ jpeg/ wn/ gblur/ fastfading/ refimgs/, dmos.mat, refnames_all.mat)"
# Distortion folder -> number of entries it has in the .mat files, in their order.
LIVE_FOLDERS = {"jp2k": 227, "jpeg": 233, "wn": 174, "gblur": 174, "fastfading": 174}
LIVE_SCALE = Scale(low=0.0, high=100.0, higher_is_better=False)


def read_live(root: str) -> list[Record]:
    """Reads LIVE Release 2: the 779 distorted images with their DMOS (realigned if shipped).

    Args:
        root: the release folder (`databaserelease2`).

    Raises:
        DatasetError: a missing or unreadable .mat file, a missing variable, a variable
            without 982 entries, or a non-finite DMOS of a distorted image.
    """
    count = sum(LIVE_FOLDERS.values())
    original = MatFile(os.path.join(root, "dmos.mat"), LAYOUT)
    is_reference_copy = original.numbers("orgs", count) == 1
    reference_names = MatFile(os.path.join(root, "refnames_all.mat"), LAYOUT).strings(
        "refnames_all", count
    )
    realigned_path = os.path.join(root, "dmos_realigned.mat")
    if os.path.isfile(realigned_path):
        realigned = MatFile(realigned_path, LAYOUT)
        scores_file, scores_name = realigned, "dmos_new"
        stds = realigned.numbers("dmos_std", count)
    else:
        scores_file, scores_name = original, "dmos"
        stds = None
    scores = scores_file.numbers(scores_name, count)

    records = []
    for index, (folder, image_number) in enumerate(_entries()):
        if is_reference_copy[index]:
            continue
        image = f"img{image_number}.bmp"
        reference_name = reference_names[index]
        records.append(
            Record(
                distorted=os.path.join(root, folder, image),
                raw_score=scores_file.finite(scores_name, scores, index, f"{folder}/{image}"),
                scale=LIVE_SCALE,
                reference=os.path.join(root, "refimgs", reference_name),
                score_std=None if stds is None else float(stds[index]),
                distortion_type=folder,
                content_id=os.path.splitext(reference_name)[0],
            )
        )
    return records


def _entries():
    """(folder, k) for each of the 982 entries of the .mat files, in their order."""
    for folder, size in LIVE_FOLDERS.items():
        for image_number in range(1, size + 1):
            yield folder, image_number
