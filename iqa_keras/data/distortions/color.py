"""KADID-10k colour types: 04 color_diffusion, 05 color_shift, 06 color_quantization,
07 color_saturation_1, 08 color_saturation_2.

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
>>> gray = color_saturation_1(image, level=4, rng=np.random.default_rng(0))
>>> bool(np.allclose(gray[..., 0], gray[..., 1]))
True
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from iqa_keras.data.distortions._validate import check_image, check_level, map_min_max
from iqa_keras.data.distortions.blur import gaussian_filter_2d
from iqa_keras.data.distortions.colorspace import (
    hsv_to_rgb,
    lab_to_rgb,
    rgb_to_hsv,
    rgb_to_lab,
)
from iqa_keras.data.distortions.compression import from_pillow, to_pillow

__all__ = [
    "COLOR_DIFFUSION_AMOUNTS",
    "COLOR_SHIFT_PIXELS",
    "COLOR_QUANTIZATION_COLORS",
    "COLOR_SATURATION_1_FACTORS",
    "COLOR_SATURATION_2_FACTORS",
    "color_diffusion",
    "color_shift",
    "color_quantization",
    "color_saturation_1",
    "color_saturation_2",
]

COLOR_DIFFUSION_AMOUNTS = (1, 3, 6, 8, 12)
COLOR_SHIFT_PIXELS = (1, 3, 6, 8, 12)
COLOR_SHIFT_MIN_SIDE = 2  # it needs a gradient
COLOR_QUANTIZATION_COLORS = (64, 48, 32, 16, 8)
COLOR_SATURATION_1_FACTORS = (0.4, 0.2, 0.1, 0.0, -0.4)
COLOR_SATURATION_2_FACTORS = (1, 2, 3, 6, 9)

# MATLAB rgb2gray weights.
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])
_EDGE_SMOOTHING_SIGMA = 4.0
_EDGE_PERCENTILES = (1.0, 99.0)
_EDGE_FLOOR = 0.1


def _finish(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def color_diffusion(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 04: chroma blurred and amplified by `COLOR_DIFFUSION_AMOUNTS[level - 1]`.

    In CIE Lab, a and b are Gaussian-blurred with sigma = 1.5 * amount + 2 and then
    multiplied by amount; L is kept. Mirrors KADIS `imcolordiffuse`. Deterministic.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    >>> color_diffusion(image, 2, np.random.default_rng(0)).shape
    (16, 16, 3)
    """
    image = check_image(image)
    amount = COLOR_DIFFUSION_AMOUNTS[check_level(level) - 1]
    lab = rgb_to_lab(image)
    lab[..., 1:] = gaussian_filter_2d(lab[..., 1:], 1.5 * amount + 2) * amount
    return _finish(lab_to_rgb(lab))


def _edge_weights(image: np.ndarray) -> np.ndarray:
    """The smoothed, normalised gradient magnitude that weights the colour shift."""
    gray = image @ _GRAY_WEIGHTS
    weights = np.hypot(*np.gradient(gray))
    weights = map_min_max(gaussian_filter_2d(weights, _EDGE_SMOOTHING_SIGMA))
    weights = map_min_max(np.clip(weights, _EDGE_FLOOR, 1.0))
    # MATLAB `prctile` interpolates as NumPy's "hazen" method.
    low, high = np.percentile(weights, _EDGE_PERCENTILES, method="hazen")
    return map_min_max(np.clip(weights, low, high))


def color_shift(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 05: green channel shifted by `COLOR_SHIFT_PIXELS[level - 1]` pixels.

    The shift's direction is random (both components non-negative, as KADIS draws it
    from `rand(1, 2)`); the shifted green (edges mirrored) is blended with the
    original, weighted by the smoothed gradient magnitude, so colour fringes appear
    along edges. Mirrors KADIS `imcolorshift`.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    >>> shifted = color_shift(image, 5, np.random.default_rng(0))
    >>> bool(np.array_equal(shifted[..., 0], image[..., 0]))
    True
    """
    image = check_image(image)
    pixels = COLOR_SHIFT_PIXELS[check_level(level) - 1]
    if min(image.shape[:2]) < COLOR_SHIFT_MIN_SIDE:
        raise ValueError(
            f"`image` must be at least {COLOR_SHIFT_MIN_SIDE}x{COLOR_SHIFT_MIN_SIDE} pixels for color_shift "
            "(it needs a gradient). "
            f"Received: shape={image.shape}"
        )
    direction = rng.random(2)
    rows, cols = np.round(direction / np.linalg.norm(direction) * pixels).astype(int)
    height, width = image.shape[:2]
    green = image[..., 1].astype(np.float64)
    shifted = np.pad(green, ((rows, 0), (cols, 0)), mode="symmetric")[:height, :width]
    weights = _edge_weights(image.astype(np.float64))
    result = image.astype(np.float64)
    result[..., 1] = shifted * weights + green * (1.0 - weights)
    return _finish(result)


def color_quantization(
    image: np.ndarray, level: int, rng: np.random.Generator
) -> np.ndarray:
    """KADID type 06: the image reduced to `COLOR_QUANTIZATION_COLORS[level - 1]` colours.

    Mirrors KADIS `imcolorquantize`, i.e. MATLAB `rgb2ind(image, n)` then `ind2rgb`:
    MATLAB builds the palette by minimum-variance quantisation and maps pixels to it
    with Floyd-Steinberg dithering (its default). Pillow has no minimum-variance
    quantiser; the nearest it offers is median cut, which also splits the colour cube
    by population, followed by the same Floyd-Steinberg dithering. Deterministic.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    >>> quantized = color_quantization(image, 5, np.random.default_rng(0))
    >>> len(np.unique(quantized.reshape(-1, 3), axis=0)) <= 8
    True
    """
    image = check_image(image)
    colors = COLOR_QUANTIZATION_COLORS[check_level(level) - 1]
    pillow_image = to_pillow(image)
    palette = pillow_image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    dithered = pillow_image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    return from_pillow(dithered)


def color_saturation_1(
    image: np.ndarray, level: int, rng: np.random.Generator
) -> np.ndarray:
    """KADID type 07: HSV saturation multiplied by `COLOR_SATURATION_1_FACTORS[level - 1]`.

    Factors below one desaturate; 0 gives gray and the negative last factor pushes
    colours towards their complement. Mirrors KADIS `imcolorsaturate`. Deterministic.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    >>> color_saturation_1(image, 1, np.random.default_rng(0)).dtype
    dtype('float32')
    """
    image = check_image(image)
    factor = COLOR_SATURATION_1_FACTORS[check_level(level) - 1]
    hsv = rgb_to_hsv(image)
    hsv[..., 1] *= factor
    return _finish(hsv_to_rgb(hsv))


def color_saturation_2(
    image: np.ndarray, level: int, rng: np.random.Generator
) -> np.ndarray:
    """KADID type 08: Lab a and b multiplied by `COLOR_SATURATION_2_FACTORS[level - 1]`.

    Over-saturates colours, then clips to [0, 1]; level 1 (factor 1) changes nothing.
    Mirrors KADIS `imsaturate`. Deterministic: `rng` is unused.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    >>> bool(np.allclose(color_saturation_2(image, 1, np.random.default_rng(0)), image,
    ...                  atol=1e-4))
    True
    """
    image = check_image(image)
    factor = COLOR_SATURATION_2_FACTORS[check_level(level) - 1]
    lab = rgb_to_lab(image)
    lab[..., 1:] *= factor
    return _finish(lab_to_rgb(lab))
