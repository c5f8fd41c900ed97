"""Atomic file writes: a reader never sees a half-written file, a crash leaves none.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "scores.csv")
>>> write_atomic(path, lambda file: file.write(b"distorted,score\\n"))
>>> open(path).read()
'distorted,score\\n'
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

__all__ = [
    "OUTPUT_MARKER",
    "TEMPORARY_PREFIX",
    "claim_output_folder",
    "refuse_foreign_file",
    "publish_folder",
    "save_model_atomic",
    "write_atomic",
    "write_json_atomic",
]

# Temporary files are hidden and recognisable, so that a later run can remove leftovers.
TEMPORARY_PREFIX = ".iqa-keras-"
# The file that marks a folder as a command's output, so that it may write there again.
OUTPUT_MARKER = ".iqa-keras-output"
# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object], replace: bool = True) -> None:
    """Calls `write(file)` on a temporary file in `path`'s folder, then renames it to `path`.

    The rename is atomic on POSIX and Windows, and the data reach the disk before it (a
    power cut leaves the old file or the new one, never an empty one); if `write` raises,
    the temporary file is removed and `path` is left as it was.

    Args:
        replace: False never replaces a file at `path`, not even one that appears while
            `write` runs (published by a hard link, which fails if `path` exists).

    Raises:
        FileExistsError: `replace` is False and `path` exists.
    """
    path = os.fspath(path)
    descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        _publish(temporary, path, replace)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json_atomic(path: str | os.PathLike, values) -> None:
    """Writes `values` as indented JSON, atomically; NaN and infinities (a PLCC of too few
    images, say), which JSON lacks, are written as null.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
    >>> write_json_atomic(path, {"srcc": 0.5, "plcc": float("nan")})
    >>> json.load(open(path))
    {'srcc': 0.5, 'plcc': None}
    """
    text = json.dumps(_finite_or_none(values), indent=2, allow_nan=False) + "\n"
    write_atomic(path, lambda file: file.write(text.encode("utf-8")))


def _finite_or_none(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def save_model_atomic(model, path: str | os.PathLike) -> None:
    """`model.save(path)` through a hidden `.keras` file in the same folder, then renamed.

    Keras writes the file by name, so `write_atomic`'s open file cannot be used; the
    temporary name is unique, so that two saves to one path cannot mix, and a failed save
    removes it and leaves `path` as it was.
    """
    path = os.fspath(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=TEMPORARY_PREFIX, suffix=".keras", dir=os.path.dirname(path) or "."
    )
    os.close(descriptor)
    try:
        model.save(temporary)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        _publish(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def publish_folder(temporary: str | os.PathLike, target: str | os.PathLike) -> None:
    """Renames the finished folder `temporary` (made by `tempfile.mkdtemp`) to `target`,
    never replacing one there, with a normal folder's permissions (mkdtemp's are 0700).

    Raises:
        FileExistsError: `target` exists, or appeared meanwhile (another writer). One case
            escapes: on POSIX a rename replaces an empty folder, so an empty `target`
            made between the check and the rename is replaced.

    Example:
    >>> import os, tempfile
    >>> base = tempfile.mkdtemp()
    >>> publish_folder(tempfile.mkdtemp(dir=base), os.path.join(base, "1"))
    >>> os.listdir(base)
    ['1']
    """
    temporary, target = os.fspath(temporary), os.fspath(target)
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists, refusing to overwrite it")
    os.chmod(temporary, 0o777 & ~_UMASK)
    try:
        os.rename(temporary, target)  # fails on a non-empty folder
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
            raise FileExistsError(f"{target} appeared while it was written, refusing to overwrite it") from error
        raise


def claim_output_folder(folder: str | os.PathLike, argument: str, ours: bool = False) -> None:
    """Makes `folder` a command's output folder, refusing one that holds a user's files.

    A missing or empty folder is created and marked (`OUTPUT_MARKER`); a marked one, or
    one the caller knows as its own (`ours`, e.g. an interrupted run to resume), is taken
    as it is. Anything else holds files the command did not write, which it would
    overwrite: `FileExistsError` names the argument, the folder and one such file.

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> claim_output_folder(os.path.join(folder, "run"), "output_dir")
    >>> claim_output_folder(os.path.join(folder, "run"), "output_dir")  # its own: taken again
    >>> _ = open(os.path.join(folder, "notes.txt"), "w")
    >>> claim_output_folder(folder, "--out")
    Traceback (most recent call last):
    ...
    FileExistsError: --out ... holds files that iqa-keras did not write (e.g. notes.txt), ...
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, OUTPUT_MARKER)
    if os.path.exists(marker):
        return
    entries = sorted(os.listdir(folder))
    if entries and not ours:
        raise FileExistsError(
            f"{argument} {folder} holds files that iqa-keras did not write (e.g. {entries[0]}), which "
            "it never overwrites: use a new or empty folder."
        )
    write_atomic(marker, lambda file: file.write(b"written by iqa-keras\n"))


def refuse_foreign_file(path: str | os.PathLike, argument: str, is_ours: Callable[[str], bool]) -> None:
    """Refuses to write `path` over a file the command did not write: `FileExistsError`
    names the argument and the file unless it is missing or `is_ours(path)`.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "plot.png")
    >>> refuse_foreign_file(path, "--plot", lambda _: False)  # missing: free to write
    >>> _ = open(path, "w")
    >>> refuse_foreign_file(path, "--plot", lambda _: False)
    Traceback (most recent call last):
    ...
    FileExistsError: --plot: ... exists and iqa-keras did not write it; it never overwrites such a file: ...
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not (os.path.isfile(path) and is_ours(path)):
        raise FileExistsError(
            f"{argument}: {path} exists and iqa-keras did not write it; it never overwrites such a file: "
            "move it, or choose another name"
        )


def _publish(temporary: str, path: str, replace: bool = True) -> None:
    """Gives `temporary` a normal file's permissions (mkstemp makes it 0600), renames it to
    `path` (or links it there, failing if `path` exists, unless `replace`) and, on POSIX,
    syncs the folder so that the rename itself is durable."""
    os.chmod(temporary, 0o666 & ~_UMASK)
    if replace:
        os.replace(temporary, path)
    else:
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise FileExistsError(f"{path} appeared while it was written, refusing to overwrite it") from None
        os.remove(temporary)
    if hasattr(os, "O_DIRECTORY"):
        folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
