"""Top-down fusion of the absolute differences of two feature pyramids.

`DifferenceFusion` is the decoder of a Siamese-difference U-Net: it takes the features
of the reference and of the distorted image at several scales, keeps only
`|reference - distorted|` at each scale (so identical images give exactly zero), and
fuses these differences from the coarsest scale to the finest one: upsample the
running map to the next finer scale's size, concatenate that scale's difference, and
convolve. `ResizeLike` is the upsampling it uses, also used by the models to bring maps
back to the input's size. `StackedPair` puts the two images of each pair into one
batch, so that one encoder call makes both pyramids.

Example:
>>> import numpy as np
>>> fine, coarse = np.ones((2, 16, 16, 8)), np.ones((2, 8, 8, 16))
>>> fused = DifferenceFusion(filters=4)([fine, coarse], [fine * 0.5, coarse])
>>> tuple(fused.shape)
(2, 16, 16, 4)
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.layers._validate import check_int, check_kernel_size

__all__ = ["DifferenceFusion", "ResizeLike", "StackedPair"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class StackedPair(keras.layers.Layer):
    """The references, then the distorted images, in one batch: (2N, H, W, C).

    Reference `i` pairs with distorted image `i`; one reference (a batch of 1) pairs with
    every distorted image. Images must share their height and width. Shapes known when
    the layer is called are checked here, with both shapes in the message. Shapes known
    only at run time (a graph traced with `None` dimensions, an ONNX export) fail in the
    ops: batches that do not pair gather past the references' end, and images of other
    sizes do not concatenate. Nothing is broadcast, so a 1-pixel reference is no
    reference for a larger image.

    Example:
    >>> import numpy as np
    >>> tuple(StackedPair()(np.zeros((1, 4, 6, 3)), np.ones((5, 4, 6, 3))).shape)
    (10, 4, 6, 3)
    >>> StackedPair()(np.zeros((2, 4, 6, 3)), np.ones((3, 4, 6, 3)))
    Traceback (most recent call last):
    ...
    ValueError: `reference` and `distorted` must hold images of one height and width, one reference per distorted image or one for all. Received: reference of shape (2, 4, 6, 3), distorted of shape (3, 4, 6, 3)
    """

    def call(self, reference, distorted):
        reference_shape, distorted_shape = tuple(reference.shape), tuple(distorted.shape)
        if not _may_pair(reference_shape, distorted_shape):
            raise ValueError(
                "`reference` and `distorted` must hold images of one height and width, one "
                "reference per distorted image or one for all. Received: reference of shape "
                f"{reference_shape}, distorted of shape {distorted_shape}"
            )
        indices = reference_indices(ops.shape(reference)[0], ops.shape(distorted)[0])
        reference = ops.take(reference, indices, axis=0)
        return ops.concatenate([reference, distorted], axis=0)

    def compute_output_shape(self, reference_shape, distorted_shape):
        batch = None if distorted_shape[0] is None else 2 * distorted_shape[0]
        return (batch, *distorted_shape[1:])


def _may_pair(reference_shape, distorted_shape) -> bool:
    """False when the dimensions known so far rule the pairing out."""
    (reference_batch, *reference_image), (distorted_batch, *distorted_image) = reference_shape, distorted_shape
    if any(_differ(r, d) for r, d in zip(reference_image, distorted_image)):
        return False
    return reference_batch == 1 or not _differ(reference_batch, distorted_batch)


def reference_indices(reference_batch, distorted_batch):
    """The index of each distorted image's reference: its own, or 0 for a batch-1
    reference; past the references' end when the batches do not pair, so that a gather
    fails. Used by `StackedPair` and the serving signatures.

    >>> [keras.ops.convert_to_numpy(reference_indices(n, 3)).tolist() for n in (3, 1, 2)]
    [[0, 1, 2], [0, 0, 0], [2, 3, 4]]
    """
    positions = ops.arange(distorted_batch, dtype="int32")
    same = ops.cast(ops.equal(reference_batch, distorted_batch), "int32")
    unpaired = (1 - same) * ops.cast(ops.not_equal(reference_batch, 1), "int32")
    return same * positions + unpaired * (positions + ops.cast(reference_batch, "int32"))


def _differ(a, b) -> bool:
    return a is not None and b is not None and a != b


@keras.saving.register_keras_serializable(package="iqa_keras")
class ResizeLike(keras.layers.Layer):
    """Resizes `images` bilinearly to the height and width of `like`, for any size.

    The sizes may be unknown until run time (whole images of any size, traced
    functions with `None` dimensions): the interpolation is written with gathers, not
    `keras.ops.image.resize`, which needs sizes known when the graph is built. It
    samples at half-pixel centres and clamps at the borders, as
    `tf.image.resize(..., "bilinear")` does, and computes in float32.

    Example:
    >>> import numpy as np
    >>> images = np.arange(4.0).reshape((1, 2, 2, 1))
    >>> keras.ops.convert_to_numpy(ResizeLike()(images, np.zeros((1, 4, 4, 3))))[0, :, :, 0].tolist()[0]
    [0.0, 0.25, 0.75, 1.0]
    """

    def call(self, images, like):
        resized = ops.cast(images, "float32")
        for axis in (1, 2):
            resized = _resize_axis(resized, ops.shape(like)[axis], axis)
        return ops.cast(resized, self.compute_dtype)

    def compute_output_shape(self, images_shape, like_shape):
        return (images_shape[0], like_shape[1], like_shape[2], images_shape[3])


def _resize_axis(images, size, axis):
    """Linear interpolation of `images` along `axis` (1 or 2) to `size` samples."""
    length = ops.shape(images)[axis]
    scale = ops.cast(length, "float32") / ops.cast(size, "float32")
    positions = (ops.cast(ops.arange(size), "float32") + 0.5) * scale - 0.5
    positions = ops.clip(positions, 0.0, ops.cast(length - 1, "float32"))
    lower = ops.floor(positions)
    fraction = ops.reshape(positions - lower, (-1, 1) if axis == 1 else (-1,))
    lower = ops.cast(lower, "int32")
    upper = ops.minimum(lower + 1, length - 1)
    below, above = ops.take(images, lower, axis=axis), ops.take(images, upper, axis=axis)
    return below + (above - below) * ops.expand_dims(fraction, -1)


@keras.saving.register_keras_serializable(package="iqa_keras")
class DifferenceFusion(keras.layers.Layer):
    """Fuses `|reference - distorted|` of feature pyramids from coarse to fine.

    Called on two lists of feature maps, `reference_features` and
    `distorted_features`, ordered from fine to coarse with matching shapes scale by
    scale (the output of one shared encoder applied to both images). The coarsest
    difference is convolved to `filters` channels; then, for each finer scale, the
    running map is resized to that scale's height and width (`ResizeLike`, so odd
    sizes work), concatenated with that scale's difference and convolved. Every
    convolution is `kernel_size` x `kernel_size`, padding "same", with a leaky ReLU.

    Args:
        filters: channels of every convolution, and of the output.
        kernel_size: side of the convolution kernels, an odd number.

    Example:
    >>> import numpy as np
    >>> fine, coarse = np.ones((2, 16, 16, 8)), np.ones((2, 8, 8, 16))
    >>> fusion = DifferenceFusion(filters=4)
    >>> tuple(fusion([fine, coarse], [fine, coarse]).shape)
    (2, 16, 16, 4)
    """

    def __init__(self, filters: int = 32, kernel_size: int = 3, **kwargs):
        check_int("filters", filters)
        check_kernel_size(kernel_size)
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.resize = ResizeLike(dtype=self.dtype_policy)

    def build(self, reference_features_shape, distorted_features_shape):
        _check_pyramids(reference_features_shape, distorted_features_shape)
        self.convolutions = []
        channels = 0
        for level, shape in reversed(list(enumerate(reference_features_shape))):
            convolution = keras.layers.Conv2D(
                self.filters,
                self.kernel_size,
                padding="same",
                activation="leaky_relu",
                dtype=self.dtype_policy,
                name=f"convolution_{level}",
            )
            convolution.build((*shape[:3], channels + shape[3]))
            self.convolutions.append(convolution)
            channels = self.filters

    def call(self, reference_features, distorted_features):
        differences = [
            ops.abs(reference - distorted)
            for reference, distorted in zip(reference_features, distorted_features)
        ]
        fused = None
        for convolution, difference in zip(self.convolutions, reversed(differences)):
            if fused is not None:
                difference = ops.concatenate([self.resize(fused, difference), difference], -1)
            fused = convolution(difference)
        return fused

    def compute_output_shape(self, reference_features_shape, distorted_features_shape):
        return (*tuple(reference_features_shape[0])[:3], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def _check_pyramids(reference_shapes, distorted_shapes):
    reference_shapes = [tuple(shape) for shape in reference_shapes]
    distorted_shapes = [tuple(shape) for shape in distorted_shapes]
    if not reference_shapes or len(reference_shapes) != len(distorted_shapes):
        raise ValueError(
            "DifferenceFusion expects two non-empty lists of feature maps of equal length. "
            f"Received: {len(reference_shapes)} reference and {len(distorted_shapes)} "
            "distorted feature maps"
        )
    for reference, distorted in zip(reference_shapes, distorted_shapes):
        if len(reference) != 4 or reference[-1] is None or reference[-1] != distorted[-1]:
            raise ValueError(
                "DifferenceFusion expects 4-D feature maps with the same known number of "
                f"channels in both lists. Received: shapes {reference} and {distorted}"
            )
