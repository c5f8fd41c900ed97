"""Classic full-reference quality metrics, written with `keras.ops`.

Every metric is a function `metric(reference, distorted, data_range=255.0, color=...)`
that runs eagerly, inside `tf.data`, inside a Keras model and on the JAX backend. It
takes one HWC image (returns a scalar) or a batch NHWC (returns shape (N,)), computes in
float32, and returns float32 for integer inputs, the input's float dtype otherwise.
`available()` lists them with their direction and range; `get(name)` finds one.

Example:
>>> import numpy as np
>>> from iqa_keras import metrics
>>> reference = np.zeros((16, 16, 3), np.float32)
>>> info = metrics.get("psnr")
>>> round(float(info.function(reference, reference + 10.0, data_range=255.0)), 2)
28.13
>>> info.higher_is_better, info.value_range
(True, (0.0, inf))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from iqa_keras.metrics.color import COLORS
from iqa_keras.metrics.deep_features import deep_feature_metric
from iqa_keras.metrics.errors import lmse, max_difference, nae, structural_content
from iqa_keras.metrics.losses import MSSSIMLoss, SSIMLoss
from iqa_keras.metrics.pixel import mae, mse, psnr
from iqa_keras.metrics.structural_similarity import ms_ssim, ssim

__all__ = [
    "COLORS",
    "MetricInfo",
    "available",
    "get",
    "psnr",
    "mse",
    "mae",
    "ssim",
    "ms_ssim",
    "lmse",
    "nae",
    "max_difference",
    "structural_content",
    "deep_feature_metric",
    "SSIMLoss",
    "MSSSIMLoss",
]


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """What code and the CLI need to know about a metric.

    Args:
        name: the metric's name, as `get` takes it.
        function: `function(reference, distorted, data_range=255.0, color=...)`.
        higher_is_better: True or False, or None where the best value lies inside the
            range (structural content: 1).
        value_range: (lowest, highest) value the metric can take (`math.inf` if open).
        best_value: the value of identical images.
        default_color: the `color` the function uses when none is given.
        description: one line for listings.
    """

    name: str
    function: Callable
    higher_is_better: bool | None
    value_range: tuple[float, float]
    best_value: float
    default_color: str
    description: str


_METRICS = (
    MetricInfo("psnr", psnr, True, (0.0, math.inf), math.inf, "rgb",
               "peak signal-to-noise ratio in dB, as scikit-image"),
    MetricInfo("ssim", ssim, True, (-1.0, 1.0), 1.0, "gray",
               "structural similarity (Wang et al. 2004), as scikit-image and ssim.m"),
    MetricInfo("ms_ssim", ms_ssim, True, (0.0, 1.0), 1.0, "gray",
               "multi-scale SSIM over 5 scales, as msssim.m and tf.image.ssim_multiscale"),
    MetricInfo("mse", mse, False, (0.0, math.inf), 0.0, "rgb",
               "mean squared error, in the input's units squared"),
    MetricInfo("mae", mae, False, (0.0, math.inf), 0.0, "rgb",
               "mean absolute error, in the input's units"),
    MetricInfo("lmse", lmse, False, (0.0, math.inf), 0.0, "rgb",
               "Laplacian mean squared error (Eskicioglu & Fisher 1995)"),
    MetricInfo("nae", nae, False, (0.0, math.inf), 0.0, "rgb",
               "normalised absolute error (Eskicioglu & Fisher 1995)"),
    MetricInfo("max_difference", max_difference, False, (0.0, math.inf), 0.0, "rgb",
               "largest absolute pixel difference, in the input's units"),
    MetricInfo("structural_content", structural_content, None, (0.0, math.inf), 1.0, "rgb",
               "energy ratio sum(x^2) / sum(y^2), best at 1 (Eskicioglu & Fisher 1995)"),
)


def available() -> tuple[MetricInfo, ...]:
    """All metrics, in a stable order (the most used first).

    Example:
    >>> [info.name for info in available()][:3]
    ['psnr', 'ssim', 'ms_ssim']
    """
    return _METRICS


def get(name: str) -> MetricInfo:
    """The `MetricInfo` of the metric called `name`.

    Example:
    >>> get("ssim").default_color
    'gray'
    >>> get("ssim_2")
    Traceback (most recent call last):
    ...
    ValueError: Unknown metric 'ssim_2'. Available: psnr, ssim, ms_ssim, mse, mae, lmse, nae, max_difference, structural_content
    """
    for info in _METRICS:
        if info.name == name:
            return info
    names = ", ".join(info.name for info in _METRICS)
    raise ValueError(f"Unknown metric {name!r}. Available: {names}")
