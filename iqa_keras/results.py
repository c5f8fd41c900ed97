"""Rows of results (scores, figures) as a table, CSV, JSON or JSON lines, whole or appended row by row.

`write_rows` formats rows for a terminal or a file. `AppendedRows` appends them to a CSV
or JSON-lines file one at a time, each on disk once appended (flushed and synced), so
that a killed bulk job loses at most the row it was writing: opened again, the file keeps
its rows (a last, partial line is cut off) and `done` says which inputs they cover, so
that the job skips them and repeats none.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "scores.csv")
>>> with AppendedRows(path, "csv", ("distorted", "score")) as rows:
...     rows.append({"distorted": "a.png", "score": 0.5})
>>> with AppendedRows(path, "csv", ("distorted", "score")) as rows:
...     sorted(rows.done)
[('', 'a.png')]
>>> open(path).read()
'distorted,score\\na.png,0.5\\n'
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Sequence

__all__ = ["APPENDABLE_FORMATS", "FORMATS", "AppendedRows", "write_rows"]

FORMATS = ("table", "csv", "json", "jsonl")
APPENDABLE_FORMATS = ("csv", "jsonl")


def write_rows(rows: Sequence[dict], output_format: str, columns: Sequence[str], stream=None) -> None:
    """Writes `rows` (their `columns`) to `stream` (default: standard output) as `output_format`:
    an aligned table, CSV with a header, a JSON array, or one JSON object per line."""
    stream = stream or sys.stdout
    if output_format == "json":
        json.dump([_json_row(row, columns) for row in rows], stream, indent=2)
        stream.write("\n")
    elif output_format == "jsonl":
        for row in rows:
            stream.write(json.dumps(_json_row(row, columns)) + "\n")
    elif output_format == "csv":
        writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: row[key] for key in columns} for row in rows)
    else:
        table = [list(columns)] + [[_text(row[key]) for key in columns] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip(), file=stream)


class AppendedRows:
    """A CSV or JSON-lines file that rows are appended to one at a time (see the module docstring).

    Args:
        path: the file; created with its header (CSV) if missing or empty.
        output_format: "csv" or "jsonl".
        columns: the columns of every row; an existing CSV must have exactly these.

    Attributes:
        done: `(reference or "", distorted)` of the rows already in the file.

    Raises:
        ValueError: another format, or an existing file with other columns (named).
    """

    def __init__(self, path: str | os.PathLike, output_format: str, columns: Sequence[str]):
        if output_format not in APPENDABLE_FORMATS:
            raise ValueError(f"Rows can be appended to {' or '.join(APPENDABLE_FORMATS)} files. "
                             f"Received: format={output_format!r}")
        self.path, self.format, self.columns = os.fspath(path), output_format, tuple(columns)
        existing = _complete_lines(self.path)
        self.done = {(row.get("reference") or "", row.get("distorted", "")) for row in self._parse(existing)}
        self._file = open(self.path, "w" if not existing else "r+", encoding="utf-8", newline="")
        self._file.seek(len(existing.encode("utf-8")))
        self._file.truncate()  # a partial last line, left by a kill
        if not existing and output_format == "csv":
            self._write(",".join(self.columns) + "\n")

    def append(self, row: dict) -> None:
        """Appends one row; it is on disk when this returns."""
        text = io.StringIO()
        if self.format == "csv":
            csv.writer(text, lineterminator="\n").writerow([_csv_value(row[key]) for key in self.columns])
        else:
            text.write(json.dumps(_json_row(row, self.columns)) + "\n")
        self._write(text.getvalue())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AppendedRows:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _parse(self, text: str) -> list[dict]:
        if not text:
            return []
        if self.format == "jsonl":
            try:
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError as error:
                raise ValueError(f"{self.path} is not a JSON-lines file of results: {error}") from None
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != self.columns:
            raise ValueError(f"{self.path} has the columns {reader.fieldnames}, not {list(self.columns)}: "
                             "append to a file of the same results, or write a new one")
        return list(reader)


def _complete_lines(path: str) -> str:
    """The file's text up to its last newline ("" for a missing file)."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            text = file.read()
    except FileNotFoundError:
        return ""
    return text[: text.rfind("\n") + 1]


def _csv_value(value):
    return "" if value is None else value


def _json_row(row: dict, columns: Sequence[str]) -> dict:
    return {key: _json_value(row[key]) for key in columns}


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def _json_value(value):
    """JSON has no infinity or NaN (PSNR of identical images is inf): those become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
