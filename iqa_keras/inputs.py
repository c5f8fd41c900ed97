"""Turning what a user names on the command line into image files and pairs.

`expand_images` accepts files, directories (their image files, sorted) and glob
patterns (for shells that do not expand them); `match_pairs` pairs each distorted
image with its reference: one reference file for all, or a reference directory
holding a file of the same name; `overlay_paths` names the overlays of `iqa-keras maps`;
`parse_shard` and `in_shard` split the inputs of bulk scoring into disjoint parts.

Example:
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> for name in ("b.png", "a.png", "notes.txt"):
...     open(os.path.join(folder, name), "wb").close()
>>> [os.path.basename(path) for path in expand_images([folder])]
['a.png', 'b.png']
"""

from __future__ import annotations

import collections
import glob
import os
import zlib
from collections.abc import Iterable, Sequence

__all__ = [
    "IMAGE_EXTENSIONS",
    "OVERLAY_SUFFIX",
    "InputError",
    "expand_images",
    "in_shard",
    "match_pairs",
    "overlay_paths",
    "parse_shard",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm")
OVERLAY_SUFFIX = ".quality.png"  # what `iqa-keras maps` writes beside (or for) each image
_GLOB_CHARACTERS = "*?["


class InputError(ValueError):
    """A named input that matches no image: a missing file, an empty folder or pattern."""


def expand_images(names: Iterable[str | os.PathLike]) -> list[str]:
    """Expands files, directories and glob patterns into a list of image files.

    Files are kept as given (even with unusual extensions: the reader decides),
    directories contribute their image files in sorted order (not recursive), and
    patterns their sorted matches, each at least one file; both leave out hidden files,
    such as macOS's `._x.png`, and the `x.quality.png` overlays of `iqa-keras maps`. A
    missing plain file is kept as given: reading it fails with its name, and the other
    files go on.

    Raises:
        InputError: naming the first folder or pattern that matches nothing.
    """
    paths = []
    for name in names:
        name = os.fspath(name)
        if os.path.isdir(name):
            found = sorted(
                os.path.join(name, entry)
                for entry in os.listdir(name)
                if entry.lower().endswith(IMAGE_EXTENSIONS)
                and _is_input(entry)
                and os.path.isfile(os.path.join(name, entry))
            )
            if not found:
                raise InputError(f"Folder {name} holds no image files ({', '.join(IMAGE_EXTENSIONS)}).")
            paths.extend(found)
        elif os.path.exists(name) or not any(char in name for char in _GLOB_CHARACTERS):
            paths.append(name)
        else:
            found = sorted(
                path for path in glob.glob(name) if _is_input(os.path.basename(path)) and os.path.isfile(path)
            )
            if not found:
                raise InputError(f"Pattern {name} matches no file.")
            paths.extend(found)
    return paths


def _is_input(file_name: str) -> bool:
    """Not a hidden file, nor an overlay that `iqa-keras maps` wrote."""
    return not file_name.startswith(".") and not file_name.endswith(OVERLAY_SUFFIX)


def match_pairs(
    reference: str | os.PathLike, distorted: list[str], unmatched: list[InputError] | None = None
) -> list[tuple[str, str]]:
    """Pairs each distorted image with its reference.

    Args:
        reference: one reference image for all, or a folder holding, for each distorted
            image, a reference of the same file name, or else the one image of the same
            name (in any case) with another image extension, e.g. `kodim01.png` for
            `kodim01.jpg`.
        distorted: the distorted image files.
        unmatched: if given, receives an `InputError` for each distorted image left
            without a reference (none, or several to choose from), which is left out
            of the pairs; if None, the first such image raises it.

    Raises:
        InputError: a distorted image has no reference, or several, in the folder.

    Example:
    >>> match_pairs("ref.png", ["a.png", "b.png"])
    [('ref.png', 'a.png'), ('ref.png', 'b.png')]
    """
    reference = os.fspath(reference)
    if not os.path.isdir(reference):
        return [(reference, path) for path in distorted]
    by_stem = collections.defaultdict(list)
    for entry in sorted(os.listdir(reference)):
        if entry.lower().endswith(IMAGE_EXTENSIONS) and _is_input(entry) and os.path.isfile(os.path.join(reference, entry)):
            by_stem[os.path.splitext(entry)[0].casefold()].append(entry)
    pairs = []
    for path in distorted:
        name = os.path.basename(path)
        stem = os.path.splitext(name)[0]
        candidates = [name] if os.path.isfile(os.path.join(reference, name)) else by_stem[stem.casefold()]
        if len(candidates) == 1:
            pairs.append((os.path.join(reference, candidates[0]), path))
            continue
        if candidates:
            error = InputError(
                f"Several references for {path} in folder {reference}: {', '.join(candidates)}; "
                f"keep one, or name it with --reference."
            )
        else:
            error = InputError(
                f"No reference for {path} in folder {reference}: expected a file named "
                f"{name} (or {stem} with another image extension)."
            )
        if unmatched is None:
            raise error
        unmatched.append(error)
    return pairs


def overlay_paths(images: Sequence[str], folder: str | None = None) -> list[str]:
    """Where `iqa-keras maps` writes each image's overlay: `<stem>.quality.png` beside
    the image, or in `folder`; images whose stems meet there (in any case, as on the file
    systems of macOS and Windows) keep their extension (`photo.jpg.quality.png` and
    `photo.png.quality.png`), so that no overlay overwrites another.

    Raises:
        InputError: naming two images whose overlays would still meet (the same file
            name in two folders, written to one `folder`).

    Example:
    >>> overlay_paths(["shots/a.jpg", "shots/a.png", "shots/b.png"])
    ['shots/a.jpg.quality.png', 'shots/a.png.quality.png', 'shots/b.quality.png']
    """

    def target(image, name):
        return os.path.join(folder if folder is not None else os.path.dirname(image), name + OVERLAY_SUFFIX)

    def key(path):
        return os.path.normcase(os.path.abspath(path)).casefold()

    by_stem = [target(image, os.path.splitext(os.path.basename(image))[0]) for image in images]
    sharing = collections.defaultdict(set)  # stem target -> the distinct images that map to it
    for image, path in zip(images, by_stem):
        sharing[key(path)].add(key(image))
    paths = [
        path if len(sharing[key(path)]) == 1 else target(image, os.path.basename(image))
        for image, path in zip(images, by_stem)
    ]
    writers = {}
    for image, path in zip(images, paths):
        other = writers.setdefault(key(path), image)
        if key(other) != key(image):
            raise InputError(
                f"{other} and {image} would both write their quality map to {path}: "
                "rename one, or map their folders one at a time with --out"
            )
    return paths


def parse_shard(text: str) -> tuple[int, int]:
    """`"I/N"` as `(I, N)`: part I, counted from 0, of N parts.

    Raises:
        ValueError: not two integers with 0 <= I < N.

    Example:
    >>> parse_shard("2/8")
    (2, 8)
    >>> parse_shard("8/8")
    Traceback (most recent call last):
    ...
    ValueError: --shard must be I/N with 0 <= I < N (I counts from 0). Received: '8/8'
    """
    index, _, count = str(text).partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ValueError(f"--shard must be I/N with 0 <= I < N (I counts from 0). Received: {text!r}")
    return index, count


def in_shard(path: str | os.PathLike, index: int, count: int) -> bool:
    """Whether image `path` belongs to part `index` of `count`.

    The part is a checksum of the normalised path, so it depends on the image alone: the
    parts are disjoint and cover any input, and stay the same when images are added.

    Example:
    >>> names = [f"{i}.png" for i in range(100)]
    >>> parts = [[name for name in names if in_shard(name, i, 3)] for i in range(3)]
    >>> sorted(sum(parts, [])) == sorted(names)
    True
    """
    return zlib.crc32(os.path.normpath(os.fspath(path)).encode("utf-8", "surrogateescape")) % count == index
