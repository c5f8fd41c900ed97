"""Helpers shared by the dataset readers: label files with line numbers, clear errors.

Every reader reports problems the same way: a missing label file names the file and the
release layout that was expected; a bad line names the file and the line number and shows
the line; a table without the expected columns names the missing columns.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "labels.csv")
>>> with open(path, "w") as file:
...     _ = file.write("image,score\\na.png,3.5\\nb.png,oops\\n")
>>> rows = read_table(path, required=("image", "score"))
>>> [(row.line.number, row["image"]) for row in rows]
[(2, 'a.png'), (3, 'b.png')]
>>> parse_float(rows[1]["score"], rows[1].line, "score")
Traceback (most recent call last):
...
iqa_keras.data.records.DatasetError: .../labels.csv, line 3: `score` must be a number,
received 'oops': b.png,oops
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import math
import os
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from iqa_keras.data.records import DatasetError, Scale

__all__ = [
    "Line",
    "Row",
    "require_file",
    "require_folder",
    "read_lines",
    "read_table",
    "parse_float",
    "parse_split",
    "observed_scale",
    "FolderIndex",
    "DistortionName",
    "SPLIT_ALIASES",
    "parse_distortion_name",
]

_DISTORTION_NAME = re.compile(
    r"^(?P<reference>[A-Za-z]+\d+)_(?P<type>[A-Za-z0-9]+)_(?P<level>\d+)\.[A-Za-z0-9]+$"
)

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
    "tst": "test",
}


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of a label file, kept to point at it in error messages.

    Example:
    >>> Line("mos.txt", 7, "5.1 i01_01_1.bmp").error("bad name")
    DatasetError('mos.txt, line 7: bad name: 5.1 i01_01_1.bmp')
    """

    path: str
    number: int
    text: str

    def error(self, problem: str) -> DatasetError:
        """A `DatasetError` naming the file and line number and showing the line."""
        return DatasetError(f"{self.path}, line {self.number}: {problem}: {self.text}")


class Row(dict):
    """One row of a table: its values by column name, plus the `Line` it came from."""

    def __init__(self, values: dict[str, str], line: Line):
        super().__init__(values)
        self.line = line


def require_file(path: str, layout: str) -> str:
    """Returns `path` if it is a file, else raises a `DatasetError` naming the layout.

    Args:
        path: the label file a reader needs.
        layout: a sentence describing the release layout the reader expects.

    Example:
    >>> require_file("nowhere/dmos.csv", "KADID-10k: images/ and dmos.csv")
    Traceback (most recent call last):
    ...
    iqa_keras.data.records.DatasetError: Label file not found: nowhere/dmos.csv.
    Expected the KADID-10k: images/ and dmos.csv layout.
    """
    if not os.path.isfile(path):
        raise DatasetError(f"Label file not found: {path}. Expected the {layout} layout.")
    return path


def require_folder(path: str, layout: str) -> str:
    """Returns `path` if it is a folder, else raises a `DatasetError` naming the layout.

    Example:
    >>> require_folder("nowhere/Train_Label", "PIPAL")
    Traceback (most recent call last):
    ...
    iqa_keras.data.records.DatasetError: Folder not found: nowhere/Train_Label.
    Expected the PIPAL layout.
    """
    if not os.path.isdir(path):
        raise DatasetError(f"Folder not found: {path}. Expected the {layout} layout.")
    return path


def read_lines(path: str) -> list[Line]:
    """The non-blank lines of a text file, stripped, with their 1-based line numbers.

    Reads UTF-8 (a byte-order mark is dropped) and falls back to Latin-1, so that label
    files written on any system are read as shipped.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mos.txt")
    >>> with open(path, "w") as file:
    ...     _ = file.write("5.5 i01_01_1.bmp\\n\\n4.2 i01_01_2.bmp\\n")
    >>> [(line.number, line.text) for line in read_lines(path)]
    [(1, '5.5 i01_01_1.bmp'), (3, '4.2 i01_01_2.bmp')]
    """
    return [
        Line(path, number, text.strip())
        for number, text in enumerate(_text_lines(_read_text(path)), start=1)
        if text.strip()
    ]


