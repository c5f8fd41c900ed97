"""Builds a synthetic IQA dataset in the KADID-10k layout from a folder of pristine photos.

Every pristine image becomes a reference `I<ref>.png`; each requested KADID distortion type
and level becomes `I<ref>_<type:02>_<level:02>.png`, labelled with KADID-10k's mean human
score for that type and level (`kadid_mean_score`). Optional random compositions of 2 or 3
distortions become `I<ref>_C<steps>_<index>.png` (e.g. `I01_C2_01.png`), labelled with
`composition_score`. The `kadid10k` reader (`read_dataset("kadid10k", out_dir)`) loads it.

Written under `out_dir`:

    images/           the references and the distorted images, 8-bit RGB PNG
    dmos.csv          dist_img,ref_img,dmos,var   (dmos 1-5, higher is better; var = 0,
                      since a synthetic label has no spread of human ratings)
    references.csv    ref_img,source: which pristine file each reference was made from
    compositions.csv  dist_img,ref_img,steps,dmos: each composition's steps, applied left
                      to right, as `name:level` joined by `+` (only when compositions > 0)
    generation.json   the seed, max_side, the types and levels compositions draw from and
                      the digits of their numbers, so that a rerun cannot mix datasets

References are numbered in the sorted order of the pristine file names, with as many
digits as needed and at least two (`I01`..`I81`; `I001`.. past 99 images). Each output has
its own seed derived from (seed, reference number, type, level), so a rerun writes the same
files; outputs already there are kept, missing ones are made, and `dmos.csv` and
`compositions.csv` are rewritten complete at the end, with the images of earlier runs in the
folder (a run with other types or levels adds to it), `references.csv` and
`generation.json` at the start (so that an interrupted run is resumed only as it began).
Every file is written atomically (a temporary file in the same folder, then `os.replace`),
so an interrupted run leaves no partial image.

Example:
>>> import os, tempfile
>>> import numpy as np
>>> from PIL import Image
>>> pristine, out = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> pixels = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
>>> Image.fromarray(pixels).save(os.path.join(pristine, "beach.jpg"))
>>> generate_dataset(pristine, out, types=["jpeg"], levels=[1, 5], progress=False)
GenerationSummary(written=3, kept=0, references=1, rows=2)
>>> sorted(os.listdir(os.path.join(out, "images")))
['I01.png', 'I01_10_01.png', 'I01_10_05.png']
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import glob
import io
import json
import os
import sys
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, features
from tqdm import tqdm

from iqa_keras.atomic import TEMPORARY_PREFIX, write_atomic, write_json_atomic
from iqa_keras.data.distortions import (
    DISTORTIONS,
    Distortion,
    compose,
    composition_score,
    distort,
    get_distortion,
    kadid_mean_score,
)
from iqa_keras.data.distortions._validate import check_level
from iqa_keras.data.records import DatasetError
from iqa_keras.io import read_image

__all__ = ["GenerationSummary", "generate_dataset", "pristine_files", "reference_sources"]

_COMPOSITION_SIZES = (2, 3)
# The type field of SeedSequence entropy for compositions (KADID type ids are 1..25).
_COMPOSITION_SEED_TAG = 0


@dataclasses.dataclass(frozen=True)
class GenerationSummary:
    """What `generate_dataset` did.

    Args:
        written: images written by this run (references and distorted).
        kept: images of this run's selection that were already there and were kept.
        references: the number of reference images.
        rows: the number of rows of `dmos.csv` (earlier runs' images included).
    """

    written: int
    kept: int
    references: int
    rows: int


@dataclasses.dataclass(frozen=True)
class _Output:
    """One distorted image to make: its file name, steps, label and seed."""

    name: str
    steps: tuple[tuple[Distortion, int], ...]
    score: float
    seed: np.random.SeedSequence


def generate_dataset(
    pristine_dir: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    types: Sequence[int | str] | None = None,
    levels: Sequence[int] = (1, 2, 3, 4, 5),
    compositions: int = 0,
    seed: int = 0,
    progress: bool = True,
    max_side: int | None = None,
    workers: int = 1,
) -> GenerationSummary:
    """Writes a KADID-10k-layout dataset of distorted copies of the pristine images.

    Args:
        pristine_dir: folder of pristine images (every file Pillow can read, not
            recursive, hidden files skipped), or a list of such folders, taken in order
            (their files are then named `FOLDER/NAME` in `references.csv`).
        out_dir: the dataset folder; created if needed, resumed if it exists (a run with
            other types, levels or compositions adds its images: the labels list every
            image of the folder).
        types: KADID distortion ids or names (see `get_distortion`); None for all 25.
        levels: the levels 1..5 to make of each type.
        compositions: how many random compositions to make per reference: each applies
            2 or 3 distinct types of `types` (equally likely), at levels drawn from
            `levels`, in a random order.
        seed: a non-negative integer; the whole dataset follows from it.
        progress: show a `tqdm` progress bar on stderr.
        max_side: downscale (Lanczos) pristine images whose longer side exceeds it to
            that side before distorting; KADID-10k's images are 512x384, the scale its
            distortion levels were rated at. None keeps the photos' size.
        workers: processes making the references' images in parallel; the files do not
            depend on it.

    Raises:
        DatasetError: no readable pristine images, a pristine file that is no image or
            too small for a distortion (before anything is written), `out_dir` made from
            other pristine files or another seed, or holding a dataset `generate` did not
            make.
    """
    distortions = _check_types(types)
    levels = _check_levels(levels)
    compositions = _check_count(compositions, "compositions")
    seed = _check_count(seed, "seed")
    if _check_count(workers, "workers") < 1:
        raise ValueError(f"`workers` must be a positive integer. Received: workers={workers!r}")
    if max_side is not None:
        max_side = _check_count(max_side, "max_side")
        if max_side < 16:
            raise ValueError(f"`max_side` must be at least 16 or None. Received: max_side={max_side}")
    if compositions and len(distortions) < 2:
        raise ValueError(
            "`compositions` needs at least 2 distortion types to combine. "
            f"Received: types={types!r}"
        )
    if any(distortion.name == "jpeg2000" for distortion in distortions) and not features.check("jpg_2000"):
        raise ValueError(
            "The jpeg2000 distortion needs Pillow built with OpenJPEG (PIL.features.check('jpg_2000') is "
            "False): install such a Pillow, or leave out type 9."
        )
    out_dir = os.fspath(out_dir)
    _check_not_foreign(out_dir)
    sources = reference_sources(pristine_dir)
    _check_sources(sources, distortions, max_side)
    references = {reference: name for reference, (name, _) in sources.items()}
    images_dir = os.path.join(out_dir, "images")
    os.makedirs(images_dir, exist_ok=True)
    _remove_temporary_files(out_dir, images_dir)
    settings = {"seed": seed, "max_side": max_side}
    if compositions:  # which steps a composition draws depends on these
        settings["composed_from"] = {"types": [d.id for d in distortions], "levels": list(levels)}
    settings = _check_previous_run(out_dir, references, settings)
    if compositions:  # the first run with compositions fixes the width of their numbers
        digits = settings.setdefault("composition_digits", max(2, len(str(compositions))))
        if compositions >= 10**digits:
            raise DatasetError(
                f"{out_dir} numbers its compositions with {digits} digits, so at most {10**digits - 1} per "
                f"reference. Received: compositions={compositions}. Use a new output folder."
            )
    # Recorded first, so that even an interrupted run cannot be resumed with other settings.
    _write_settings(out_dir, references, settings)

    plans = {
        reference: _plan(
            reference, number, distortions, levels, compositions, seed, settings.get("composition_digits")
        )
        for number, reference in enumerate(references, 1)
    }
    total = sum(1 + len(outputs) for outputs in plans.values())
    written = 0
    bar = tqdm(total=total, desc="generate", unit="image", file=sys.stderr, disable=not progress)
    jobs = [
        (path, images_dir, reference, plans[reference], max_side)
        for reference, (_, path) in sources.items()
    ]
    pool = concurrent.futures.ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext()
    with bar, pool:
        for made, kept in (pool.map if workers > 1 else map)(_generate_reference, *zip(*jobs)):
            written += made
            bar.update(made + kept)
    rows = _write_labels(out_dir, plans)
    return GenerationSummary(
        written=written, kept=total - written, references=len(references), rows=rows
    )


def reference_sources(pristine_dir) -> dict[str, tuple[str, str]]:
    """What `generate_dataset` makes of the pristine folder(s): {reference id: (name in
    `references.csv`, path)}, in reference order (`I01`, `I02`, ...; `I001`.. past 99).

    Example:
    >>> import os, tempfile
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> Image.new("RGB", (8, 8)).save(os.path.join(folder, "sky.png"))
    >>> {reference: name for reference, (name, _) in reference_sources(folder).items()}
    {'I01': 'sky.png'}
    """
    if isinstance(pristine_dir, (str, os.PathLike)):
        folder = os.fspath(pristine_dir)
        sources = {name: os.path.join(folder, name) for name in pristine_files(folder)}
    else:
        folders = [os.fspath(folder) for folder in pristine_dir]
        if not folders:
            raise ValueError("`pristine_dir` must name at least one folder. Received: []")
        sources = {}
        for folder in folders:
            label = os.path.basename(os.path.normpath(folder))
            for name in pristine_files(folder):
                if f"{label}/{name}" in sources:
                    raise DatasetError(f"Two pristine folders are both named {label!r}: {folders}")
                sources[f"{label}/{name}"] = os.path.join(folder, name)
    width = max(2, len(str(len(sources))))
    return {f"I{number:0{width}d}": item for number, item in enumerate(sources.items(), 1)}


def _generate_reference(
    source: str, images_dir: str, reference: str, outputs: list[_Output], max_side: int | None
) -> tuple[int, int]:
    """Writes one reference and its missing outputs; returns (files written, files kept)."""
    reference_path = os.path.join(images_dir, f"{reference}.png")
    missing = [o for o in outputs if not os.path.exists(os.path.join(images_dir, o.name))]
    written = 0
    if not os.path.exists(reference_path):
        _write_png(reference_path, _downscaled(read_image(source), max_side) / 255.0)
        written += 1
    if missing:
        # Read back from the 8-bit PNG, so that a resumed run starts from the same pixels.
        image = read_image(reference_path) / np.float32(255.0)
        for output in missing:
            _write_png(os.path.join(images_dir, output.name), _make(image, output))
            written += 1
    return written, 1 + len(outputs) - written


def _downscaled(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """`image` (float 0-255) with its longer side at most `max_side` (Lanczos, 8-bit)."""
    height, width = image.shape[:2]
    size = _downscaled_size(width, height, max_side)
    if size == (width, height):
        return image
    pixels = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8), "RGB")
    return np.asarray(pixels.resize(size, Image.Resampling.LANCZOS), np.float32)


def _downscaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most `max_side`."""
    if max_side is None or max(height, width) <= max_side:
        return width, height
    scale = max_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_not_foreign(out_dir: str) -> None:
    """Refuses a folder that holds a dataset `generate` did not make: its labels would be
    overwritten."""
    if os.path.exists(os.path.join(out_dir, "generation.json")):
        return
    images = os.path.join(out_dir, "images")
    if os.path.exists(os.path.join(out_dir, "dmos.csv")) or (os.path.isdir(images) and os.listdir(images)):
        raise DatasetError(
            f"{out_dir} holds a dataset (dmos.csv or images/) without the generation.json that `generate` "
            "writes; generating into it would overwrite its labels. Use a new output folder."
        )


def _check_sources(sources: dict[str, tuple[str, str]], distortions: list[Distortion], max_side) -> None:
    """Reads each pristine file's size before anything is written, so that a file that is
    no image, or too small for a distortion, is named before a run starts."""
    needing = max(distortions, key=lambda distortion: distortion.min_side)
    for _, path in sources.values():
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DatasetError(f"Pristine file {path} cannot be read as an image: {error}") from None
        width, height = _downscaled_size(width, height, max_side)
        if min(width, height) < needing.min_side:
            after = f" after max_side={max_side}" if max_side is not None else ""
            raise DatasetError(
                f"Pristine file {path} is {width}x{height} (width x height{after}); {needing.name} needs "
                f"images of at least {needing.min_side}x{needing.min_side}."
            )


def _check_types(types) -> list[Distortion]:
    if types is None:
        return list(DISTORTIONS)
    if isinstance(types, (str, bytes)) or not isinstance(types, Iterable):
        raise ValueError(
            "`types` must be a sequence of distortion ids or names, or None. "
            f"Received: types={types!r}"
        )
    distortions = sorted({get_distortion(type_).id for type_ in types})
    if not distortions:
        raise ValueError(f"`types` must name at least one distortion. Received: types={types!r}")
    return [DISTORTIONS[id_ - 1] for id_ in distortions]


def _check_levels(levels) -> list[int]:
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise ValueError(
            f"`levels` must be a sequence of levels 1..5. Received: levels={levels!r}"
        )
    checked = sorted({check_level(level) for level in levels})
    if not checked:
        raise ValueError(
            f"`levels` must hold at least one level 1..5. Received: levels={levels!r}"
        )
    return checked


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def pristine_files(pristine_dir: str) -> list[str]:
    """The image files of a pristine folder, sorted: the order references are numbered in."""
    if not os.path.isdir(pristine_dir):
        raise DatasetError(f"Pristine image folder not found: {pristine_dir}")
    extensions = {extension for extension, kind in Image.registered_extensions().items() if kind in Image.OPEN}
    names = sorted(
        name
        for name in os.listdir(pristine_dir)
        if not name.startswith(".")
        and os.path.splitext(name)[1].lower() in extensions
        and os.path.isfile(os.path.join(pristine_dir, name))
    )
    if not names:
        raise DatasetError(f"No image files in the pristine folder {pristine_dir}")
    return names


def _plan(
    reference: str,
    number: int,
    distortions: list[Distortion],
    levels: list[int],
    compositions: int,
    seed: int,
    composition_digits: int | None,
) -> list[_Output]:
    """The outputs of one reference, each with its label and its own seed."""
    outputs = [
        _Output(
            name=f"{reference}_{distortion.id:02d}_{level:02d}.png",
            steps=((distortion, level),),
            score=kadid_mean_score(distortion, level),
            seed=np.random.SeedSequence([seed, number, distortion.id, level]),
        )
        for distortion in distortions
        for level in levels
    ]
    for index in range(1, compositions + 1):
        choice_seed, image_seed = np.random.SeedSequence(
            [seed, number, _COMPOSITION_SEED_TAG, index]
        ).spawn(2)
        rng = np.random.default_rng(choice_seed)
        size = min(int(rng.choice(_COMPOSITION_SIZES)), len(distortions))
        chosen = rng.choice(len(distortions), size=size, replace=False)
        steps = tuple((distortions[i], int(rng.choice(levels))) for i in chosen)
        outputs.append(
            _Output(
                name=f"{reference}_C{size}_{index:0{composition_digits}d}.png",
                steps=steps,
                score=composition_score(steps),
                seed=image_seed,
            )
        )
    return outputs


def _make(image: np.ndarray, output: _Output) -> np.ndarray:
    if len(output.steps) == 1:
        [(distortion, level)] = output.steps
        return distort(image, distortion, level, seed=output.seed)
    return compose(image, output.steps, seed=output.seed)


def _remove_temporary_files(*folders: str) -> None:
    """Removes what an interrupted run left half-written."""
    for folder in folders:
        for path in glob.glob(os.path.join(glob.escape(folder), f"{TEMPORARY_PREFIX}*")):
            os.remove(path)


def _check_previous_run(out_dir: str, references: dict[str, str], settings: dict) -> dict:
    """Refuses to resume a dataset made from other pristine files or other settings (those
    both runs record); returns the settings to record, the earlier ones included (a run
    without compositions keeps the `composed_from` of the composition files there)."""
    path = os.path.join(out_dir, "generation.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            recorded = json.load(file)
        for name, value in settings.items():
            if name in recorded and recorded[name] != value:
                raise DatasetError(
                    f"{out_dir} was generated with {name}={recorded[name]}; resuming it with "
                    f"{name}={value} would mix two datasets. Use the same {name} or a new folder."
                )
        settings = {**recorded, **settings}  # composed_from of earlier compositions stays
    table = os.path.join(out_dir, "references.csv")
    if os.path.exists(table):
        with open(table, encoding="utf-8", newline="") as file:
            previous = {row["ref_img"]: row["source"] for row in csv.DictReader(file)}
        current = {f"{reference}.png": source for reference, source in references.items()}
        shared = previous.keys() & current.keys()
        changed = sorted(name for name in shared if previous[name] != current[name])
        if changed or len(previous) != len(current):
            raise DatasetError(
                f"{out_dir} was generated from other pristine files (references.csv lists "
                f"{len(previous)}, the folder now gives {len(current)}"
                + (f"; {changed[0]} was {previous[changed[0]]!r}" if changed else "")
                + "). Use a new output folder."
            )
    return settings


def _write_settings(out_dir: str, references: dict[str, str], settings: dict) -> None:
    sources = [("ref_img", "source")]
    sources += [(f"{reference}.png", source) for reference, source in references.items()]
    _write_csv(os.path.join(out_dir, "references.csv"), sources)
    write_json_atomic(os.path.join(out_dir, "generation.json"), settings)


def _write_labels(out_dir: str, plans: dict[str, list[_Output]]) -> int:
    """Writes `dmos.csv` and `compositions.csv`: this run's images, and those earlier runs
    labelled that are still there (the same settings give a name the same label); returns
    the rows of `dmos.csv`."""
    labels = _earlier_rows(out_dir, "dmos.csv")
    steps = _earlier_rows(out_dir, "compositions.csv")
    for reference, outputs in plans.items():
        for output in outputs:
            labels[output.name] = (output.name, f"{reference}.png", f"{output.score:.4f}", "0")
            if len(output.steps) > 1:
                recipe = "+".join(f"{step.name}:{level}" for step, level in output.steps)
                steps[output.name] = (output.name, f"{reference}.png", recipe, f"{output.score:.4f}")
    _write_table(out_dir, "dmos.csv", labels)
    if steps:
        _write_table(out_dir, "compositions.csv", steps)
    return len(labels)


_HEADERS = {
    "dmos.csv": ("dist_img", "ref_img", "dmos", "var"),
    "compositions.csv": ("dist_img", "ref_img", "steps", "dmos"),
}


def _write_table(out_dir: str, table: str, rows: dict[str, tuple]) -> None:
    _write_csv(os.path.join(out_dir, table), [_HEADERS[table], *(rows[name] for name in sorted(rows))])


def _earlier_rows(out_dir: str, table: str) -> dict[str, tuple]:
    """The rows of `table` that an earlier run wrote, of images still in `images/`."""
    path = os.path.join(out_dir, table)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8", newline="") as file:
        rows = [tuple(row) for row in csv.reader(file)][1:]
    return {row[0]: row for row in rows if os.path.exists(os.path.join(out_dir, "images", row[0]))}


def _write_csv(path: str, rows: list[tuple]) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    write_atomic(path, lambda file: file.write(text.getvalue().encode("utf-8")))


def _write_png(path: str, image: np.ndarray) -> None:
    pixels = np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
    write_atomic(path, lambda file: Image.fromarray(pixels, "RGB").save(file, format="PNG"))
