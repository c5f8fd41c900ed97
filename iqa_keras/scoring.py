"""Scoring images: one pair, or many files, with the same code the command line uses.

A measure is either a classic metric (`iqa_keras.metrics`, full-reference) or a learned
model (a `.keras` file, a bundled name, or a model object; full- or no-reference),
scored whole or in tiles by `iqa_keras.tiling.Scorer`.

Example:
>>> import iqa_keras
>>> from iqa_keras.scoring import EXAMPLE_IMAGES
>>> value = iqa_keras.score(EXAMPLE_IMAGES["distorted_jpeg"], reference=EXAMPLE_IMAGES["reference"],
...                         metric="psnr")
>>> round(value, 2)
24.66
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from iqa_keras import io, metrics

__all__ = ["EXAMPLE_IMAGES", "PairScore", "failure_message", "measure", "read_pair_list", "score", "score_files"]

_EXAMPLES = os.path.join(os.path.dirname(__file__), "examples")
EXAMPLE_IMAGES = {
    name: os.path.join(_EXAMPLES, f"{name}.png")
    for name in ("reference", "distorted_jpeg", "distorted_blur")
}

# measure(distorted, reference) -> score, on HxWx3 float32 arrays with values 0-255.
Measure = Callable[[np.ndarray, "np.ndarray | None"], float]


@dataclasses.dataclass(frozen=True)
class PairScore:
    """The score of one distorted image, or the error that stopped it."""

    distorted: str
    reference: str | None
    measure: str
    score: float | None = None
    error: str | None = None


def measure(metric: str | None = None, model=None, color: str | None = None, tile_size: int | None = None):
    """Makes the scoring function for a classic metric or a learned model.

    Returns `(function, needs_reference, name)`: `function(distorted, reference)` takes
    HxWx3 float32 arrays with values 0-255 and returns a float. A learned model scores
    through `iqa_keras.tiling.Scorer` with `tile_size` (default 1024).

    Example:
    >>> function, needs_reference, name = measure(metric="mse")
    >>> image = np.zeros((16, 16, 3), np.float32)
    >>> function(image + 2.0, image), needs_reference, name
    (4.0, True, 'mse')
    """
    if (metric is None) == (model is None):
        raise ValueError(f"Pass exactly one of `metric` and `model`. Received: metric={metric!r}, model={model!r}")
    if model is not None and color is not None:
        raise ValueError(f"`color` applies to classic metrics; a model reads RGB. Received: color={color!r}")
    if metric is not None and tile_size is not None:
        raise ValueError(f"`tile_size` applies to learned models; a metric scores whole images. "
                         f"Received: tile_size={tile_size!r}")
    if metric is not None:
        info = metrics.get(metric)
        options = {} if color is None else {"color": color}
        compiled = _compiled(lambda reference, distorted: info.function(reference, distorted, data_range=255.0, **options))

        def classic(distorted, reference):
            if reference is None:
                raise ValueError(f"Metric {metric!r} is full-reference: it needs a reference image.")
            return float(compiled(reference, distorted))

        return classic, True, info.name
    from iqa_keras.loading import load
    from iqa_keras.tiling import Scorer

    name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else getattr(model, "name", "model")
    scorer = Scorer(load(model, compile=False) if isinstance(model, (str, os.PathLike)) else model, tile_size)
    return (lambda distorted, reference: scorer(distorted, reference).score), scorer.full_reference, name


def _compiled(function):
    """`function` traced once per input shape on TensorFlow (as a model's
    `predict_on_batch` is: two to three times faster than eager for the classic metrics);
    as it is on other backends."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, reduce_retracing=True, autograph=False)


def default_model(with_reference: bool) -> str:
    """The bundled model that scores when none is named: full-reference with a reference.

    Example:
    >>> default_model(with_reference=True), default_model(with_reference=False)
    ('fr-default', 'nr-default')
    """
    return "fr-default" if with_reference else "nr-default"