def read_table(
    path: str, required: Sequence[str], optional: Sequence[str] = (), delimiter: str = ","
) -> list[Row]:
    """Reads a delimited table with a header row; values are stripped strings.

    Column names are matched exactly after stripping spaces and quotes; columns other than
    `required` and `optional` are ignored, and an absent optional column is absent from
    each row. Blank lines are skipped.

    Raises:
        DatasetError: a required column is missing (naming them and the file), or a row
            has a different number of fields than the header (naming the line).

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dmos.csv")
    >>> with open(path, "w") as file:
    ...     _ = file.write('"dist_img","dmos"\\n"I01_01_01.png",4.57\\n')
    >>> read_table(path, required=("dist_img", "dmos"), optional=("var",))
    [{'dist_img': 'I01_01_01.png', 'dmos': '4.57'}]
    >>> read_table(path, required=("dist_img", "ref_img"))
    Traceback (most recent call last):
    ...
    iqa_keras.data.records.DatasetError: .../dmos.csv: missing column(s) ref_img. Expected
    columns dist_img, ref_img (optional: none); found dist_img, dmos.
    """
    lines = _text_lines(_read_text(path))
    reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
    header = None
    rows = []
    for fields in reader:
        number = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        fields = [field.strip() for field in fields]
        if header is None:
            header = fields
            missing = [name for name in required if name not in header]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)}. Expected columns "
                    f"{', '.join(required)} (optional: {', '.join(optional) or 'none'}); "
                    f"found {', '.join(header)}.{_separator_hint(header, delimiter)}"
                )
            columns = (*required, *optional)
            wanted = {name: header.index(name) for name in columns if name in header}
            continue
        line = Line(path, number, lines[number - 1].strip())
        if len(fields) != len(header):
            raise line.error(
                f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}"
            )
        rows.append(Row({name: fields[index] for name, index in wanted.items()}, line))
    if header is None:
        raise DatasetError(
            f"{path} is empty: expected a header row with columns {', '.join(required)}."
        )
    return rows


def parse_float(value: str, line: Line, what: str, minimum: float | None = None) -> float:
    """Parses a finite number from a label file, or raises the line's error.

    Args:
        value: the text to parse.
        line: the line it comes from, named in the error.
        what: the column or quantity, named in the error.
        minimum: if given, the smallest value accepted (0 for a std or a variance).

    Example:
    >>> parse_float("3.25", Line("f.csv", 2, "a.png,3.25"), "score")
    3.25
    >>> parse_float("nan", Line("f.csv", 2, "a.png,nan"), "score")
    Traceback (most recent call last):
    ...
    iqa_keras.data.records.DatasetError: f.csv, line 2: `score` must be a finite number,
    received 'nan': a.png,nan
    """
    try:
        number = float(value)
    except ValueError:
        raise line.error(f"`{what}` must be a number, received {value!r}") from None
    if not math.isfinite(number):
        raise line.error(f"`{what}` must be a finite number, received {value!r}")
    if minimum is not None and number < minimum:
        raise line.error(f"`{what}` must be at least {minimum}, received {value!r}")
    return number


def parse_split(value: str, line: Line) -> str | None:
    """Maps a split name or a common alias to `"train"`, `"validation"` or `"test"`.

    Case is ignored; an empty value means no split (None).

    Example:
    >>> parse_split("Training", Line("f.csv", 2, "")), parse_split("val", Line("f.csv", 3, ""))
    ('train', 'validation')
    """
    if not value:
        return None
    try:
        return SPLIT_ALIASES[value.strip().lower()]
    except KeyError:
        raise line.error(
            f"unknown split {value!r}; expected train, validation or test (or one of "
            f"{', '.join(sorted(SPLIT_ALIASES))})"
        ) from None


