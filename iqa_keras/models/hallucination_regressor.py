"""HallucinationGuidedRegressor: scores a distorted image from its discrepancy map.

Example:
>>> import numpy as np
>>> regressor = HallucinationGuidedRegressor(feature_channels=16, filters=8)
>>> outputs = regressor({
...     "distorted": np.full((2, 36, 44, 3), 100.0),
...     "discrepancy": np.full((2, 36, 44, 3), 5.0),
...     "features": np.zeros((2, 9, 11, 16)),
... })
>>> {key: tuple(value.shape) for key, value in outputs.items()}
{'score': (2, 1), 'quality_map': (2, 9, 11, 1), 'attention_map': (2, 9, 11, 1)}
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.layers import AttentionBlock, attention_pooled, ResidualBlock, ResizeLike
from iqa_keras.layers._validate import check_int

__all__ = ["HallucinationGuidedRegressor"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class HallucinationGuidedRegressor(keras.Model):
    """The quality regressor of Hallucinated-IQA, guided by the hallucinated reference.

    Inputs: a dict of
        "distorted": the distorted image, (N, H, W, 3), 0-255;
        "discrepancy": `|distorted - hallucination|`, (N, H, W, 3), 0-255: the
            paper's discrepancy map, what the distortion took away or added;
        "features": the generator's deep features, (N, h, w, `feature_channels`),
            any h and w (they are resized to the regressor's own map).

    The distorted image and the discrepancy map are concatenated (the paper's input,
    6 channels), scaled to [0, 1] and go through a 3x3 convolution and
    `num_downsamples` strided 3x3 convolutions (`filters` channels, leaky ReLU). The
    generator's features are normalised per position (`LayerNormalization`, so that
    their scale, which drifts while the generator trains adversarially, cannot blow
    the regressor up), resized to that map (`ResizeLike`), concatenated and mixed by
    a 1x1 convolution; residual blocks and an `AttentionBlock` follow, and
    the head is that of `SiameseDifferenceIQA`: a 1x1 convolution gives the quality
    `q` of each position, the attention block's spatial gate `w` in (0, 1) says how
    much it counts, and `score = sum(q * w) / sum(w)`, in float32. A score computed
    in tiles is combined exactly by summing `sum(q * w)` and `sum(w)` over the tiles.

    Outputs a dict of float32 tensors: "score" (N, 1), "quality_map" and
    "attention_map" (N, ceil(H / 2**k), ceil(W / 2**k), 1), k = `num_downsamples`:
    exactly the maps pooled into the score (`HallucinatedIQA` resizes them to the
    input's size on request).

    Args:
        feature_channels: channels of the generator's features
            (`HallucinationGenerator.feature_channels`).
        filters: channels of every convolution.
        num_downsamples: strided convolutions before the fusion (0 or more).
        num_residual_blocks: residual blocks after the fusion (0 or more).
        attention_reduction: bottleneck reduction of the attention block's gates.
        dropout: dropout rate on the features before the head, in [0, 1).
        normalize_features: normalise the generator's features (see above); False
            only to load models saved before it existed.
        **kwargs: `name` and `trainable` of the model. Its layers compute in Keras's
            global dtype policy when it is built (`iqa_keras.training.precision_policy`).

    Example:
    >>> import numpy as np
    >>> regressor = HallucinationGuidedRegressor(feature_channels=4, filters=8)
    >>> image = np.full((1, 32, 32, 3), 100.0)
    >>> inputs = {"distorted": image, "discrepancy": image * 0, "features": np.ones((1, 8, 8, 4))}
    >>> tuple(regressor(inputs)["score"].shape)
    (1, 1)
    """

    def __init__(
        self,
        feature_channels: int,
        filters: int = 32,
        num_downsamples: int = 2,
        num_residual_blocks: int = 2,
        attention_reduction: int = 4,
        dropout: float = 0.0,
        normalize_features: bool = True,
        **kwargs,
    ):
        check_int("feature_channels", feature_channels)
        check_int("filters", filters)
        check_int("num_downsamples", num_downsamples, minimum=0)
        check_int("num_residual_blocks", num_residual_blocks, minimum=0)
        check_int("attention_reduction", attention_reduction)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}")
        if not isinstance(normalize_features, bool):
            raise ValueError(
                f"`normalize_features` must be True or False. Received: normalize_features={normalize_features!r}"
            )

        # === Layers ===
        rescaling = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")
        convolutions = [
            keras.layers.Conv2D(
                filters,
                3,
                strides=1 if level == 0 else 2,
                padding="same",
                activation="leaky_relu",
                name=f"convolution_{level}",
            )
            for level in range(num_downsamples + 1)
        ]
        normalization = keras.layers.LayerNormalization(name="feature_normalization")
        resize = ResizeLike(name="resize_features")
        fusion = keras.layers.Conv2D(filters, 1, activation="leaky_relu", name="fusion")
        residual_blocks = [
            ResidualBlock(name=f"residual_block_{index}") for index in range(num_residual_blocks)
        ]
        attention = AttentionBlock(attention_reduction, return_attention_map=True, name="attention")
        dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        quality_head = keras.layers.Conv2D(1, 1, dtype="float32", name="quality_head")

        # === Functional graph ===
        inputs = {
            "distorted": keras.Input((None, None, 3), name="distorted"),
            "discrepancy": keras.Input((None, None, 3), name="discrepancy"),
            "features": keras.Input((None, None, feature_channels), name="features"),
        }
        x = rescaling(ops.concatenate([inputs["distorted"], inputs["discrepancy"]], axis=-1))
        for convolution in convolutions:
            x = convolution(x)
        features = normalization(inputs["features"]) if normalize_features else inputs["features"]
        x = fusion(ops.concatenate([x, resize(features, x)], axis=-1))
        for block in residual_blocks:
            x = block(x)
        x, attention_map = attention(x)
        quality_map = quality_head(dropout_layer(x))
        score = attention_pooled(quality_map, attention_map)
        outputs = {"score": score, "quality_map": quality_map, "attention_map": attention_map}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.feature_channels = feature_channels
        self.filters = filters
        self.num_downsamples = num_downsamples
        self.num_residual_blocks = num_residual_blocks
        self.attention_reduction = attention_reduction
        self.dropout = dropout
        self.normalize_features = normalize_features

    def get_config(self):
        return {
            **super().get_config(),
            "feature_channels": self.feature_channels,
            "filters": self.filters,
            "num_downsamples": self.num_downsamples,
            "num_residual_blocks": self.num_residual_blocks,
            "attention_reduction": self.attention_reduction,
            "dropout": self.dropout,
            "normalize_features": self.normalize_features,
        }

    @classmethod
    def from_config(cls, config):
        # Models saved before `normalize_features` existed did not normalise.
        return cls(**{"normalize_features": False, **config})
