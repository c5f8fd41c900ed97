"""The one test of "is this argument a number" that the argument checks share."""

from __future__ import annotations

import math
import numbers


def is_finite_number(value) -> bool:
    """True for a finite int or float, NumPy scalars included; False for bools, NaN and inf.

    >>> is_finite_number(0.5), is_finite_number(True), is_finite_number(float("inf"))
    (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
