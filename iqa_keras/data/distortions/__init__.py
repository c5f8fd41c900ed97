"""The 25 KADID-10k distortion types at their 5 levels, their human scores, and compositions.

Every distortion is a plain function `name(image, level, rng)`: a float32 HxWx3 image in
[0, 1], a level 1..5 (1 = mildest), a `numpy.random.Generator` (deterministic types
ignore it); it returns a float32 HxWx3 image in [0, 1]. `DISTORTIONS` lists them in
KADID order with their level parameters; `distort` applies one the way the KADIS-700k
generator (`imdist_generator.m`) that made KADID-10k does: the input is min-max
normalised to [0, 1], distorted, and the output min-max normalised again.

`kadid_mean_score(type, level)` is KADID-10k's mean human score (1-5, higher is better)
for that type and level over its 81 scenes: a content-independent label for synthetic
images. `compose` chains distortions and `composition_score` labels the result.

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
>>> distort(image, "jpeg", 3, seed=0).shape
(32, 32, 3)
>>> get_distortion(10).name, kadid_mean_score("jpeg", 3)
('jpeg', 3.8658)
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.resources
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from iqa_keras.data.distortions import (
    blur,
    brightness,
    color,
    compression,
    noise,
    sharpness,
    spatial,
)
from iqa_keras.data.distortions._validate import check_image, check_level, map_min_max

__all__ = [
    "Distortion",
    "DISTORTIONS",
    "get_distortion",
    "distort",
    "compose",
    "kadid_mean_score",
    "composition_score",
    "distort_tf",
]


@dataclasses.dataclass(frozen=True)
class Distortion:
    """One KADID-10k distortion type.

    Args:
        id: its KADID number, 1..25.
        name: its name, as in KADID-10k's type table.
        group: its family (`blur`, `color`, `compression`, `noise`, `brightness_change`,
            `spatial`, `sharpness_contrast`).
        parameters: the parameter of each level 1..5.
        function: `function(image, level, rng)` that applies it.
        min_side: the smallest height and width it takes.
    """

    id: int
    name: str
    group: str
    parameters: tuple
    function: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
    min_side: int = 1


DISTORTIONS = (
    Distortion(1, "gaussian_blur", "blur", blur.GAUSSIAN_BLUR_SIGMAS, blur.gaussian_blur),
    Distortion(2, "lens_blur", "blur", blur.LENS_BLUR_RADII, blur.lens_blur),
    Distortion(3, "motion_blur", "blur", blur.MOTION_BLUR_LENGTHS, blur.motion_blur),
    Distortion(4, "color_diffusion", "color", color.COLOR_DIFFUSION_AMOUNTS, color.color_diffusion),
    Distortion(
        5, "color_shift", "color", color.COLOR_SHIFT_PIXELS, color.color_shift, color.COLOR_SHIFT_MIN_SIDE
    ),
    Distortion(
        6, "color_quantization", "color", color.COLOR_QUANTIZATION_COLORS, color.color_quantization
    ),
    Distortion(
        7, "color_saturation_1", "color", color.COLOR_SATURATION_1_FACTORS, color.color_saturation_1
    ),
    Distortion(
        8, "color_saturation_2", "color", color.COLOR_SATURATION_2_FACTORS, color.color_saturation_2
    ),
    Distortion(9, "jpeg2000", "compression", compression.JPEG2000_RATIOS, compression.jpeg2000),
    Distortion(10, "jpeg", "compression", compression.JPEG_QUALITIES, compression.jpeg),
    Distortion(11, "white_noise", "noise", noise.WHITE_NOISE_VARIANCES, noise.white_noise),
    Distortion(
        12,
        "white_noise_color_component",
        "noise",
        noise.WHITE_NOISE_COLOR_COMPONENT_VARIANCES,
        noise.white_noise_color_component,
    ),
    Distortion(13, "impulse_noise", "noise", noise.IMPULSE_NOISE_DENSITIES, noise.impulse_noise),
    Distortion(
        14,
        "multiplicative_noise",
        "noise",
        noise.MULTIPLICATIVE_NOISE_VARIANCES,
        noise.multiplicative_noise,
    ),
    Distortion(15, "denoise", "noise", noise.DENOISE_NOISE_VARIANCES, noise.denoise),
    Distortion(
        16, "brighten", "brightness_change", brightness.BRIGHTEN_AMOUNTS, brightness.brighten
    ),
    Distortion(17, "darken", "brightness_change", brightness.DARKEN_AMOUNTS, brightness.darken),
    Distortion(
        18, "mean_shift", "brightness_change", brightness.MEAN_SHIFT_AMOUNTS, brightness.mean_shift
    ),
    Distortion(19, "jitter", "spatial", spatial.JITTER_AMOUNTS, spatial.jitter),
    Distortion(
        20,
        "non_eccentricity_patch",
        "spatial",
        spatial.NON_ECCENTRICITY_PATCH_COUNTS,
        spatial.non_eccentricity_patch,
        spatial.NON_ECCENTRICITY_MIN_SIDE,
    ),
    Distortion(21, "pixelate", "spatial", spatial.PIXELATE_STRENGTHS, spatial.pixelate),
    Distortion(
        22, "quantization", "spatial", spatial.QUANTIZATION_THRESHOLD_COUNTS, spatial.quantization
    ),
    Distortion(23, "color_block", "spatial", spatial.COLOR_BLOCK_COUNTS, spatial.color_block),
    Distortion(
        24,
        "high_sharpen",
        "sharpness_contrast",
        sharpness.HIGH_SHARPEN_AMOUNTS,
        sharpness.high_sharpen,
    ),
    Distortion(
        25,
        "contrast_change",
        "sharpness_contrast",
        sharpness.CONTRAST_CHANGE_AMOUNTS,
        sharpness.contrast_change,
    ),
)

# KADID-10k's type table spells these two with their colour space.
_ALIASES = {"color_saturation_1_hsv": 7, "color_saturation_2_lab": 8}
_BY_NAME = {distortion.name: distortion for distortion in DISTORTIONS}
_SCORES_FILE = "kadid10k_type_level_mean_dmos.csv"
_BEST_SCORE, _WORST_SCORE = 5.0, 1.0


def get_distortion(type: int | str | Distortion) -> Distortion:
    """Looks a distortion up by KADID id (`10`, `"10"`, `"09"`) or by name.

    Both `color_saturation_1` and KADID's `color_saturation_1_hsv` spelling are
    accepted (likewise for `color_saturation_2` / `_lab`).

    Example:
    >>> get_distortion("09").name, get_distortion("color_saturation_1_hsv").id
    ('jpeg2000', 7)
    >>> get_distortion("blurry")
    Traceback (most recent call last):
    ...
    ValueError: Unknown distortion type 'blurry'. Expected an id 1..25 or one of: ...
    """
    if isinstance(type, Distortion):
        return type
    if isinstance(type, numbers.Integral) and not isinstance(type, bool):
        if 1 <= int(type) <= len(DISTORTIONS):
            return DISTORTIONS[int(type) - 1]
    elif isinstance(type, str):
        key = type.strip().lower()
        if key.isdigit() and 1 <= int(key) <= len(DISTORTIONS):
            return DISTORTIONS[int(key) - 1]
        if key in _ALIASES:
            return DISTORTIONS[_ALIASES[key] - 1]
        if key in _BY_NAME:
            return _BY_NAME[key]
    raise ValueError(
        f"Unknown distortion type {type!r}. Expected an id 1..{len(DISTORTIONS)} or one of: "
        + ", ".join(_BY_NAME)
    )


def distort(
    image: np.ndarray, type: int | str | Distortion, level: int, seed=None
) -> np.ndarray:
    """Applies one KADID distortion as KADIS-700k's `imdist_generator` does.

    The image is min-max normalised to [0, 1] (MATLAB `mapmm`), distorted, and the
    result min-max normalised again; constant images are left as they are.

    Args:
        image: float HxWx3 array with values in [0, 1].
        type: the distortion's id or name (see `get_distortion`).
        level: 1 (mildest) to 5.
        seed: anything `numpy.random.default_rng` accepts (int, `SeedSequence`,
            `Generator`); None draws fresh entropy.

    Example:
    >>> image = np.linspace(0, 1, 48, dtype=np.float32).reshape(4, 4, 3)
    >>> bool(np.array_equal(distort(image, "jitter", 2, seed=7), distort(image, 19, 2, seed=7)))
    True
    """
    distortion = get_distortion(type)
    level = check_level(level)
    image = map_min_max(check_image(image))
    distorted = distortion.function(image, level, _checked_seed(np.random.default_rng, seed))
    return map_min_max(distorted).astype(np.float32, copy=False)


def compose(image: np.ndarray, steps: Sequence[tuple], seed=None) -> np.ndarray:
    """Applies several distortions in order, each with its own independent sub-seed.

    Args:
        image: float HxWx3 array with values in [0, 1].
        steps: a sequence of `(type, level)` pairs, applied first to last.
        seed: as in `distort`; the steps' seeds are its first children (as
            `numpy.random.SeedSequence.spawn` makes them), so one seed reproduces the
            whole chain, also when it is a `SeedSequence` used before.

    Example:
    >>> image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    >>> steps = [("gaussian_blur", 2), ("jpeg", 4)]
    >>> bool(np.array_equal(compose(image, steps, seed=1), compose(image, steps, seed=1)))
    True
    """
    steps = _check_steps(steps)
    result = check_image(image)
    for (distortion, level), step_seed in zip(steps, _children(_seed_sequence(seed), len(steps))):
        result = distort(result, distortion, level, seed=step_seed)
    return result


def _children(sequence: np.random.SeedSequence, count: int) -> list[np.random.SeedSequence]:
    """The first `count` children `sequence.spawn` would give, leaving `sequence` as it is
    (spawning counts the children it gave, so a second call would give others)."""
    return [
        np.random.SeedSequence(sequence.entropy, spawn_key=(*sequence.spawn_key, index), pool_size=sequence.pool_size)
        for index in range(count)
    ]


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return _checked_seed(np.random.SeedSequence, seed)


def _checked_seed(make, seed):
    """`make(seed)`, with an error naming `seed` when NumPy refuses it."""
    try:
        return make(seed)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`seed` must be None, a non-negative int, a SeedSequence or a Generator ({error}). "
            f"Received: seed={seed!r}"
        ) from None


def _check_steps(steps) -> list[tuple[Distortion, int]]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or not steps:
        raise ValueError(
            "`steps` must be a non-empty sequence of (type, level) pairs. "
            f"Received: steps={steps!r}"
        )
    checked = []
    for step in steps:
        if isinstance(step, (str, bytes)) or not isinstance(step, Sequence) or len(step) != 2:
            raise ValueError(
                "Each step must be a (type, level) pair. "
                f"Received: step={step!r} in steps={steps!r}"
            )
        checked.append((get_distortion(step[0]), check_level(step[1])))
    return checked


@functools.lru_cache(maxsize=1)
def _mean_scores() -> dict[int, tuple[float, ...]]:
    """KADID-10k's mean score per type id and level, from the packaged table."""
    table = importlib.resources.files("iqa_keras.data").joinpath(_SCORES_FILE)
    with table.open("r", encoding="utf-8", newline="") as file:
        return {
            int(row["type_id"]): tuple(float(row[f"L{level}"]) for level in range(1, 6))
            for row in csv.DictReader(file)
        }


