"""Losses from the differentiable similarity metrics: `1 - ssim` and `1 - ms_ssim`.

`y_true` is the reference, `y_pred` the distorted or restored image, both NHWC with
values on the `data_range` scale. The default colour is `"rgb"`, not the metrics'
`"gray"`: a loss should constrain every channel that the model produces (a gray-only
loss leaves colour free to drift).

Example:
>>> import numpy as np
>>> images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
>>> float(SSIMLoss()(images, images))
0.0
"""

from __future__ import annotations

import keras

from iqa_keras.metrics.color import check_color, check_data_range
from iqa_keras.metrics.structural_similarity import ms_ssim, ssim

__all__ = ["SSIMLoss", "MSSSIMLoss"]


class _SimilarityLoss(keras.losses.Loss):
    """`1 - similarity(y_true, y_pred)` per image, for a similarity metric in [.., 1]."""

    similarity = None  # set by each subclass to the metric function

    def __init__(
        self,
        data_range: float = 255.0,
        color: str = "rgb",
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        check_data_range(data_range)
        check_color(color)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.data_range = data_range
        self.color = color

    def call(self, y_true, y_pred):
        return 1.0 - type(self).similarity(y_true, y_pred, data_range=self.data_range, color=self.color)

    def get_config(self):
        return {**super().get_config(), "data_range": self.data_range, "color": self.color}


@keras.saving.register_keras_serializable(package="iqa_keras")
class SSIMLoss(_SimilarityLoss):
    """`1 - ssim(y_true, y_pred)`, in [0, 2]; images at least 11x11 pixels.

    Args:
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"rgb"` (default), `"y"` or `"gray"`; see `iqa_keras.metrics.color`.
        reduction, name, dtype: as for any `keras.losses.Loss`.

    Example:
    >>> import numpy as np
    >>> loss = SSIMLoss(data_range=1.0)
    >>> SSIMLoss.from_config(loss.get_config()).data_range
    1.0
    """

    similarity = staticmethod(ssim)


@keras.saving.register_keras_serializable(package="iqa_keras")
class MSSSIMLoss(_SimilarityLoss):
    """`1 - ms_ssim(y_true, y_pred)`, in [0, 1]; images at least 161x161 pixels.

    A scale whose contrast-structure term is negative (clipped to 0, as MATLAB's
    `msssim.m` does) passes no gradient, so the loss stays finite for the predictions of
    an untrained network.

    Args:
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"rgb"` (default), `"y"` or `"gray"`; see `iqa_keras.metrics.color`.
        reduction, name, dtype: as for any `keras.losses.Loss`.

    Example:
    >>> MSSSIMLoss(color="y").get_config()["color"]
    'y'
    """

    similarity = staticmethod(ms_ssim)
