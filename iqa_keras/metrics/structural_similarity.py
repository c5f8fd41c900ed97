"""SSIM (Wang et al. 2004) and multi-scale SSIM (Wang, Simoncelli and Bovik 2003).

Both use the reference settings: an 11x11 Gaussian window with sigma 1.5 (applied as two
separable 1-D passes), K1 = 0.01, K2 = 0.03, and the mean of the SSIM map over the valid
region (the window entirely inside the image). With `color="rgb"` each channel is
compared on its own and the results averaged, as scikit-image does with `channel_axis`.

The default colour is `"gray"` (MATLAB's `rgb2gray`): Wang's reference `ssim.m` and
`msssim.m` take a single grayscale channel, and the authors' usage notes convert colour
images with `rgb2gray` first. Pass `color="y"` for the super-resolution convention or
`color="rgb"` to match scikit-image's and `tf.image`'s per-channel colour SSIM.

Example:
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> reference = rng.uniform(0, 255, (32, 32, 3)).astype(np.float32)
>>> float(ssim(reference, reference))
1.0
>>> 0.9 < float(ssim(reference, reference + rng.normal(0, 20, reference.shape))) < 1.0
True
"""

from __future__ import annotations

import numpy as np
import scipy.signal
from keras import ops

from iqa_keras.metrics.color import check_min_size, prepare_pair

__all__ = ["WINDOW_SIZE", "MS_SSIM_WEIGHTS", "MS_SSIM_MIN_SIZE", "ssim", "ms_ssim"]

WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# The coarsest of the 5 scales, ceil(size / 16), must still hold the 11x11 window.
MS_SSIM_MIN_SIZE = (WINDOW_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1


def ssim(reference, distorted, data_range: float = 255.0, color: str = "gray", downsample: bool = False):
    """Structural similarity index (Wang et al. 2004), in [-1, 1], 1 for identical images.

    Equals scikit-image's `structural_similarity(reference, distorted,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)`
    (with `channel_axis=-1` for `color="rgb"`) and Wang's `ssim.m` on the same channel,
    within 1e-5 (float32 here, float64 there). `tf.image.ssim` computes the same
    quantity but its float32 mean drifts by up to ~5e-5 on 512x512 colour images.

    Args:
        reference: the pristine image, HWC or a batch NHWC, at least 11x11 pixels.
        distorted: the image to assess, same shape.
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"gray"` (default, as Wang's MATLAB code on `rgb2gray`), `"y"` or `"rgb"`.
        downsample: reproduce the automatic downsampling of the reference `ssim.m`
            (2011): with `f = max(1, round(min(H, W) / 256))`, filter with an f x f
            average ('symmetric' padding, 'same' size) and keep every f-th pixel from
            the first, before computing SSIM. Needs a known image size.

    Returns:
        The SSIM of each image: shape (N,) for NHWC inputs, a scalar for HWC.

    Example:
    >>> import numpy as np
    >>> image = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))[..., None]
    >>> round(float(ssim(image, 255 - image)), 4)
    -0.4962
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    reference, distorted = pair.reference, pair.distorted
    if downsample:
        factor = _matlab_downsampling_factor(_static_size(reference, "downsample=True"))
        if factor > 1:
            reference = _average_downsample(reference, factor)
            distorted = _average_downsample(distorted, factor)
    check_min_size(reference, WINDOW_SIZE, "SSIM needs the 11x11 Gaussian window inside the image")
    similarity, _ = _ssim_and_contrast_structure(reference, distorted, data_range)
    return pair.restore(ops.mean(similarity, axis=-1))


def ms_ssim(reference, distorted, data_range: float = 255.0, color: str = "gray"):
    """Multi-scale SSIM over 5 scales, in [0, 1], 1 for identical images.

    The product of the contrast-structure terms of scales 1-4 and the SSIM of scale 5,
    raised to the weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, as Wang's `msssim.m`
    and `tf.image.ssim_multiscale`. Between scales the images are averaged over 2x2
    blocks, an odd size first padded by repeating its last row or column (MATLAB's
    `imfilter(..., ones(2) / 4, 'symmetric', 'same')` then `(1:2:end, 1:2:end)`).
    With `color="rgb"` the product is formed per channel, then averaged over channels.

    As in `tf.image.ssim_multiscale`, negative terms are clipped to 0 before the
    fractional powers (Wang's code would return a complex number there); this is also
    why the result is >= 0. Both agree within about 1e-5 on real photos; the remaining
    difference is float32 rounding in tf.image's one-pass mean over each SSIM map.

    Args:
        reference: the pristine image, HWC or a batch NHWC, at least 161x161 pixels
            (the 5th scale must hold the 11x11 window). Needs a known image size.
        distorted: the image to assess, same shape.
        data_range: the span of the pixel values (255.0 for 0-255 images).
        color: `"gray"` (default, as Wang's MATLAB code on `rgb2gray`), `"y"` or `"rgb"`.

    Example:
    >>> import numpy as np
    >>> image = np.tile(np.arange(176, dtype=np.float32), (176, 1))[..., None]
    >>> float(ms_ssim(image, image))
    1.0
    >>> round(float(ms_ssim(image, image * 0.5)), 4)
    0.8758
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    reference, distorted = pair.reference, pair.distorted
    check_min_size(reference, MS_SSIM_MIN_SIZE, "MS-SSIM needs the 11x11 window at its 5th scale (size / 16)")
    terms = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        if scale > 0:
            reference = _average_downsample(reference, 2)
            distorted = _average_downsample(distorted, 2)
        similarity, contrast_structure = _ssim_and_contrast_structure(reference, distorted, data_range)
        terms.append(contrast_structure)
    terms[-1] = similarity
    weighted = [_clipped_power(term, weight) for term, weight in zip(terms, MS_SSIM_WEIGHTS)]
    per_channel = weighted[0]
    for term in weighted[1:]:
        per_channel = per_channel * term
    return pair.restore(ops.mean(per_channel, axis=-1))


def _clipped_power(term, weight):
    """`max(term, 0) ** weight`, as MATLAB's `msssim.m` clips; where the term is not positive
    its gradient is 0, not the NaN of `relu(term) ** weight` (0 ** weight has an infinite
    slope, times relu's 0), which untrained networks meet at once."""
    positive = term > 0
    return ops.where(positive, ops.power(ops.where(positive, term, ops.ones_like(term)), weight), 0.0)


def _ssim_and_contrast_structure(reference, distorted, data_range):
    """Per-image, per-channel means over the valid region of the SSIM and cs maps: (N, C).

    float32 throughout: on real photos the result is within 2e-6 of scikit-image's
    float64 eagerly and within 6e-6 in a tf.function (whose constant folding reorders
    the arithmetic).
    """
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    x, y = reference, distorted
    mean_x, mean_y = _gaussian_filter(x), _gaussian_filter(y)
    mean_xy = mean_x * mean_y
    mean_squares = mean_x * mean_x + mean_y * mean_y
    # sigma_x^2 + sigma_y^2 and sigma_xy, as E[x^2 + y^2] - ... and E[xy] - E[x] E[y].
    variance_sum = _gaussian_filter(x * x + y * y) - mean_squares
    covariance = _gaussian_filter(x * y) - mean_xy
    luminance = (2.0 * mean_xy + c1) / (mean_squares + c1)
    contrast_structure = (2.0 * covariance + c2) / (variance_sum + c2)
    return _spatial_mean(luminance * contrast_structure), _spatial_mean(contrast_structure)


def _spatial_mean(maps):
    # One reduction over both axes of NHWC (strided in memory) accumulates in float32
    # one element at a time on TensorFlow's CPU kernels: ~1e-5 off for 512x512 images.
    # Two short reductions stay within 1e-7.
    return ops.mean(ops.mean(maps, axis=2), axis=1)


def _gaussian_filter(images):
    """Valid-region 11x11 Gaussian filtering of NHWC images, as two separable passes.

    The window is MATLAB's `fspecial("gaussian", 11, 1.5)` and scikit-image's
    `gaussian(sigma=1.5, truncate=3.5)`, normalised to sum to 1.
    """
    window = scipy.signal.windows.gaussian(WINDOW_SIZE, WINDOW_SIGMA)
    window = (window / window.sum()).astype(np.float32)
    channels = images.shape[-1]
    vertical = np.tile(window.reshape(WINDOW_SIZE, 1, 1, 1), (1, 1, channels, 1))
    horizontal = vertical.reshape(1, WINDOW_SIZE, channels, 1)
    images = ops.depthwise_conv(images, vertical, padding="valid", data_format="channels_last")
    return ops.depthwise_conv(images, horizontal, padding="valid", data_format="channels_last")


def _average_downsample(images, factor: int):
    """f x f block averages at every f-th pixel from the first, MATLAB-style.

    Equals MATLAB's `imfilter(images, ones(f) / f^2, 'symmetric', 'same')` followed by
    `(1:f:end, 1:f:end)`: the filter's centre is at `floor((f + 1) / 2)`, so the block
    of output pixel i starts `floor((f - 1) / 2)` pixels before it; the image is
    mirrored by as much as each block reaches outside it.
    """
    height, width = _static_size(images, "downsampling")
    before = (factor - 1) // 2
    # The last block starts `before` pixels ahead of the last kept pixel, (size - 1)
    # rounded down to a multiple of `factor`, and may reach past the image's end.
    after = [max(0, factor - 1 - before - (size - 1) % factor) for size in (height, width)]
    padded = ops.pad(
        images, [[0, 0], [before, after[0]], [before, after[1]], [0, 0]], mode="symmetric"
    )
    return ops.average_pool(padded, factor, strides=factor, padding="valid", data_format="channels_last")


def _matlab_downsampling_factor(size) -> int:
    # MATLAB's round() rounds halves away from zero; Python's round() would not.
    return max(1, int(np.floor(min(size) / 256.0 + 0.5)))


def _static_size(images, purpose: str):
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"{purpose} needs images of known height and width. Received: shape={tuple(images.shape)}"
        )
    return height, width

