"""Exporting a model as a versioned SavedModel, the layout TF Serving watches.

`export_saved_model(model, "exports/fr")` writes `exports/fr/<version>/` with the
signatures of `iqa_keras.export.signatures` (float images, and encoded image files),
through `keras.export.ExportArchive`. The version is built in a hidden temporary folder
beside it (`.tmp-<version>-...`, which TF Serving ignores) and renamed into place, so a
server never sees a half-written version and a failed export leaves nothing behind.

Example:
>>> import os, tempfile, keras
>>> image = keras.Input((None, None, 3), name="image")
>>> model = keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)[:, :1])
>>> folder = tempfile.mkdtemp()
>>> first = export_saved_model(model, folder)
>>> second = export_saved_model(model, folder)
>>> os.path.basename(first), os.path.basename(second), sorted(os.listdir(folder))
('1', '2', ['1', '2'])
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras

from iqa_keras.atomic import publish_folder
from iqa_keras.export.signatures import serving_functions
from iqa_keras.export.tiled import TiledModel, tileable

__all__ = ["export_saved_model", "existing_versions"]


def export_saved_model(
    model: keras.Model, out_dir: str | os.PathLike, version: int | None = None,
    tile_size: int = 1024, overlap: int = 64,
) -> str:
    """Writes `out_dir/<version>/` atomically and returns that folder's path.

    To serve maps from a model trained on the score alone, export a copy that returns
    them, e.g. `model.with_outputs(("score", "quality_map"))`. A learned model whose
    outputs are among score, quality_map and attention_map is exported with the tiling
    of `iqa-keras score` in its graph (`iqa_keras.export.tiled`): large images score as
    the command scores them, with memory bounded by the tile.

    Args:
        model: a functional Keras model with FR or NR inputs (see `signatures`).
        out_dir: the model's base folder (TF Serving's `base_path`); created if missing.
        version: a positive integer; default one more than the largest existing version
            (1 for the first).
        tile_size, overlap: the tiling, as `iqa_keras.tiling.Scorer`'s.

    Raises:
        FileExistsError: `out_dir/<version>` already exists.
    """
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValueError(f"`version` must be a positive integer or None. Received: version={version!r}")
    servable = TiledModel(model, tile_size, overlap) if tileable(model) else model
    archive = keras.export.ExportArchive()
    archive.track(servable.model if isinstance(servable, TiledModel) else model)
    for name, (function, specs) in serving_functions(servable).items():
        # Trace now, so that a model that cannot serve fails before anything is written.
        archive.add_endpoint(name, function, specs).get_concrete_function()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if version is None:
        version = max(existing_versions(out_dir), default=0) + 1
    target = os.path.join(out_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"Version {version} already exists, refusing to overwrite it: {target}")
    temporary = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=out_dir)
    try:
        archive.write_out(temporary, verbose=False)
        publish_folder(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return target


def existing_versions(out_dir: str | os.PathLike) -> list[int]:
    """The versions under a model's base folder (its all-digit subfolders), sorted.

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("3", "10", ".tmp-11-x", "notes"):
    ...     os.mkdir(os.path.join(folder, name))
    >>> existing_versions(folder)
    [3, 10]
    """
    return sorted(
        int(name)
        for name in os.listdir(out_dir)
        if name.isascii() and name.isdigit() and os.path.isdir(os.path.join(out_dir, name))
    )
