"""Label tables that releases ship as MATLAB files or Excel workbooks.

`MatFile` reads the variables of a `.mat` file (LIVE, LIVE Challenge) as flat lists in
MATLAB's order, with the expected count checked; `read_sheet` reads a sheet of an `.xlsx`
workbook (CSIQ, SPAQ) into the same `Row`s that `_common.read_table` gives for text
tables, finding the header row below any title rows. openpyxl is an optional extra: a
missing install is reported as a `DatasetError` saying how to add it.

Example:
>>> import os, tempfile, numpy as np, scipy.io
>>> path = os.path.join(tempfile.mkdtemp(), "scores.mat")
>>> names = np.array(["a.bmp", "b.bmp"], dtype=object)
>>> scipy.io.savemat(path, {"names": names, "mos": np.array([[50.5, 60.0]])})
>>> mat = MatFile(path, "demo: scores.mat")
>>> mat.strings("names"), mat.numbers("mos", count=2).tolist()
(['a.bmp', 'b.bmp'], [50.5, 60.0])
>>> mat.numbers("mos", count=3)
Traceback (most recent call last):
...
iqa_keras.data.records.DatasetError: .../scores.mat: `mos` has 2 entries, expected 3 ...
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence

import numpy as np
import scipy.io

from iqa_keras.data.readers._common import Line, Row, require_file
from iqa_keras.data.records import DatasetError

__all__ = ["MatFile", "read_sheet"]

OPENPYXL_MISSING = "install iqa-keras[xlsx] or pip install openpyxl"


class MatFile:
    """The variables of a MATLAB (v5) `.mat` file, read as flat lists in MATLAB order.

    Args:
        path: the `.mat` file.
        layout: the release layout, named in the error when the file is missing.

    Raises:
        DatasetError: the file is missing or is not a readable `.mat` file.
    """

    def __init__(self, path: str, layout: str):
        self.path = require_file(path, layout)
        self.layout = layout
        try:
            self._variables = scipy.io.loadmat(path)
        except Exception as error:  # scipy raises many kinds for a truncated or foreign file
            raise DatasetError(f"Cannot read {path} as a MATLAB .mat file: {type(error).__name__}: {error}") from None

    def numbers(self, name: str, count: int | None = None) -> np.ndarray:
        """The numeric variable `name` as a float64 vector (MATLAB's column-major order)."""
        variable = self._get(name)
        try:
            values = np.asarray(variable, dtype=np.float64).ravel(order="F")
        except (TypeError, ValueError):
            raise DatasetError(f"{self.path}: `{name}` must hold numbers.") from None
        return self._counted(name, values, count)

    def strings(self, name: str, count: int | None = None) -> list[str]:
        """The cell array of text `name` as a list of strings (MATLAB's order)."""
        cells = np.asarray(self._get(name), dtype=object).ravel(order="F")
        texts = []
        for index, cell in enumerate(cells, start=1):
            text = _cell_text(cell)
            if text is None:
                raise DatasetError(
                    f"{self.path}: `{name}` must be a cell array of text; entry {index} "
                    f"is {cell!r}."
                )
            texts.append(text)
        return self._counted(name, texts, count)

    def finite(self, name: str, values: np.ndarray, index: int, image: str) -> float:
        """Entry `index` (0-based) of the vector `values` read from `name`, checked finite.

        Raises:
            DatasetError: naming the file, the variable, the entry (1-based) and `image`.
        """
        value = float(values[index])
        if not math.isfinite(value):
            raise DatasetError(
                f"{self.path}: `{name}` entry {index + 1} ({image}) must be a finite "
                f"number, received {value}."
            )
        return value

    def _get(self, name: str):
        if name not in self._variables:
            found = sorted(key for key in self._variables if not key.startswith("__"))
            raise DatasetError(
                f"{self.path}: missing variable `{name}` (the {self.layout} layout). "
                f"Found: {', '.join(found) or 'none'}."
            )
        return self._variables[name]

    def _counted(self, name, values, count):
        if count is not None and len(values) != count:
            raise DatasetError(
                f"{self.path}: `{name}` has {len(values)} entries, expected {count} "
                f"(the {self.layout} layout)."
            )
        return values


def _cell_text(cell) -> str | None:
    """The text of one cell of a MATLAB cell array (a char array, maybe in a 1x1 cell)."""
    cell = np.asarray(cell)
    if cell.dtype == object and cell.size == 1:
        return _cell_text(cell.item())
    if cell.dtype.kind == "U":
        return "".join(cell.ravel().tolist()).strip()
    return None


def read_sheet(
    path: str,
    required: Sequence[str],
    layout: str,
    sheet: str | None = None,
    optional: Sequence[str] = (),
) -> list[Row]:
    """Reads a sheet of an `.xlsx` workbook into `Row`s of stripped strings.

    The header is the first row holding all `required` column names (matched exactly
    after stripping), so title rows above it and empty columns before it are skipped.
    Numbers become text as written (`1600`, not `1600.0`); empty rows are skipped. Each
    row's `Line` has the sheet's row number and the row's cells joined by tabs.

    Args:
        path: the workbook.
        required: column names every row must have.
        layout: the release layout, named in the error when the file is missing.
        sheet: the sheet's name; None for the first sheet.
        optional: further columns to keep where present.

    Raises:
        DatasetError: the file or sheet is missing or unreadable, openpyxl is not
            installed, or no row holds all required columns (naming the missing ones).

    Example:
    >>> import os, tempfile, openpyxl
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.xlsx")
    >>> workbook = openpyxl.Workbook()
    >>> workbook.active.append(["Scores of the demo study"])
    >>> workbook.active.append(["image", "mos"])
    >>> workbook.active.append([1600, 3.5])
    >>> workbook.save(path)
    >>> rows = read_sheet(path, ("image", "mos"), "demo")
    >>> [(row.line.number, row["image"], row["mos"]) for row in rows]
    [(3, '1600', '3.5')]
    """
    require_file(path, layout)
    try:
        import openpyxl
    except ImportError:
        raise DatasetError(f"Reading {path} needs openpyxl: {OPENPYXL_MISSING}.") from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError(f"Cannot read {path} as an .xlsx workbook: {error}") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise DatasetError(
                f"{path}: no sheet {sheet!r} (the {layout} layout). "
                f"Found: {', '.join(workbook.sheetnames)}."
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        # Some writers store wrong dimensions; read the cells actually present.
        worksheet.reset_dimensions()
        cells = [_numbered_row(row) for row in worksheet.iter_rows()]
    finally:
        workbook.close()
    return _rows_below_header(path, [row for row in cells if row is not None], required, optional)


def _numbered_row(cells) -> tuple[int, list[str]] | None:
    """A sheet row as (row number, cell texts), or None when all its cells are empty."""
    numbers = [cell.row for cell in cells if cell.value is not None]
    texts = [_value_text(cell.value) for cell in cells]
    if not numbers or not any(texts):
        return None
    return numbers[0], texts


def _value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows_below_header(path, numbered_rows, required, optional) -> list[Row]:
    best_found: list[str] = []
    for position, (_, texts) in enumerate(numbered_rows):
        found = [name for name in required if name in texts]
        if len(found) == len(required):
            columns = {
                name: texts.index(name) for name in (*required, *optional) if name in texts
            }
            below = numbered_rows[position + 1 :]
            return [_row(path, number, texts, columns) for number, texts in below]
        if len(found) > len(best_found):
            best_found = found
    missing = [name for name in required if name not in best_found]
    raise DatasetError(
        f"{path}: missing column(s) {', '.join(missing)}. Expected a header row with "
        f"columns {', '.join(required)}."
    )


def _row(path, number, texts, columns) -> Row:
    line = Line(path, number, "\t".join(texts).strip("\t"))
    return Row(
        {name: texts[index] if index < len(texts) else "" for name, index in columns.items()},
        line,
    )