def score(distorted, reference=None, metric: str | None = None, model=None, color: str | None = None) -> float:
    """Scores one image with a classic metric or a learned model.

    Without `metric` and `model`, the bundled default model scores it: `fr-default`
    with a reference, `nr-default` without (see `default_model`).

    Args:
        distorted: an image file or an array with values 0-255: HxWx3 RGB, or HxW /
            HxWx1 gray and HxWx4 RGBA, converted as files are.
        reference: its pristine reference (file or array of the same size), for
            full-reference measures.
        metric: a name from `iqa_keras.metrics.available()`.
        model: a learned model: a `.keras` path, a bundled name or a model object.
        color: colour handling of a classic metric (`"rgb"`, `"y"`, `"gray"`).
    """
    if metric is None and model is None:
        model = default_model(with_reference=reference is not None)
    function, needs_reference, name = measure(metric, model, color)
    distorted_image = _as_image(distorted)
    reference_image = None
    if reference is not None:
        reference_image = _as_image(reference)
        io.check_same_size(reference_image, distorted_image, _name(reference), _name(distorted))
    elif needs_reference:
        raise ValueError("This measure is full-reference: pass `reference`. Received: reference=None")
    if reference is not None and not needs_reference:
        raise ValueError(f"{name} is no-reference: it would ignore `reference`. Pass none, or a "
                         "full-reference model.")
    return function(distorted_image, reference_image)


def score_files(
    pairs: Iterable[tuple[str | None, str]], function: Measure, name: str, read_ahead: int = 2
) -> Iterator[PairScore]:
    """Scores (reference or None, distorted) files in order; a failing pair yields its error.

    The next `read_ahead` pairs are decoded on a background thread while the measure runs
    (decoding and the model release the GIL), so a folder scores at the measure's own rate.
    A bad file never stops the others, whatever the error (unreadable, wrong size, too
    small for the measure, or the model failing on it): its `PairScore` carries `error`
    (naming the file) and no score, so a caller can report it and still keep every other result.
    """
    pairs = iter(pairs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="iqa-keras-read") as reader:
        pending = collections.deque(
            (pair, reader.submit(io.read_pair, *pair)) for pair in itertools.islice(pairs, read_ahead + 1)
        )
        while pending:
            (reference, distorted), images = pending.popleft()
            following = next(pairs, None)
            if following is not None:
                pending.append((following, reader.submit(io.read_pair, *following)))
            try:
                reference_image, distorted_image = images.result()
                value = function(distorted_image, reference_image)
            except Exception as error:  # noqa: BLE001 - whatever fails, the other files go on
                yield PairScore(distorted, reference, name, error=failure_message(error, distorted))
            else:
                yield PairScore(distorted, reference, name, score=value)


def failure_message(error: Exception, path: str) -> str:
    """What went wrong with the file `path`, naming it once: a `ValueError`'s own message
    (the toolkit's input errors), or any other error's type and message.

    Example:
    >>> failure_message(RuntimeError("out of memory"), "big.png")
    'big.png: RuntimeError: out of memory'
    """
    text = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
    return text if path in text else f"{path}: {text}"


def read_pair_list(path: str | os.PathLike) -> list[tuple[str | None, str]]:
    """(reference or None, distorted) pairs from a CSV with a `distorted` column and an
    optional `reference` column; relative paths are resolved against the CSV's folder.
    An empty `distorted` cell, or no row at all, raises a `DatasetError` naming the file.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "list.csv")
    >>> _ = open(path, "w").write("reference,distorted\\nref.png,dist.png\\n")
    >>> [(os.path.basename(r), os.path.basename(d)) for r, d in read_pair_list(path)]
    [('ref.png', 'dist.png')]
    """
    from iqa_keras.data.readers._common import read_table

    from iqa_keras.data.records import DatasetError

    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    pairs = []
    for row in read_table(os.fspath(path), required=("distorted",), optional=("reference",)):
        if not row["distorted"]:
            raise row.line.error("the `distorted` cell is empty")
        reference = row.get("reference") or None
        pairs.append((
            None if reference is None else os.path.join(folder, reference),
            os.path.join(folder, row["distorted"]),
        ))
    if not pairs:
        raise DatasetError(f"{os.fspath(path)} lists no images: it has a header row only.")
    return pairs


def _as_image(image) -> np.ndarray:
    """A file read with `io.read_image`, or an array made RGB by the same rules: gray
    (HxW or HxWx1) repeated to 3 channels, alpha (HxWx4) dropped."""
    if isinstance(image, (str, os.PathLike)):
        return io.read_image(image)
    array = np.asarray(image, np.float32)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"An image array must be HxW, HxWx1, HxWx3 or HxWx4. Received: shape {array.shape}")
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array[..., :3]


def _name(image) -> str:
    return os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<array>"
