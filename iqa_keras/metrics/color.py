"""Bringing a reference/distorted pair to the float32 channels that a metric compares.

Every metric starts with `prepare_pair`: it checks the arguments, batches a single HWC
image, computes in float32 whatever the input dtype, and converts the colours:

- `"rgb"`: every channel as it is (any number of channels);
- `"y"`: the luma of ITU-R BT.601 YCbCr exactly as MATLAB's `rgb2ycbcr`,
  `Y = 16 + (65.481 R + 128.553 G + 24.966 B)` for R, G, B in [0, 1], that is [16, 235]
  on the 0-255 scale, scaled with `data_range` (no rounding to integers, which MATLAB
  does only for uint8 inputs);
- `"gray"`: MATLAB's `rgb2gray`, the first row of the inverse NTSC (YIQ) matrix,
  `0.298936021293775 R + 0.587043074451121 G + 0.114020904255103 B` (again unrounded).

Single-channel images are taken as already converted under `"y"` and `"gray"`.
`PreparedPair.restore` gives each result back with the shape and dtype the caller
expects: (N,) for NHWC inputs, a scalar for HWC; float32 for integer inputs, the input's
float dtype otherwise.

Example:
>>> import numpy as np
>>> white = np.full((2, 2, 3), 255.0, np.float32)
>>> pair = prepare_pair(white, white, data_range=255.0, color="y")
>>> tuple(pair.reference.shape), float(pair.reference[0, 0, 0, 0])
((1, 2, 2, 1), 235.0)
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import keras
import numpy as np
from keras import ops

__all__ = [
    "COLORS",
    "IMAGE_AXES",
    "GRAY_WEIGHTS",
    "Y_WEIGHTS",
    "PreparedPair",
    "check_color",
    "check_data_range",
    "check_min_size",
    "prepare_pair",
]

COLORS = ("rgb", "y", "gray")

IMAGE_AXES = (1, 2, 3)  # height, width and channels of a PreparedPair's NHWC tensors

# MATLAB rgb2gray: first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]).
GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)

# MATLAB rgb2ycbcr, luma row: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255, R,G,B in [0, 1].
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0


class PreparedPair:
    """A reference/distorted pair as float32 NHWC tensors, ready for a metric.

    Attributes:
        reference: the reference images, float32, NHWC, colours converted.
        distorted: the distorted images, same shape.
        output_dtype: the dtype that results are given back in.
        batched: whether the caller passed NHWC (True) or a single HWC image (False).
    """

    def __init__(self, reference, distorted, output_dtype, batched):
        self.reference = reference
        self.distorted = distorted
        self.output_dtype = output_dtype
        self.batched = batched

    def restore(self, values):
        """Gives per-image `values` (shape (N,)) back in the caller's shape and dtype."""
        values = ops.cast(values, self.output_dtype)
        return values if self.batched else values[0]


def check_data_range(data_range) -> None:
    """Raises unless `data_range` is a finite positive number.

    Example:
    >>> check_data_range(0.0)
    Traceback (most recent call last):
    ...
    ValueError: `data_range` must be a finite positive number ...
    """
    if isinstance(data_range, bool) or not isinstance(data_range, Real):
        raise TypeError(
            "`data_range` must be a number (255.0 for 0-255 images, 1.0 for 0-1 images). "
            f"Received: data_range={data_range!r} of type {type(data_range).__name__}"
        )
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(
            "`data_range` must be a finite positive number (255.0 for 0-255 images, "
            f"1.0 for 0-1 images). Received: data_range={data_range!r}"
        )


def check_color(color) -> None:
    """Raises unless `color` is one of `COLORS`."""
    if color not in COLORS:
        raise ValueError(f"`color` must be one of {', '.join(map(repr, COLORS))}. Received: color={color!r}")


