"""Loading learned models: a `.keras` file, or a model bundled with the toolkit by name.

Bundled models live in the repository's `saved_models/` folder as `<name>.keras`, each
with a model card `<name>.md` beside it; the package reaches them as `iqa_keras/saved_models`
(a link in the repository, the files themselves in a wheel).

Example:
>>> import os, tempfile
>>> from iqa_keras.models import SiameseDifferenceIQA
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
>>> SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0).save(path)
>>> type(load(path)).__name__
'SiameseDifferenceIQA'
"""

from __future__ import annotations

import os
import zipfile

__all__ = ["BUNDLED_MODELS_DIR", "ModelLoadError", "bundled_models", "load", "model_path"]

BUNDLED_MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "saved_models")


class ModelLoadError(ValueError):
    """A model file that Keras cannot load: corrupt, not a `.keras` file, or holding
    classes that are not registered."""


def bundled_models() -> list[str]:
    """The names of the models in `saved_models/`, sorted."""
    if not os.path.isdir(BUNDLED_MODELS_DIR):
        return []
    return sorted(name[: -len(".keras")] for name in os.listdir(BUNDLED_MODELS_DIR) if name.endswith(".keras"))


def model_path(name_or_path: str | os.PathLike) -> str:
    """The `.keras` file of a path or of a bundled model's name.

    Raises:
        TypeError: `name_or_path` is neither a string nor a path.
        FileNotFoundError: neither a file nor a bundled name; the message lists the
            bundled names.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "`name_or_path` must be the path of a .keras file or a bundled model's name. "
            f"Received: name_or_path={name_or_path!r}"
        )
    path = os.fspath(name_or_path)
    if not os.path.isfile(path) and path in bundled_models():
        path = os.path.join(BUNDLED_MODELS_DIR, f"{path}.keras")
    if not os.path.isfile(path):
        names = ", ".join(bundled_models()) or f"none in {BUNDLED_MODELS_DIR}; reinstall the package"
        raise FileNotFoundError(
            f"No model file {path!r}, and no bundled model of that name (bundled: {names})."
        )
    return path


def load(name_or_path: str | os.PathLike, compile: bool = True):  # noqa: A002 (Keras' own name)
    """Loads a learned model from a `.keras` file, or a bundled model by its name
    (`compile=False`: without the optimizer and losses it was saved with).

    Raises:
        TypeError, FileNotFoundError: see `model_path`.
        ModelLoadError: the file is there, but Keras cannot load it; the message names it.
    """
    import keras

    import iqa_keras.models  # noqa: F401  (registers the toolkit's classes for loading)

    path = model_path(name_or_path)
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"Cannot load {path} as a Keras model: it is not a .keras (zip) file.")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as error:  # Keras raises several kinds for a file it cannot read
        raise ModelLoadError(f"Cannot load {path} as a Keras model: {type(error).__name__}: {error}") from error