def observed_scale(
    scores: Iterable[float], higher_is_better: bool, source: str, hint: str = ""
) -> Scale:
    """The `Scale` spanned by the observed scores, for open scales (Elo, user data).

    Args:
        scores: the raw scores.
        higher_is_better: the scores' direction.
        source: the file or folder they come from, named in errors.
        hint: a sentence appended to the error, e.g. how to give the range instead.

    Raises:
        DatasetError: no scores, or all scores equal (no range to normalise by).

    Example:
    >>> observed_scale([1200.0, 1500.5, 1350.0], True, "labels")
    Scale(low=1200.0, high=1500.5, higher_is_better=True)
    """
    scores = list(scores)
    if not scores:
        raise DatasetError(f"{source}: no scores found. {hint}".rstrip())
    low, high = min(scores), max(scores)
    if not high > low:
        raise DatasetError(
            f"{source}: all {len(scores)} scores equal {low}, so there is no range to "
            f"normalise by. {hint}".rstrip()
        )
    return Scale(low, high, higher_is_better)


class FolderIndex:
    """Finds files in a folder by name, ignoring case (releases mix `I01.BMP`, `i25.bmp`).

    An exact match wins; otherwise the first case-insensitive match in sorted order. A
    name found in neither way resolves to the path as written, so that `check_files`
    reports it as missing.

    Args:
        folder: the folder to list (listed once).
        layout: the release layout, named in the error when the folder is missing.

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "I01.BMP"), "w").close()
    >>> index = FolderIndex(folder, "TID2013")
    >>> os.path.basename(index.path("i01.bmp")), "i02.bmp" in index
    ('I01.BMP', False)
    """

    def __init__(self, folder: str, layout: str):
        self.folder = require_folder(folder, layout)
        self._names = set(os.listdir(folder))
        self._by_lower = {}
        for name in sorted(self._names):
            self._by_lower.setdefault(name.lower(), name)

    def __contains__(self, name: str) -> bool:
        return name in self._names or name.lower() in self._by_lower

    def path(self, name: str) -> str:
        """The path of `name` in the folder, with the case the folder actually uses."""
        if name not in self._names:
            name = self._by_lower.get(name.lower(), name)
        return os.path.join(self.folder, name)


class DistortionName(NamedTuple):
    """The parts of a `<reference>_<type>_<level>.<ext>` file name (KADID, TID, PIPAL)."""

    reference: str
    type: str
    level: int


def parse_distortion_name(name: str, line: Line) -> DistortionName:
    """Splits a name like `I01_07_3.png` into reference id, distortion type and level.

    The reference id keeps its digits as written and its letters in upper case (TID
    writes `i01`, its reference file is `I01.BMP`); the type is any alphanumeric token
    (`"07"`, or a composition such as `"C2"`); the level is an integer.

    Example:
    >>> parse_distortion_name("i01_07_3.bmp", Line("mos.txt", 1, "5.5 i01_07_3.bmp"))
    DistortionName(reference='I01', type='07', level=3)
    >>> parse_distortion_name("I001_C2_03.png", Line("dmos.csv", 2, "")).type
    'C2'
    """
    match = _DISTORTION_NAME.match(name)
    if match is None:
        raise line.error(
            f"image name {name!r} does not follow the <reference>_<type>_<level>.<ext> "
            "pattern (e.g. I01_07_3.png)"
        )
    reference = match["reference"]
    letters = reference.rstrip("0123456789")
    return DistortionName(
        letters.upper() + reference[len(letters):], match["type"], int(match["level"])
    )


def _separator_hint(header: list[str], delimiter: str) -> str:
    """A hint for a one-column header that holds another common separator (`;`, tab)."""
    if len(header) == 1:
        for mark, name in ((";", "';'"), ("\t", "a tab")):
            if mark != delimiter and mark in header[0]:
                return f" The header holds {name}: separate the columns with {delimiter!r}."
    return ""


def _text_lines(text: str) -> list[str]:
    """`text` split at line ends alone (\\n, \\r\\n, \\r), not at the other characters
    `str.splitlines` splits at (such as \\x85, which Latin-1 text may hold)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_text(path: str) -> str:
    """The file's text: UTF-16 with a byte-order mark (Excel's "Unicode Text"), else UTF-8
    (with or without one), else Latin-1."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:  # missing, a folder, unreadable
        raise DatasetError(f"Cannot read {path}: {error.strerror or error}") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise DatasetError(f"{path} begins as UTF-16 text but is not: {error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")
