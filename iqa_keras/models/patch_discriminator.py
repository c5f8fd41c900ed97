"""PatchDiscriminator: tells references from hallucinated references, patch by patch.

Example:
>>> import numpy as np
>>> discriminator = PatchDiscriminator(filters=8)
>>> images = np.full((2, 64, 64, 3), 100.0)
>>> outputs = discriminator({"image": images, "distorted": images})
>>> tuple(outputs["logits"].shape), [tuple(f.shape) for f in outputs["features"]]
((2, 8, 8, 1), [(2, 32, 32, 8), (2, 16, 16, 16), (2, 8, 8, 32), (2, 8, 8, 64)])
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras.layers._validate import check_int

__all__ = ["PatchDiscriminator"]


@keras.saving.register_keras_serializable(package="iqa_keras")
class PatchDiscriminator(keras.Model):
    """A PatchGAN discriminator (pix2pix) with spectral normalisation, for Hallucinated-IQA.

    Inputs: a dict `{"image": (N, H, W, 3), "distorted": (N, H, W, 3)}`, float, values
    0-255; "image" is a reference or a hallucinated reference, "distorted" the image
    it was (or should be) restored from. With `conditional=False` only "image" is
    taken. The images are scaled to [-1, 1] and, when conditional, concatenated;
    then `num_downsamples` 4x4 convolutions of stride 2 (channels `filters`, doubled
    at each one), a 4x4 convolution of stride 1 and a last 4x4 convolution to one
    channel give one logit per overlapping patch (70x70 pixels with the default 3
    downsamplings, as in pix2pix). Every convolution is wrapped in
    `keras.layers.SpectralNormalization` (no other normalisation, as in SN-GAN) and
    followed by a leaky ReLU of slope 0.2, except the last. Padding is "same"
    throughout (pix2pix pads the last two by 1 and convolves "valid"), so any input
    size works and the logits map has `ceil(size / 2**num_downsamples)` pixels a side.

    Why conditional by default: the question that matters for IQA is not "is this a
    clean image?" but "is this a plausible reference *of this distorted image*?". A
    discriminator that sees the pair penalises hallucinations that look clean but
    drop or invent content, and in the quality-aware variant its target depends on
    the pair (see `HallucinatedIQA`). Unconditional discriminators suit unpaired data.

    Outputs a dict:
        "logits": patch logits, (N, h, w, 1), float32 (real > 0 > fake).
        "features": the activations after each hidden convolution, a list of 4-D
            maps, used for the feature-matching loss of the generator.

    Args:
        filters: channels of the first convolution.
        num_downsamples: strided convolutions (1 or more).
        conditional: also see the distorted image (pix2pix-style concatenation).
        **kwargs: `name` and `trainable` of the model. Its layers compute in Keras's
            global dtype policy when it is built (`iqa_keras.training.precision_policy`).

    Example:
    >>> import numpy as np
    >>> discriminator = PatchDiscriminator(filters=8, num_downsamples=2, conditional=False)
    >>> logits = discriminator({"image": np.zeros((1, 32, 48, 3))})["logits"]
    >>> tuple(logits.shape), keras.backend.standardize_dtype(logits.dtype)
    ((1, 8, 12, 1), 'float32')
    """

    def __init__(
        self,
        filters: int = 64,
        num_downsamples: int = 3,
        conditional: bool = True,
        **kwargs,
    ):
        check_int("filters", filters)
        check_int("num_downsamples", num_downsamples)
        if not isinstance(conditional, bool):
            raise ValueError(
                f"`conditional` must be True or False. Received: conditional={conditional!r}"
            )

        # === Layers ===
        rescaling = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")
        hidden = [
            _spectral_convolution(filters * 2**level, 2, f"downsample_{level}")
            for level in range(num_downsamples)
        ]
        hidden.append(
            _spectral_convolution(filters * 2**num_downsamples, 1, "patch_features")
        )
        activation = keras.layers.LeakyReLU(negative_slope=0.2, name="activation")
        logits_head = _spectral_convolution(1, 1, "logits", dtype="float32")

        # === Functional graph ===
        image = keras.Input((None, None, 3), name="image")
        inputs = {"image": image}
        x = rescaling(image)
        if conditional:
            inputs["distorted"] = keras.Input((None, None, 3), name="distorted")
            x = ops.concatenate([x, rescaling(inputs["distorted"])], axis=-1)
        features = []
        for convolution in hidden:
            x = activation(convolution(x))
            features.append(x)
        logits = logits_head(x)
        super().__init__(inputs=inputs, outputs={"logits": logits, "features": features}, **kwargs)

        # === Config ===
        self.filters = filters
        self.num_downsamples = num_downsamples
        self.conditional = conditional

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "num_downsamples": self.num_downsamples,
            "conditional": self.conditional,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _spectral_convolution(filters, strides, name, dtype=None):
    """A 4x4 convolution whose kernel is divided by its largest singular value."""
    return keras.layers.SpectralNormalization(
        keras.layers.Conv2D(filters, 4, strides=strides, padding="same", dtype=dtype),
        dtype=dtype,
        name=name,
    )
