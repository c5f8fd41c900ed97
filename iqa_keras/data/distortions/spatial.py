"""KADID-10k spatial distortions: 19 jitter, 20 non_eccentricity_patch, 21 pixelate,
22 quantization, 23 color_block.

Each mirrors the KADIS-700k MATLAB function named in its docstring.

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
>>> rng = np.random.default_rng(1)
>>> [f(image, 3, rng).shape for f in (jitter, non_eccentricity_patch, pixelate)]
[(64, 64, 3), (64, 64, 3), (64, 64, 3)]
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from iqa_keras.data.distortions._validate import check_image, check_level

__all__ = [
    "JITTER_AMOUNTS",
    "NON_ECCENTRICITY_PATCH_COUNTS",
    "PIXELATE_STRENGTHS",
    "QUANTIZATION_THRESHOLD_COUNTS",
    "COLOR_BLOCK_COUNTS",
    "jitter",
    "non_eccentricity_patch",
    "pixelate",
    "quantization",
    "color_block",
    "multilevel_otsu_thresholds",
]

JITTER_AMOUNTS = (0.05, 0.1, 0.2, 0.5, 1.0)
NON_ECCENTRICITY_PATCH_COUNTS = (20, 40, 60, 80, 100)
PIXELATE_STRENGTHS = (0.01, 0.05, 0.1, 0.2, 0.5)
QUANTIZATION_THRESHOLD_COUNTS = (20, 16, 13, 10, 7)
COLOR_BLOCK_COUNTS = (2, 4, 6, 8, 10)

_JITTER_ROUNDS = 5
_PATCH_SIZE = 16
_PATCH_RADIUS = 16
NON_ECCENTRICITY_MIN_SIDE = _PATCH_SIZE + 2 * _PATCH_RADIUS  # patches stay inside the image
_BLOCK_SIZE = 32
_HISTOGRAM_BINS = 256


def jitter(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Displaces every pixel randomly, 5 times over (KADID type 19, `imjitter`).

    Each round draws a displacement field of standard deviation `amount` pixels
    (`JITTER_AMOUNTS`) per axis and resamples the image there with cubic spline
    interpolation, edges replicated.

    Example:
    >>> image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    >>> bool(np.abs(jitter(image, 5, np.random.default_rng(0)) - image).max() > 0.05)
    True
    """
    image = check_image(image)
    amount = JITTER_AMOUNTS[check_level(level) - 1]
    height, width = image.shape[:2]
    grid = np.mgrid[0:height, 0:width].astype(np.float64)
    jittered = image.astype(np.float64)
    for _ in range(_JITTER_ROUNDS):
        coordinates = grid + rng.standard_normal((2, height, width)) * amount
        jittered = np.stack(
            [
                ndimage.map_coordinates(channel, coordinates, order=3, mode="nearest")
                for channel in np.moveaxis(jittered, -1, 0)
            ],
            axis=-1,
        )
    return np.clip(jittered, 0.0, 1.0).astype(np.float32)