def kadid_mean_score(type: int | str | Distortion, level: int) -> float:
    """KADID-10k's mean human score for a distortion type at a level (1-5, higher = better).

    The mean over KADID-10k's 81 scenes (the release calls the column "dmos", but
    higher means better), from `iqa_keras/data/kadid10k_type_level_mean_dmos.csv`.

    Example:
    >>> kadid_mean_score("gaussian_blur", 1), kadid_mean_score(25, 3)
    (4.6122, 4.2901)
    """
    return _mean_scores()[get_distortion(type).id][check_level(level) - 1]


def composition_score(steps: Sequence[tuple]) -> float:
    """The label of a composition of distortions: the product rule on normalised quality.

    Each step's KADID mean score s_i is mapped to the fraction of quality it keeps,
    q_i = (s_i - 1) / 4 (1 = untouched, 0 = worst); fractions kept multiply along the
    chain, q = prod(q_i), and the label is 1 + 4 q. A single step gets its KADID score;
    every added step lowers the label; the label stays in [1, 5] without clipping and
    does not depend on the order of the steps. It is a prior, not a human judgment.

    Example:
    >>> composition_score([("jpeg", 1)]) == kadid_mean_score("jpeg", 1)
    True
    >>> round(composition_score([("gaussian_blur", 2), ("jpeg", 4)]), 4)
    1.7993
    """
    quality = 1.0
    for distortion, level in _check_steps(steps):
        score = kadid_mean_score(distortion, level)
        quality *= (score - _WORST_SCORE) / (_BEST_SCORE - _WORST_SCORE)
    return _WORST_SCORE + (_BEST_SCORE - _WORST_SCORE) * quality


