"""A residual block of two convolutions that keeps the shape of its input.

Example:
>>> import numpy as np
>>> tuple(ResidualBlock()(np.ones((2, 8, 8, 4))).shape)
(2, 8, 8, 4)
"""

from __future__ import annotations

import keras

from iqa_keras.layers._validate import check_kernel_size, known_channels

__all__ = ["ResidualBlock"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class ResidualBlock(keras.layers.Layer):
    """`leaky_relu(x + conv(leaky_relu(conv(x))))`, with as many channels as `x`.

    Both convolutions are `kernel_size` x `kernel_size` with padding "same", so the
    block works on maps of any height and width and can be stacked freely.

    Args:
        kernel_size: side of the convolution kernels, an odd number.

    Example:
    >>> import numpy as np
    >>> block = ResidualBlock(kernel_size=1)
    >>> tuple(block(np.ones((2, 16, 16, 8))).shape)
    (2, 16, 16, 8)
    """

    def __init__(self, kernel_size: int = 3, **kwargs):
        check_kernel_size(kernel_size)
        super().__init__(**kwargs)
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = known_channels(input_shape, "ResidualBlock")
        self.convolutions = []
        for index, activation in enumerate(("leaky_relu", None)):
            convolution = keras.layers.Conv2D(
                channels,
                self.kernel_size,
                padding="same",
                activation=activation,
                dtype=self.dtype_policy,
                name=f"convolution_{index}",
            )
            convolution.build((*tuple(input_shape)[:3], channels))
            self.convolutions.append(convolution)

    def call(self, inputs):
        residual = inputs
        for convolution in self.convolutions:
            residual = convolution(residual)
        return keras.activations.leaky_relu(inputs + residual)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}
