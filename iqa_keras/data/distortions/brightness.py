"""KADID-10k brightness changes: 16 brighten, 17 darken, 18 mean_shift.

Brighten and darken bend a tone curve through a mid-grey control point, as the
KADIS-700k functions `imbrighten` / `imdarken` do with MATLAB's `spline`; mean shift adds
a constant (`immeanshift`).

Example:
>>> import numpy as np
>>> image = np.full((8, 8, 3), 0.5, np.float32)
>>> rng = np.random.default_rng(0)
>>> [round(float(f(image, 5, rng).mean()), 3) for f in (brighten, darken, mean_shift)]
[1.0, 0.1, 0.35]
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from iqa_keras.data.distortions._validate import check_image, check_level
from iqa_keras.data.distortions.colorspace import lab_to_rgb, rgb_to_lab

__all__ = [
    "BRIGHTEN_AMOUNTS",
    "DARKEN_AMOUNTS",
    "MEAN_SHIFT_AMOUNTS",
    "brighten",
    "darken",
    "mean_shift",
    "tone_curve",
]

BRIGHTEN_AMOUNTS = (0.1, 0.2, 0.4, 0.7, 1.1)
DARKEN_AMOUNTS = (0.05, 0.1, 0.2, 0.4, 0.8)
MEAN_SHIFT_AMOUNTS = (0.15, 0.08, 0.0, -0.08, -0.15)


def tone_curve(values: np.ndarray, control_x, control_y) -> np.ndarray:
    """Maps `values` through the spline that passes through the control points, clipped.

    MATLAB's `spline` (not-a-knot end conditions, a parabola for three points), which
    is what the KADIS-700k tone curves use.

    Example:
    >>> curved = tone_curve(np.array([0.25, 0.5]), (0.0, 0.5, 1.0), (0.0, 0.6, 1.0))
    >>> [round(float(value), 3) for value in curved]
    [0.325, 0.6]
    """
    curve = CubicSpline(np.asarray(control_x, np.float64), np.asarray(control_y, np.float64))
    return np.clip(curve(values), 0.0, 1.0).astype(np.float32)


def _mid_grey_curve(values: np.ndarray, mid_grey: float) -> np.ndarray:
    return tone_curve(values, (0.0, 0.5, 1.0), (0.0, mid_grey, 1.0))


def brighten(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Brightens with a tone curve through (0.5, 0.5 + amount / 2) (KADID type 16).

    The curve is applied to RGB and to CIE Lab lightness; the result is
    (2 * curved RGB + curved-lightness RGB) / 3, as KADIS-700k's `imbrighten`.
    Deterministic: `rng` is ignored. Amounts per level: `BRIGHTEN_AMOUNTS`.

    Example:
    >>> grey = np.full((4, 4, 3), 0.25, np.float32)
    >>> bool((brighten(grey, 1, np.random.default_rng(0)) > grey).all())
    True
    """
    image = check_image(image)
    mid_grey = 0.5 + BRIGHTEN_AMOUNTS[check_level(level) - 1] / 2
    lab = rgb_to_lab(image)
    lab[..., 0] = 100.0 * _mid_grey_curve(lab[..., 0] / 100.0, mid_grey)
    brightened = (2.0 * _mid_grey_curve(image, mid_grey) + lab_to_rgb(lab)) / 3.0
    return np.clip(brightened, 0.0, 1.0).astype(np.float32)


def darken(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Darkens with an RGB tone curve through (0.5, 0.5 - amount / 2) (KADID type 17).

    As KADIS-700k's `imdarken`. Deterministic: `rng` is ignored. Amounts per level:
    `DARKEN_AMOUNTS`.

    Example:
    >>> grey = np.full((4, 4, 3), 0.5, np.float32)
    >>> round(float(darken(grey, 1, np.random.default_rng(0))[0, 0, 0]), 3)
    0.475
    """
    image = check_image(image)
    return _mid_grey_curve(image, 0.5 - DARKEN_AMOUNTS[check_level(level) - 1] / 2)


def mean_shift(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Adds a constant to every pixel and clips (KADID type 18, `immeanshift`).

    Level 1 brightens by 0.15, level 3 leaves the image unchanged, level 5 darkens by
    0.15 (`MEAN_SHIFT_AMOUNTS`). Deterministic: `rng` is ignored.

    Example:
    >>> grey = np.full((2, 2, 3), 0.5, np.float32)
    >>> round(float(mean_shift(grey, 4, np.random.default_rng(0))[0, 0, 0]), 3)
    0.42
    """
    image = check_image(image)
    shifted = image + np.float32(MEAN_SHIFT_AMOUNTS[check_level(level) - 1])
    return np.clip(shifted, 0.0, 1.0).astype(np.float32)