def non_eccentricity_patch(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Copies random 16x16 patches to spots up to 8 px away (KADID type 20).

    As KADIS-700k's `imnoneccentricity`: patches start at least 16 px from the border;
    each copy reads the image as modified by the previous ones. The number of patches
    per level is `NON_ECCENTRICITY_PATCH_COUNTS`. Images must be at least 48x48.

    Example:
    >>> image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    >>> moved = non_eccentricity_patch(image, 1, np.random.default_rng(0))
    >>> bool((moved != image).any()), bool((moved[:8] == image[:8]).all())
    (True, True)
    """
    image = check_image(image)
    count = NON_ECCENTRICITY_PATCH_COUNTS[check_level(level) - 1]
    if min(image.shape[:2]) < NON_ECCENTRICITY_MIN_SIDE:
        minimum = NON_ECCENTRICITY_MIN_SIDE
        raise ValueError(
            f"non_eccentricity_patch needs an image of at least {minimum}x{minimum}. "
            f"Received: shape={image.shape}"
        )
    low = _PATCH_RADIUS
    high = np.array(image.shape[:2]) - _PATCH_SIZE - _PATCH_RADIUS
    result = image.copy()
    for draws in rng.random((count, 2, 2)):
        source = np.round(draws[0] * (high - low)).astype(int) + low
        target = np.round((draws[1] - 0.5) * _PATCH_RADIUS + source).astype(int)
        (sy, sx), (ty, tx) = source, target
        patch = result[sy : sy + _PATCH_SIZE, sx : sx + _PATCH_SIZE].copy()
        result[ty : ty + _PATCH_SIZE, tx : tx + _PATCH_SIZE] = patch
    return result


def pixelate(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Nearest-neighbour downscale by z = 0.95 - strength^0.6, then back (KADID type 21).

    As KADIS-700k's `impixelate`: MATLAB's `imresize(..., 'nearest')` to
    `round(z * size)`, then back to the original size (pixel-centre sampling).
    Strengths per level: `PIXELATE_STRENGTHS`.
    Deterministic: `rng` is ignored.

    Example:
    >>> ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32)[None, :, None], (8, 1, 3))
    >>> [round(float(value), 2) for value in pixelate(ramp, 5, np.random.default_rng(0))[0, :, 0]]
    [0.29, 0.29, 0.29, 0.29, 0.86, 0.86, 0.86, 0.86]
    """
    image = check_image(image)
    zoom = 0.95 - PIXELATE_STRENGTHS[check_level(level) - 1] ** 0.6
    height, width = image.shape[:2]
    # MATLAB's round: halves away from zero.
    small_height, small_width = (max(1, int(np.floor(zoom * n + 0.5))) for n in (height, width))
    small = image[_nearest_indices(height, small_height)][:, _nearest_indices(width, small_width)]
    return small[_nearest_indices(small_height, height)][:, _nearest_indices(small_width, width)]


def _nearest_indices(source_size: int, size: int) -> np.ndarray:
    """For each of `size` output pixels, the source pixel whose area holds its centre."""
    return np.minimum((np.arange(size) + 0.5) * source_size // size, source_size - 1).astype(int)


def quantization(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Quantises to the levels of multi-level Otsu thresholds (KADID type 22).

    As KADIS-700k after MATLAB's `multithresh` documentation example:
    `t = multithresh(a, n)` over all channels together, then
    `imquantize(a, t, [0, t(2:end), 1])`: values below the first threshold become 0,
    above the last 1, others the threshold that closes their interval. Threshold
    counts per level: `QUANTIZATION_THRESHOLD_COUNTS`. Deterministic: `rng` is ignored.

    Example:
    >>> image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    >>> len(np.unique(quantization(image, 5, np.random.default_rng(0))))
    8
    """
    image = check_image(image)
    count = QUANTIZATION_THRESHOLD_COUNTS[check_level(level) - 1]
    thresholds = multilevel_otsu_thresholds(image, count)
    values = np.concatenate([[0.0], thresholds[1:], [1.0]]).astype(np.float32)
    return values[np.searchsorted(thresholds, image, side="left")]


def multilevel_otsu_thresholds(values: np.ndarray, count: int) -> np.ndarray:
    """The `count` thresholds that maximise Otsu's between-class variance.

    Like MATLAB's `multithresh` on a 256-bin histogram spanning the values' range, but
    solved exactly (dynamic programming over the histogram) instead of by a local
    search. Thresholds are bin centres, in increasing order; values equal to a
    threshold belong to the class below it.

    Example:
    >>> values = np.array([0.1, 0.1, 0.2, 0.8, 0.9, 0.9])
    >>> [round(float(t), 2) for t in multilevel_otsu_thresholds(values, 1)]
    [0.2]
    """
    if not 1 <= count < _HISTOGRAM_BINS:
        raise ValueError(f"`count` must be in 1..{_HISTOGRAM_BINS - 1}. Received: count={count}")
    values = np.asarray(values, np.float64).ravel()
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.full(count, low, np.float32)
    centres = np.linspace(low, high, _HISTOGRAM_BINS)
    bins = np.rint((values - low) / (high - low) * (_HISTOGRAM_BINS - 1)).astype(int)
    weights = np.bincount(bins, minlength=_HISTOGRAM_BINS) / values.size
    # Cumulative sums give every class [i, j) its weight and first moment at once.
    cumulative_weight = np.concatenate([[0.0], np.cumsum(weights)])
    cumulative_moment = np.concatenate([[0.0], np.cumsum(weights * centres)])
    class_weight = cumulative_weight[None, :] - cumulative_weight[:, None]
    class_moment = cumulative_moment[None, :] - cumulative_moment[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(class_weight > 0, class_moment**2 / class_weight, 0.0)
    starts = np.arange(_HISTOGRAM_BINS + 1)
    score[starts[:, None] >= starts[None, :]] = -np.inf  # classes must hold >= 1 bin
    # best[j]: the largest sum of w * mean^2 splitting bins [0, j) into k classes.
    best = score[0].copy()
    choices = []
    for _ in range(count):
        candidates = best[:, None] + score
        choices.append(np.argmax(candidates, axis=0))
        best = candidates[choices[-1], starts]
    boundaries = []
    end = _HISTOGRAM_BINS
    for choice in reversed(choices):
        end = int(choice[end])
        boundaries.append(end)
    return centres[np.array(boundaries[::-1]) - 1].astype(np.float32)


def color_block(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Pastes solid 32x32 blocks of random colour at random places (KADID type 23).

    As KADIS-700k's `imcolorblock`; block counts per level: `COLOR_BLOCK_COUNTS`.
    Blocks are cropped to images smaller than 32 px.

    Example:
    >>> image = np.zeros((64, 64, 3), np.float32)
    >>> blocked = color_block(image, 1, np.random.default_rng(0))
    >>> 1024 <= int((blocked != 0).any(axis=-1).sum()) <= 2048
    True
    """
    image = check_image(image)
    count = COLOR_BLOCK_COUNTS[check_level(level) - 1]
    height, width = image.shape[:2]
    result = image.copy()
    for _ in range(count):
        colour = rng.random(3).astype(np.float32)
        top = int(rng.integers(0, max(height - _BLOCK_SIZE, 0) + 1))
        left = int(rng.integers(0, max(width - _BLOCK_SIZE, 0) + 1))
        result[top : top + _BLOCK_SIZE, left : left + _BLOCK_SIZE] = colour
    return result
