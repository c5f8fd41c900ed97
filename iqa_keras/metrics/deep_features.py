"""Deep-feature metrics: a classic metric computed on CNN feature maps instead of pixels.

After Amirshahi, Pedersen and Yu, "Image quality assessment by comparing CNN features
between images", Journal of Imaging Science and Technology 60(6), 2016: both images go
through the same encoder (`iqa_keras.models.encoders.build_encoder`), the metric compares
the reference's and the distorted image's feature maps at each chosen scale, and the
per-scale values are averaged with equal weights.

The default encoder is VGG16 with ImageNet weights (the paper used AlexNet's ImageNet
features; a randomly initialised encoder measures little of what people see), loaded from
Keras' cache without downloading: see `iqa_keras.models.encoders.imagenet_weights_path`.

Feature maps have no natural `data_range`, so at each scale both maps are mapped to
[0, 1] by the reference's range: `(f - min) / (max - min)` with the minimum and maximum
of the reference's map over all positions and channels, per image; the metric then runs
with `data_range=1.0` and `color="rgb"` (every channel compared as it is). One range per
map rather than per channel keeps channels that are nearly constant in the reference from
blowing up. The reference sets the scale, so even `mse` is not symmetric here.

Window-based metrics need maps as large as their window: `ssim` needs 11x11 maps (an
input 16 times that for the coarsest VGG16 map), `lmse` 3x3 and `ms_ssim` 161x161.
Choose the finer scales with `layers` for small images.

Example:
>>> import numpy as np
>>> import keras
>>> from iqa_keras.models.encoders import build_encoder
>>> keras.utils.set_random_seed(0)
>>> encoder = build_encoder("small")
>>> reference = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
>>> float(deep_feature_metric(reference, reference, "mse", encoder=encoder))
0.0
>>> float(deep_feature_metric(reference, 255.0 - reference, "mse", encoder=encoder)) > 0.0
True
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from iqa_keras.metrics.color import prepare_pair

__all__ = ["deep_feature_metric"]


def deep_feature_metric(reference, distorted, metric: str = "mse", encoder=None, layers=None):
    """A classic metric on the encoder's feature maps, averaged over scales.

    Args:
        reference: the pristine image, HWC or a batch NHWC, RGB, values 0-255.
        distorted: the image to assess, same shape.
        metric: the name of a metric of `iqa_keras.metrics` (`iqa_keras.metrics.get`);
            its direction and best value carry over (`mse` 0, `psnr` inf, `ssim` 1).
        encoder: an encoder from `iqa_keras.models.encoders.build_encoder`, any functional
            model with a list of feature maps as outputs. Default: `"vgg16"` with ImageNet
            weights from Keras' cache (`FileNotFoundError` with what to put where if absent),
            built once per process.
        layers: the indices of the encoder's outputs to compare (0 the finest), default all.

    Returns:
        The mean over `layers` of the metric: shape (N,) for NHWC inputs, a scalar for HWC.

    Example:
    >>> import numpy as np
    >>> from iqa_keras.models.encoders import build_encoder
    >>> encoder = build_encoder("small")
    >>> reference = np.full((2, 64, 64, 3), 128.0, "float32")
    >>> [float(value) for value in deep_feature_metric(reference, reference, "psnr", encoder=encoder)]
    [inf, inf]
    >>> deep_feature_metric(reference, reference, "ssim", encoder=encoder)
    Traceback (most recent call last):
    ...
    ValueError: Metric 'ssim' cannot compare the feature maps of layer 2 (8x8 pixels): ...
    """
    # Imported here because `iqa_keras.metrics` imports this module.
    from iqa_keras.metrics import get

    info = get(metric)
    if encoder is not None and not (isinstance(encoder, keras.Model) and isinstance(encoder.outputs, list)):
        raise ValueError(
            "`encoder` must be None or a functional keras.Model with a list of feature maps as "
            f"outputs, as `build_encoder` returns. Received: encoder={encoder!r}"
        )
    pair = prepare_pair(reference, distorted, data_range=255.0, color="rgb")
    if pair.reference.shape[-1] != 3:
        raise ValueError(
            "`reference` and `distorted` must be RGB images (3 channels). "
            f"Received: reference.shape={tuple(pair.reference.shape)}"
        )
    encoder = _imagenet_vgg16() if encoder is None else encoder
    layers = _check_layers(layers, len(encoder.outputs))

    reference_features = encoder(pair.reference, training=False)
    distorted_features = encoder(pair.distorted, training=False)
    values = []
    for index in layers:
        reference_map, distorted_map = _normalise_by_reference(reference_features[index], distorted_features[index])
        try:
            values.append(info.function(reference_map, distorted_map, data_range=1.0, color="rgb"))
        except ValueError as error:
            height, width = reference_map.shape[1], reference_map.shape[2]
            raise ValueError(
                f"Metric {metric!r} cannot compare the feature maps of layer {index} ({height}x{width} "
                f"pixels): {error}. Choose larger images or finer layers. Received: layers={layers!r}"
            ) from error
    return pair.restore(ops.mean(ops.stack(values), axis=0))


def _check_layers(layers, count: int) -> tuple[int, ...]:
    if layers is None:
        return tuple(range(count))
    valid = (
        isinstance(layers, (tuple, list))
        and len(layers) > 0
        and len(set(layers)) == len(layers)
        and all(isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count for index in layers)
    )
    if not valid:
        raise ValueError(
            f"`layers` must be None or distinct indices of the encoder's {count} outputs "
            f"(0 to {count - 1}). Received: layers={layers!r}"
        )
    return tuple(layers)


def _normalise_by_reference(reference, distorted):
    """Maps both NHWC feature maps to [0, 1] by the reference's per-image range, in float32."""
    reference = ops.cast(reference, "float32")
    distorted = ops.cast(distorted, "float32")
    low = ops.min(reference, axis=(1, 2, 3), keepdims=True)
    span = ops.max(reference, axis=(1, 2, 3), keepdims=True) - low
    # A flat reference map (span 0) leaves the differences unscaled instead of dividing by 0.
    span = ops.where(span > 0.0, span, ops.ones_like(span))
    return (reference - low) / span, (distorted - low) / span


@functools.cache
def _imagenet_vgg16():
    from iqa_keras.models.encoders import build_encoder

    return build_encoder("vgg16", weights="imagenet")
