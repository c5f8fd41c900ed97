"""Argument checks shared by every distortion function, and KADIS' min-max mapping.

Example:
>>> import numpy as np
>>> check_level(3)
3
>>> check_image(np.zeros((4, 4, 3))).dtype
dtype('float32')
>>> map_min_max(np.array([2.0, 3.0, 6.0])).tolist()
[0.0, 0.25, 1.0]
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_level", "check_image", "map_min_max"]


def check_level(level: int) -> int:
    """Returns `level` as an int after checking it is an integer in 1..5.

    Example:
    >>> check_level(6)
    Traceback (most recent call last):
    ...
    ValueError: `level` must be an integer in 1..5. Received: level=6
    """
    if (
        isinstance(level, bool)
        or not isinstance(level, numbers.Integral)
        or not 1 <= int(level) <= 5
    ):
        raise ValueError(f"`level` must be an integer in 1..5. Received: level={level!r}")
    return int(level)


def check_image(image) -> np.ndarray:
    """Returns `image` as a float32 HxWx3 array after checking its shape and range.

    Example:
    >>> check_image(np.zeros((4, 4)))
    Traceback (most recent call last):
    ...
    ValueError: `image` must be a float HxWx3 array with values in [0, 1]. Received: shape=(4, 4)
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(
            "`image` must be a float HxWx3 array with values in [0, 1]. "
            f"Received: shape={array.shape}"
        )
    array = array.astype(np.float32, copy=False)
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 1.0:
        raise ValueError(
            "`image` must have values in [0, 1] (divide 0-255 images by 255). "
            f"Received: min={low}, max={high}"
        )
    return array


CONSTANT_RANGE = 1e-6


def map_min_max(values: np.ndarray) -> np.ndarray:
    """Maps values linearly onto [0, 1], in their dtype (KADIS `mapmm`); a constant array,
    up to rounding (a range of at most `CONSTANT_RANGE`, far below an 8-bit step), is
    returned as it is, so that a filter's rounding errors are not stretched into noise.

    Example:
    >>> map_min_max(np.array([1.0, 2.0, 5.0])).tolist()
    [0.0, 0.25, 1.0]
    >>> nearly_flat = np.array([0.5, 0.50000006, 0.4999999], np.float32)
    >>> bool(np.array_equal(map_min_max(nearly_flat), nearly_flat))
    True
    """
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high - low > CONSTANT_RANGE else values
