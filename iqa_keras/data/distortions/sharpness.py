"""KADID-10k sharpness and contrast: 24 high_sharpen, 25 contrast_change.

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
>>> rng = np.random.default_rng(0)
>>> bool(high_sharpen(image, 5, rng).std() > image.std()), contrast_change(image, 5, rng).shape
(True, (16, 16, 3))
"""

from __future__ import annotations

import numpy as np

from iqa_keras.data.distortions._validate import check_image, check_level
from iqa_keras.data.distortions.blur import gaussian_filter_2d
from iqa_keras.data.distortions.brightness import tone_curve
from iqa_keras.data.distortions.colorspace import lab_to_rgb, rgb_to_lab

__all__ = ["HIGH_SHARPEN_AMOUNTS", "CONTRAST_CHANGE_AMOUNTS", "high_sharpen", "contrast_change"]

HIGH_SHARPEN_AMOUNTS = (1.0, 2.0, 3.0, 6.0, 12.0)
CONTRAST_CHANGE_AMOUNTS = (0.3, 0.15, 0.0, -0.4, -0.6)

_SHARPEN_RADIUS = 3.0


def high_sharpen(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Unsharp masking of Lab lightness, radius 3 (KADID type 24).

    As KADIS-700k's `imsharpen(a, 'Radius', 3, 'Amount', amount)`: MATLAB's
    `imsharpen` blurs L with a 13x13 Gaussian of sigma 3 (replicated edges) and adds
    `amount * (L - blurred L)`; a and b are kept, the result is clipped to [0, 1].
    Amounts per level: `HIGH_SHARPEN_AMOUNTS`. Deterministic: `rng` is ignored.

    Example:
    >>> step = np.zeros((8, 8, 3), np.float32); step[:, 4:] = 0.6
    >>> sharp = high_sharpen(step, 1, np.random.default_rng(0))
    >>> bool(sharp[0, 3, 0] == 0.0 and sharp[0, 4, 0] > 0.6)
    True
    """
    image = check_image(image)
    amount = HIGH_SHARPEN_AMOUNTS[check_level(level) - 1]
    lab = rgb_to_lab(image)
    lightness = lab[..., 0]
    blurred = gaussian_filter_2d(lightness, _SHARPEN_RADIUS)  # MATLAB's 13-wide kernel
    lab[..., 0] = lightness + amount * (lightness - blurred)
    return np.clip(lab_to_rgb(lab), 0.0, 1.0).astype(np.float32)


def contrast_change(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Changes contrast with an RGB tone curve (KADID type 25, `imcontrastc`).

    The spline through (0, 0), (0.3, 0.25 - a/4), (0.5, 0.5), (0.7, 0.75 + a/4), (1, 1):
    a > 0 raises contrast (levels 1, 2), a < 0 lowers it (levels 4, 5); level 3 (a = 0)
    is the mildest, a slight curve rather than the identity. Amounts per level:
    `CONTRAST_CHANGE_AMOUNTS`. Deterministic: `rng` is ignored.

    Example:
    >>> ramp = np.linspace(0, 1, 5, dtype=np.float32)[None, :, None].repeat(3, axis=-1)
    >>> curved = contrast_change(ramp, 5, np.random.default_rng(0))
    >>> [round(float(value), 2) for value in curved[0, :, 0]]
    [0.0, 0.36, 0.5, 0.64, 1.0]
    """
    image = check_image(image)
    amount = CONTRAST_CHANGE_AMOUNTS[check_level(level) - 1]
    control_y = (0.0, 0.25 - amount / 4, 0.5, 0.75 + amount / 4, 1.0)
    return tone_curve(image, (0.0, 0.3, 0.5, 0.7, 1.0), control_y)
