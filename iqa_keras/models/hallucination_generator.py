"""HallucinationGenerator: restores a reference image from a distorted one (Hallucinated-IQA).

Example:
>>> import numpy as np
>>> generator = HallucinationGenerator(filters=8, num_downsamples=2, num_residual_blocks=1)
>>> outputs = generator(np.full((2, 36, 44, 3), 100.0))
>>> tuple(outputs["hallucination"].shape), tuple(outputs["features"].shape)
((2, 36, 44, 3), (2, 9, 11, 32))
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.layers import ResidualBlock, ResizeLike
from iqa_keras.layers._validate import check_int

__all__ = ["HallucinationGenerator"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class HallucinationGenerator(keras.Model):
    """A residual encoder-decoder that predicts the correction of a distorted image.

    Input: distorted images (N, H, W, 3), float, values 0-255, any H and W. The
    encoder is a 3x3 convolution followed by `num_downsamples` strided 3x3
    convolutions (each doubling the channels), each with instance normalisation
    (`GroupNormalization(groups=-1)`) and a leaky ReLU; `num_residual_blocks`
    `ResidualBlock`s form the bottleneck; the decoder resizes the running map to each
    skip connection's size (`ResizeLike`, bilinear: no padding, no checkerboard
    artefacts, odd sizes welcome), concatenates the skip and convolves. A last 3x3
    convolution, initialised to zero, gives the correction, so the generator starts
    as the identity and learns what to change:

        hallucination = clip(distorted + 255 * correction, 0, 255)

    The clipping keeps a valid image for the discriminator and the regressor; its
    gradient is passed straight through, so saturated pixels still learn.

    Outputs a dict:
        "hallucination": the hallucinated reference, (N, H, W, 3), float32, 0-255.
        "features": the bottleneck, (N, ceil(H / 2**k), ceil(W / 2**k),
            filters * 2**k) with k = `num_downsamples`, float32: the deep features the
            regressor fuses (the paper's "high-level features of the generator").

    Args:
        filters: channels of the first convolution (doubled at each downsampling).
        num_downsamples: strided convolutions of the encoder (0 or more).
        num_residual_blocks: residual blocks of the bottleneck (0 or more).
        **kwargs: `name` and `trainable` of the model. Its layers compute in Keras's
            global dtype policy when it is built (`iqa_keras.training.precision_policy`).

    Example:
    >>> import numpy as np
    >>> generator = HallucinationGenerator(filters=8, num_residual_blocks=1)
    >>> image = np.full((1, 32, 32, 3), 100.0)
    >>> float(np.abs(generator(image)["hallucination"] - image).max())  # identity at first
    0.0
    """

    def __init__(
        self,
        filters: int = 32,
        num_downsamples: int = 2,
        num_residual_blocks: int = 4,
        **kwargs,
    ):
        check_int("filters", filters)
        check_int("num_downsamples", num_downsamples, minimum=0)
        check_int("num_residual_blocks", num_residual_blocks, minimum=0)

        # === Layers ===
        rescaling = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")
        encoder_blocks = [
            _conv_block(filters * 2**level, strides=1 if level == 0 else 2, name=f"encoder_{level}")
            for level in range(num_downsamples + 1)
        ]
        residual_blocks = [
            ResidualBlock(name=f"residual_block_{index}") for index in range(num_residual_blocks)
        ]
        features_output = keras.layers.Activation("linear", dtype="float32", name="features")
        resize = ResizeLike(name="resize")
        decoder_blocks = [
            _conv_block(filters * 2**level, strides=1, name=f"decoder_{level}")
            for level in reversed(range(num_downsamples))
        ]
        correction_head = keras.layers.Conv2D(
            3, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="correction"
        )

        # === Functional graph ===
        distorted = keras.Input((None, None, 3), name="distorted")
        x = rescaling(distorted)
        skips = []
        for block in encoder_blocks:
            x = _apply(block, x)
            skips.append(x)
        for block in residual_blocks:
            x = block(x)
        features = features_output(x)
        for block, skip in zip(decoder_blocks, reversed(skips[:-1])):
            x = _apply(block, ops.concatenate([resize(x, skip), skip], axis=-1))
        corrected = ops.cast(distorted, "float32") + 255.0 * correction_head(x)
        # Straight-through clipping: clipped values, identity gradient.
        hallucination = corrected + ops.stop_gradient(ops.clip(corrected, 0.0, 255.0) - corrected)
        super().__init__(
            inputs=distorted,
            outputs={"hallucination": hallucination, "features": features},
            **kwargs,
        )

        # === Config ===
        self.filters = filters
        self.num_downsamples = num_downsamples
        self.num_residual_blocks = num_residual_blocks

    @property
    def feature_channels(self) -> int:
        """Channels of the "features" output: `filters * 2**num_downsamples`."""
        return self.filters * 2**self.num_downsamples

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "num_downsamples": self.num_downsamples,
            "num_residual_blocks": self.num_residual_blocks,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _conv_block(filters, strides, name):
    """3x3 convolution, instance normalisation, leaky ReLU (slope 0.2): three layers."""
    return [
        keras.layers.Conv2D(filters, 3, strides=strides, padding="same", name=f"{name}_convolution"),
        keras.layers.GroupNormalization(groups=-1, name=f"{name}_instance_normalization"),
        keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_activation"),
    ]


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x