def distort_tf(image, type, level, seed):
    """`distort` for `tf.data`: a `tf.numpy_function` with the input's static shape kept.

    Args:
        image: float32 HxWx3 tensor with values in [0, 1].
        type: the distortion's id or name, as a Python value or a scalar tensor.
        level: 1..5, as a Python int or a scalar int tensor.
        seed: an int or scalar int tensor (e.g. from `dataset.enumerate()`), so that
            the augmentation is reproducible.

    Example:
    >>> import tensorflow as tf
    >>> images = tf.data.Dataset.from_tensors(tf.fill((16, 16, 3), 0.5)).enumerate()
    >>> images = images.map(lambda index, image: distort_tf(image, "pixelate", 5, index))
    >>> images.element_spec.shape
    TensorShape([16, 16, 3])
    """
    import tensorflow as tf

    image = tf.convert_to_tensor(image, tf.float32)
    distorted = tf.numpy_function(
        _distort_numpy,
        [image] + [tf.convert_to_tensor(value) for value in (type, level, seed)],
        tf.float32,
        stateful=False,
    )
    distorted.set_shape(image.shape)
    return distorted


def _distort_numpy(image, type, level, seed) -> np.ndarray:
    type = np.asarray(type).item()
    type = type.decode("utf-8") if isinstance(type, bytes) else type
    return distort(image, type, int(level), seed=int(seed))
