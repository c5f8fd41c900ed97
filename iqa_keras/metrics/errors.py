"""The classic error measures of Eskicioglu and Fisher (1995): LMSE, NAE, maximum
difference and structural content.

They follow the definitions of A. M. Eskicioglu and P. S. Fisher, "Image quality
measures and their performance", IEEE Trans. Communications 43(12), 1995, with sums over
every pixel and channel (default `"rgb"`: the definitions treat every sample alike).
LMSE, NAE and structural content are ratios, unchanged by scaling both images; they
are not symmetric in `reference` and `distorted`.

Example:
>>> import numpy as np
>>> reference = np.full((4, 4, 1), 2.0, np.float32)
>>> distorted = np.full((4, 4, 1), 1.0, np.float32)
>>> float(nae(reference, distorted)), float(structural_content(reference, distorted))
(0.5, 4.0)
"""

from __future__ import annotations

from keras import ops

from iqa_keras.metrics.color import IMAGE_AXES, check_min_size, prepare_pair

__all__ = ["lmse", "nae", "max_difference", "structural_content"]


def lmse(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Laplacian mean squared error: `sum((L(x) - L(y))**2) / sum(L(x)**2)`.

    `L` is the 4-neighbour Laplacian `x[j+1,k] + x[j-1,k] + x[j,k+1] + x[j,k-1] - 4 x[j,k]`,
    evaluated on interior pixels only (no padding), as in Eskicioglu and Fisher. 0 for
    identical images, lower is better; a reference without edges (L(x) = 0) gives inf
    or nan. Images need at least 3x3 pixels.

    Args:
        reference: the pristine image `x`, HWC or a batch NHWC.
        distorted: the image to assess `y`, same shape.
        data_range: the span of the pixel values (255.0 for 0-255 images); only used by
            the `"y"` conversion's offset.
        color: `"rgb"` (default), `"y"` or `"gray"`; see `iqa_keras.metrics.color`.

    Example:
    >>> import numpy as np
    >>> reference = np.zeros((5, 5, 1), np.float32)
    >>> reference[2, 2] = 4.0
    >>> float(lmse(reference, 0.5 * reference))
    0.25
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    check_min_size(pair.reference, 3, "the 4-neighbour Laplacian of LMSE needs interior pixels")
    reference_laplacian = _laplacian(pair.reference)
    error = ops.sum(ops.square(reference_laplacian - _laplacian(pair.distorted)), axis=IMAGE_AXES)
    return pair.restore(error / ops.sum(ops.square(reference_laplacian), axis=IMAGE_AXES))


def nae(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Normalised absolute error: `sum(|x - y|) / sum(|x|)`; 0 is best.

    Arguments as for `lmse` (no minimum size).

    Example:
    >>> import numpy as np
    >>> float(nae(np.full((2, 2, 3), 4.0), np.full((2, 2, 3), 5.0)))
    0.25
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    error = ops.sum(ops.abs(pair.reference - pair.distorted), axis=IMAGE_AXES)
    return pair.restore(error / ops.sum(ops.abs(pair.reference), axis=IMAGE_AXES))


def max_difference(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Maximum difference `max(|x - y|)` over all pixels and channels, in the input's units.

    0 is best, `data_range` the worst. Arguments as for `lmse` (no minimum size).

    Example:
    >>> import numpy as np
    >>> distorted = np.zeros((2, 2, 3), np.uint8)
    >>> distorted[0, 1, 2] = 7
    >>> float(max_difference(np.zeros((2, 2, 3), np.uint8), distorted))
    7.0
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    return pair.restore(ops.max(ops.abs(pair.reference - pair.distorted), axis=IMAGE_AXES))


def structural_content(reference, distorted, data_range: float = 255.0, color: str = "rgb"):
    """Structural content `sum(x**2) / sum(y**2)`; 1 is best (the same energy).

    Above 1 the distorted image has lost energy (blur, darkening), below 1 gained it.
    Arguments as for `lmse` (no minimum size).

    Example:
    >>> import numpy as np
    >>> float(structural_content(np.full((2, 2, 1), 2.0), np.full((2, 2, 1), 4.0)))
    0.25
    """
    pair = prepare_pair(reference, distorted, data_range, color)
    energy = ops.sum(ops.square(pair.reference), axis=IMAGE_AXES)
    return pair.restore(energy / ops.sum(ops.square(pair.distorted), axis=IMAGE_AXES))


def _laplacian(images):
    """4-neighbour Laplacian of NHWC images on the interior pixels (2 fewer per side)."""
    centre = images[:, 1:-1, 1:-1, :]
    neighbours = (
        images[:, 2:, 1:-1, :] + images[:, :-2, 1:-1, :] + images[:, 1:-1, 2:, :] + images[:, 1:-1, :-2, :]
    )
    return neighbours - 4.0 * centre

