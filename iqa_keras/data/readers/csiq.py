"""Reader for the CSIQ database (Larson and Chandler, Oklahoma State University).

Expected layout, as the authors ship it::

    src_imgs/<image>.png                           the 30 reference images, e.g. 1600.png
    dst_imgs/<folder>/<image>.<TOKEN>.<level>.png  e.g. dst_imgs/awgn/1600.AWGN.1.png
    csiq.DMOS.xlsx                                 sheet `all_by_image`

The label table has the columns `image, dst_idx, dst_type, dst_lev, dmos_std, dmos`; in
the workbook, title rows sit above the header, which is found wherever it is. Reading
the workbook needs openpyxl (`pip install iqa-keras[xlsx]`); without it, save the sheet
as `csiq.DMOS.txt` or `csiq.DMOS.csv` (tab- or comma-separated, same header) in the root.

Distortion names: the sheet's `dst_type` names map to the folders of `dst_imgs/`
(`CSIQ_TYPES`: noise -> awgn, jpeg -> jpeg, jpeg 2000 -> jpeg2000, 1/f noise -> fnoise,
blur -> blur, contrast -> contrast; the folder names themselves are accepted too), and
each folder's name is its files' token up to case (`CSIQ_TOKENS`: the release writes
`AWGN`, `BLUR`, `JPEG` in upper case, `contrast`, `fnoise`, `jpeg2000` in lower case).
Folders and files are matched ignoring case; a file found in no case is named as the
release spells it, so that `check_files` reports it as such.

Scores: DMOS on 0-1, lower is better (Larson and Chandler, "Most apparent distortion",
J. Electronic Imaging 2010), with their standard deviations (`dmos_std`).

Records, in the sheet's order: content id = the image name, kept as text even where the
sheet stores it as a number (`1600`); distortion type = the folder name; level = `dst_lev`
(1 = mildest); no split.

Example:
>>> [CSIQ_TOKENS[CSIQ_TYPES[name]] for name in ("noise", "1/f noise", "jpeg 2000")]
['AWGN', 'fnoise', 'jpeg2000']
"""

from __future__ import annotations

import os

from iqa_keras.data.readers._common import FolderIndex, Row, parse_float, read_lines, read_table
from iqa_keras.data.readers._tables import read_sheet
from iqa_keras.data.records import DatasetError, Record, Scale

__all__ = ["read_csiq", "CSIQ_TYPES", "CSIQ_TOKENS", "CSIQ_SCALE"]

LAYOUT = "CSIQ (src_imgs/, dst_imgs/<type>/, csiq.DMOS.xlsx)"
LABEL_FILES = ("csiq.DMOS.xlsx", "csiq.DMOS.txt", "csiq.DMOS.csv")
SHEET = "all_by_image"
COLUMNS = ("image", "dst_type", "dst_lev", "dmos_std", "dmos")
# The sheet's `dst_type` (lower case, spaces collapsed) -> the folder under dst_imgs/.
CSIQ_TYPES = {
    "noise": "awgn",
    "awgn": "awgn",
    "jpeg": "jpeg",
    "jpeg 2000": "jpeg2000",
    "jpeg2000": "jpeg2000",
    "1/f noise": "fnoise",
    "fnoise": "fnoise",
    "blur": "blur",
    "contrast": "contrast",
}
# Folder under dst_imgs/ -> the token in its file names, as the release spells it.
CSIQ_TOKENS = {
    "awgn": "AWGN",
    "jpeg": "JPEG",
    "jpeg2000": "jpeg2000",
    "fnoise": "fnoise",
    "blur": "BLUR",
    "contrast": "contrast",
}
CSIQ_SCALE = Scale(low=0.0, high=1.0, higher_is_better=False)


def read_csiq(root: str) -> list[Record]:
    """Reads CSIQ: the 866 distorted images with their DMOS, std, type and level.

    Args:
        root: the release folder (holding `src_imgs/`, `dst_imgs/` and the DMOS table).

    Raises:
        DatasetError: no DMOS table, a table without the expected columns, a bad row
            (unknown distortion, bad level or score: naming the file and line), a missing
            image folder, or a workbook that cannot be read (openpyxl missing included).
    """
    rows = _read_labels(root)
    references = FolderIndex(os.path.join(root, "src_imgs"), LAYOUT)
    distortions = FolderIndex(os.path.join(root, "dst_imgs"), LAYOUT)
    folders: dict[str, FolderIndex] = {}
    records = []
    for row in rows:
        image = row["image"]
        if not image:
            raise row.line.error("`image` is empty")
        folder = _folder(row)
        level = _level(row)
        if folder not in folders:
            folders[folder] = FolderIndex(distortions.path(folder), LAYOUT)
        reference = references.path(f"{image}.png")
        records.append(
            Record(
                distorted=folders[folder].path(f"{image}.{CSIQ_TOKENS[folder]}.{level}.png"),
                raw_score=parse_float(row["dmos"], row.line, "dmos"),
                scale=CSIQ_SCALE,
                reference=reference,
                score_std=parse_float(row["dmos_std"], row.line, "dmos_std"),
                distortion_type=folder,
                distortion_level=level,
                # The file found, whatever case the label gave: one content per reference.
                content_id=os.path.splitext(os.path.basename(reference))[0],
            )
        )
    return records


def _read_labels(root: str) -> list[Row]:
    """The rows of the DMOS table: the workbook if shipped, else its text export."""
    for name in LABEL_FILES:
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        if name.endswith(".xlsx"):
            return read_sheet(path, COLUMNS, LAYOUT, sheet=SHEET)
        lines = read_lines(path)
        delimiter = "\t" if lines and "\t" in lines[0].text else ","
        return read_table(path, COLUMNS, delimiter=delimiter)
    raise DatasetError(
        f"Label file not found: {os.path.join(root, LABEL_FILES[0])} (or "
        f"{' or '.join(LABEL_FILES[1:])}). Expected the {LAYOUT} layout."
    )


def _folder(row: Row) -> str:
    name = " ".join(row["dst_type"].lower().split())
    if name not in CSIQ_TYPES:
        raise row.line.error(
            f"unknown `dst_type` {row['dst_type']!r}; expected one of "
            f"{', '.join(sorted(CSIQ_TYPES))}"
        )
    return CSIQ_TYPES[name]


def _level(row: Row) -> int:
    level = parse_float(row["dst_lev"], row.line, "dst_lev")
    if not (level.is_integer() and level >= 1):
        raise row.line.error(f"`dst_lev` must be a whole number >= 1, received {row['dst_lev']!r}")
    return int(level)
