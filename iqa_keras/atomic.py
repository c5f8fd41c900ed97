"""Atomic file writes: a reader never sees a half-written file, a crash leaves none.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "scores.csv")
>>> write_atomic(path, lambda file: file.write(b"distorted,score\\n"))
>>> open(path).read()
'distorted,score\\n'
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["TEMPORARY_PREFIX", "save_model_atomic", "write_atomic", "write_json_atomic"]

# Temporary files are hidden and recognisable, so that a later run can remove leftovers.
TEMPORARY_PREFIX = ".iqa-keras-"


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Calls `write(file)` on a temporary file in `path`'s folder, then renames it to `path`.

    The rename is atomic on POSIX and Windows; if `write` raises, the temporary file is
    removed and `path` is left as it was.
    """
    path = os.fspath(path)
    descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        # mkstemp makes the file private (0600); give it the permissions of a normal file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


def write_json_atomic(path: str | os.PathLike, values) -> None:
    """Writes `values` as indented JSON, atomically."""
    text = json.dumps(values, indent=2) + "\n"
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def save_model_atomic(model, path: str | os.PathLike) -> None:
    """`model.save(path)` through a hidden `.keras` file in the same folder, then renamed.

    Keras writes the file by name, so `write_atomic`'s open file cannot be used; a failed
    save removes the temporary file and leaves `path` as it was.
    """
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(path), TEMPORARY_PREFIX + os.path.basename(path))
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