def prepare_pair(reference, distorted, data_range: float, color: str) -> PreparedPair:
    """Checks a pair of images (HWC or NHWC) and converts both to float32 NHWC `color` channels.

    Raises:
        ValueError: bad `color` or `data_range`, a rank other than 3 or 4, shapes that
            differ, or a `"y"`/`"gray"` conversion of images without 1 or 3 channels.
    """
    check_data_range(data_range)
    check_color(color)
    _warn_if_scaled_to_one(reference, distorted, data_range)
    reference = ops.convert_to_tensor(reference)
    distorted = ops.convert_to_tensor(distorted)
    _check_shapes(tuple(reference.shape), tuple(distorted.shape))
    output_dtype = keras.backend.result_type(reference.dtype, distorted.dtype)
    if "float" not in output_dtype:
        output_dtype = "float32"
    batched = len(reference.shape) == 4
    if not batched:
        reference, distorted = reference[None], distorted[None]
    reference = _to_color(ops.cast(reference, "float32"), color, data_range)
    distorted = _to_color(ops.cast(distorted, "float32"), color, data_range)
    return PreparedPair(reference, distorted, output_dtype, batched)


def check_min_size(images, minimum: int, reason: str) -> None:
    """Raises when NHWC `images` are known to be smaller than `minimum` pixels a side.

    Example:
    >>> import numpy as np
    >>> check_min_size(np.zeros((1, 8, 20, 3)), 11, "SSIM needs its 11x11 window")
    Traceback (most recent call last):
    ...
    ValueError: Images are too small: SSIM needs its 11x11 window, so they must be at least 11x11 pixels. Received: 8x20 (height x width)
    """
    height, width = images.shape[1], images.shape[2]
    if (height is not None and height < minimum) or (width is not None and width < minimum):
        raise ValueError(
            f"Images are too small: {reason}, so they must be at least {minimum}x{minimum} "
            f"pixels. Received: {height}x{width} (height x width)"
        )


def _warn_if_scaled_to_one(reference, distorted, data_range) -> None:
    """Warns when NumPy float images hold fractions within [0, 1] but `data_range` is
    larger: most likely images scaled to [0, 1] measured as if 0-255 (PSNR some 48 dB
    too high, SSIM near 1). Tensors are not inspected (they may be symbolic)."""
    arrays = [image for image in (reference, distorted) if isinstance(image, np.ndarray)]
    if data_range <= 1.0 or len(arrays) < 2 or not all(np.issubdtype(a.dtype, np.floating) for a in arrays):
        return
    if all(np.abs(a).max() <= 1.0 for a in arrays) and any(np.any(a != np.round(a)) for a in arrays):
        warnings.warn(
            f"The images hold values within [0, 1], but data_range={data_range}: for images scaled to "
            "[0, 1], pass data_range=1.0.",
            UserWarning,
            stacklevel=4,
        )


def _check_shapes(reference_shape, distorted_shape) -> None:
    if len(reference_shape) not in (3, 4):
        raise ValueError(
            "`reference` must be one image (height, width, channels) or a batch "
            f"(batch, height, width, channels). Received: reference.shape={reference_shape}"
        )
    same = len(reference_shape) == len(distorted_shape) and all(
        a is None or b is None or a == b for a, b in zip(reference_shape, distorted_shape)
    )
    if not same:
        raise ValueError(
            "`reference` and `distorted` must have the same shape. Received: "
            f"reference.shape={reference_shape}, distorted.shape={distorted_shape}"
        )


def _to_color(images, color: str, data_range: float):
    channels = images.shape[-1]
    if color == "rgb" or channels == 1:
        return images
    if channels != 3:
        raise ValueError(
            f"`color={color!r}` converts RGB images: it needs 3 channels (or 1, taken as "
            f"already converted). Received: {channels} channels"
        )
    if color == "gray":
        return ops.sum(images * np.asarray(GRAY_WEIGHTS, np.float32), axis=-1, keepdims=True)
    weights = np.asarray(Y_WEIGHTS, np.float32) / np.float32(255.0)
    luma = ops.sum(images * weights, axis=-1, keepdims=True)
    return luma + np.float32(Y_OFFSET / 255.0 * data_range)
