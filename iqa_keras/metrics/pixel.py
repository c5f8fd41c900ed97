"""Pixel-wise errors: mean squared error, mean absolute error and PSNR.

Each averages over every pixel and channel of an image, as scikit-image's
`mean_squared_error` and `peak_signal_noise_ratio` do (a colour PSNR is computed from the
MSE of all channels together, not averaged over per-channel PSNRs). The default colour
is `"rgb"`, as in scikit-image; `color="y"` gives the super-resolution convention.

Example:
>>> import numpy as np
>>> reference = np.zeros((4, 4, 3), np.float32)
>>> distorted = np.full((4, 4, 3), 25.5, np.float32)
>>> float(mse(reference, distorted)), float(mae(reference, distorted))
(650.25, 25.5)
>>> round(float(psnr(reference, distorted)), 4)
20.0
"""

from __future__ import annotations

from keras import ops

from iqa_keras.metrics.color import IMAGE_AXES, prepare_pair

__all__ = ["mse", "mae", "psnr"]


def mse(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Mean squared error over all pixels and channels, in the input's units squared.

    Follows numpy's `mean((reference - distorted) ** 2)` and scikit-image's
    `mean_squared_error`. `data_range` only scales the `"y"` conversion's offset.

    Args:
        reference: the pristine image, HWC or a batch NHWC.
        distorted: the image to assess, same shape.
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"rgb"` (default), `"y"` or `"gray"`; see `iqa_keras.metrics.color`.

    Returns:
        The MSE of each image: shape (N,) for NHWC inputs, a scalar for HWC.

    Example:
    >>> import numpy as np
    >>> float(mse(np.zeros((4, 4, 1)), np.full((4, 4, 1), 2.0)))
    4.0
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    return pair.restore(_mean_squared_error(pair.reference, pair.distorted))


def mae(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Mean absolute error over all pixels and channels, in the input's units.

    Follows numpy's `mean(abs(reference - distorted))`. Arguments as for `mse`.

    Example:
    >>> import numpy as np
    >>> float(mae(np.zeros((4, 4, 1)), np.full((4, 4, 1), -2.0)))
    2.0
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    return pair.restore(ops.mean(ops.abs(pair.reference - pair.distorted), axis=IMAGE_AXES))


def psnr(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Peak signal-to-noise ratio in dB: `10 log10(data_range**2 / mse)`.

    Follows scikit-image's `peak_signal_noise_ratio`: one MSE over all channels, default
    `"rgb"`. Identical images give `inf`, as there. Higher is better.

    Args:
        reference: the pristine image, HWC or a batch NHWC.
        distorted: the image to assess, same shape.
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"rgb"` (default), `"y"` or `"gray"`; see `iqa_keras.metrics.color`.

    Example:
    >>> import numpy as np
    >>> reference = np.zeros((2, 8, 8, 3), np.uint8)
    >>> distorted = np.stack([np.full((8, 8, 3), 1, np.uint8), np.full((8, 8, 3), 10, np.uint8)])
    >>> [round(float(value), 2) for value in psnr(reference, distorted)]
    [48.13, 28.13]
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    error = _mean_squared_error(pair.reference, pair.distorted)
    return pair.restore(10.0 * ops.log10(float(data_range) ** 2 / error))


def _mean_squared_error(reference, distorted):
    return ops.mean(ops.square(reference - distorted), axis=IMAGE_AXES)
