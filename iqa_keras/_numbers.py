"""The one test of "is this argument a number" that the argument checks share."""

from __future__ import annotations

import math
import numbers


def is_finite_number(value) -> bool:
    """True for a finite int or float, NumPy scalars included; False for bools, NaN, inf and
    ints too large for a float.

    >>> is_finite_number(0.5), is_finite_number(True), is_finite_number(float("inf")), is_finite_number(10**400)
    (True, False, False, False)
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
