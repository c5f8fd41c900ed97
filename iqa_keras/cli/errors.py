"""The command's exit codes and the one table from error types to them.

A command raises; `main` prints `iqa-keras COMMAND: error: MESSAGE` and exits with the code
of the first row of `exit_code`'s table that the error is an instance of (an error of no
row is a bug: it keeps its traceback).

Example:
>>> exit_code(FileNotFoundError("x.png")), exit_code(ValueError("--alpha")), exit_code(UsageError("give -r"))
(1, 2, 2)
"""

from __future__ import annotations

import re
import sys

from iqa_keras.data.records import DatasetError
from iqa_keras.inputs import InputError
from iqa_keras.io import ImageReadError
from iqa_keras.loading import ModelLoadError

__all__ = ["EXIT_OK", "EXIT_FAILED_INPUT", "EXIT_USAGE", "UsageError", "FailedInput", "exit_code", "message"]

EXIT_OK, EXIT_FAILED_INPUT, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage that no library error names: exit 2."""


class FailedInput(Exception):
    """An input that failed, in words no library error has: exit 1."""


def _table() -> tuple[tuple[tuple[type, ...], int], ...]:
    """(error types, exit code), first match wins: subclasses before their bases."""
    rows = [
        ((UsageError, FileExistsError), EXIT_USAGE),
        ((FailedInput, DatasetError, InputError, ImageReadError, ModelLoadError, FileNotFoundError), EXIT_FAILED_INPUT),
        ((ValueError, TypeError, KeyError, ImportError), EXIT_USAGE),  # bad arguments, a missing extra
        ((OSError,), EXIT_FAILED_INPUT),
    ]
    if "tensorflow" in sys.modules:  # our data code failing inside a tf.data pipeline
        rows.append(((sys.modules["tensorflow"].errors.InvalidArgumentError,), EXIT_FAILED_INPUT))
    return tuple(rows)


def exit_code(error: BaseException) -> int | None:
    """The exit code of `error`, or None for an error of no row (a bug)."""
    return next((code for types, code in _table() if isinstance(error, types)), None)


def message(error: BaseException) -> str:
    """The error's message; for a TensorFlow error that wraps ours (it names the file),
    ours, wherever it sits: a line of its own (eager) or after the iterator's trace."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is None or not isinstance(error, tensorflow.errors.OpError):
        return str(error)
    text = error.message
    found = re.search(r"\b(?:ImageReadError|ValueError): (.+)", text)
    return found[1].strip() if found else text.splitlines()[0]
