"""Channel and spatial attention: learned sigmoid gates that re-weight a feature map.

Example:
>>> import numpy as np
>>> features, gate = AttentionBlock(return_attention_map=True)(np.ones((2, 8, 8, 16)))
>>> tuple(features.shape), tuple(gate.shape), keras.backend.standardize_dtype(gate.dtype)
((2, 8, 8, 16), (2, 8, 8, 1), 'float32')
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.layers._validate import check_int, known_channels

__all__ = ["AttentionBlock", "attention_pooled"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class AttentionBlock(keras.layers.Layer):
    """A channel gate followed by a spatial gate, as in CBAM and ASNA's decoder.

    The channel gate averages each channel over all positions (in float32), passes
    the averages through a bottleneck of `channels // reduction` units (ReLU) and a
    sigmoid, and scales each channel by its gate. The spatial gate computes one
    sigmoid per position from the channel-gated map with two 1x1 convolutions (the
    same bottleneck width, ReLU between) and scales every position by it. Both
    sigmoids are computed in float32. The spatial gate, in (0, 1), is also returned
    when `return_attention_map=True`, as a float32 map of shape (N, H, W, 1): it
    shows where the block looks, and is positive, so it can serve as pooling weights.

    Args:
        reduction: how many times narrower the bottleneck of both gates is than the
            input (at least one unit).
        return_attention_map: also return the spatial gate: `(features, gate)`.

    Example:
    >>> import numpy as np
    >>> block = AttentionBlock(reduction=4)
    >>> tuple(block(np.ones((2, 16, 16, 32))).shape)
    (2, 16, 16, 32)
    """

    def __init__(self, reduction: int = 4, return_attention_map: bool = False, **kwargs):
        check_int("reduction", reduction)
        if not isinstance(return_attention_map, bool):
            raise ValueError(
                "`return_attention_map` must be True or False. Received: "
                f"return_attention_map={return_attention_map!r}"
            )
        super().__init__(**kwargs)
        self.reduction = reduction
        self.return_attention_map = return_attention_map

    def build(self, input_shape):
        channels = known_channels(input_shape, "AttentionBlock")
        hidden = max(1, channels // self.reduction)
        spatial_shape = tuple(input_shape)[:3]
        self.channel_hidden = keras.layers.Dense(
            hidden, activation="relu", dtype=self.dtype_policy, name="channel_hidden"
        )
        self.channel_logits = keras.layers.Dense(
            channels, dtype=self.dtype_policy, name="channel_logits"
        )
        self.spatial_hidden = keras.layers.Conv2D(
            hidden, 1, activation="relu", dtype=self.dtype_policy, name="spatial_hidden"
        )
        self.spatial_logits = keras.layers.Conv2D(
            1, 1, dtype=self.dtype_policy, name="spatial_logits"
        )
        self.channel_hidden.build((None, channels))
        self.channel_logits.build((None, hidden))
        self.spatial_hidden.build((*spatial_shape, channels))
        self.spatial_logits.build((*spatial_shape, hidden))

    def call(self, inputs):
        averages = ops.mean(ops.cast(inputs, "float32"), axis=(1, 2))
        channel_logits = self.channel_logits(self.channel_hidden(averages))
        channel_gate = ops.sigmoid(ops.cast(channel_logits, "float32"))
        features = inputs * ops.cast(channel_gate[:, None, None, :], self.compute_dtype)
        spatial_logits = self.spatial_logits(self.spatial_hidden(features))
        spatial_gate = ops.sigmoid(ops.cast(spatial_logits, "float32"))
        features = features * ops.cast(spatial_gate, self.compute_dtype)
        return (features, spatial_gate) if self.return_attention_map else features

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.return_attention_map:
            return input_shape, (*input_shape[:3], 1)
        return input_shape

    def compute_output_spec(self, inputs):
        features = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if self.return_attention_map:
            gate_shape = self.compute_output_shape(inputs.shape)[1]
            return features, keras.KerasTensor(gate_shape, dtype="float32")
        return features

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "return_attention_map": self.return_attention_map,
        }


def attention_pooled(quality_map, attention_map):
    """The attention-weighted mean of a quality map per image: `sum(q * w) / sum(w)`,
    shape (N, 1), in float32. An all-zero attention map (every gate saturated) gives 0
    with zero gradient, where the plain quotient would give NaN.

    Example:
    >>> import numpy as np
    >>> quality, attention = np.full((1, 2, 2, 1), 0.5), np.full((1, 2, 2, 1), 0.25)
    >>> float(attention_pooled(quality, attention)[0, 0])
    0.5
    >>> float(attention_pooled(quality, 0 * attention)[0, 0])
    0.0
    """
    quality_map = ops.cast(quality_map, "float32")
    attention_map = ops.cast(attention_map, "float32")
    weight = ops.sum(attention_map, axis=(1, 2))
    positive = weight > 0
    return ops.where(
        positive, ops.sum(quality_map * attention_map, axis=(1, 2)) / ops.where(positive, weight, 1.0), 0.0
    )
