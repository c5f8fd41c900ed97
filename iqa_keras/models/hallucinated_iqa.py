"""HallucinatedIQA: no-reference IQA by hallucinating the missing reference.

After Lin & Wang, "Hallucinated-IQA: No-Reference Image Quality Assessment via
Adversarial Learning" (CVPR 2018), whose code was never released: this is a
re-implementation from the paper, with the deviations listed below.

Data flow (inference needs the distorted image only):

    distorted ──> HallucinationGenerator G ──> hallucination  Î = G(I_d)   (N, H, W, 3)
        │                      └─────────────> features F     (bottleneck) (N, h, w, C)
        ├──> discrepancy map  M = |I_d - Î|                                  (N, H, W, 3)
        └──> HallucinationGuidedRegressor R(I_d, M, F) ──> score, quality_map

    and, in training only, PatchDiscriminator D({"image": I_r or Î, "distorted": I_d}).

Losses (the paper's names; `compile()` sets their weights):

- Generator, `L_G = pixel * L_p + perceptual * L_s + adversarial * L_a`:
  `L_p` (logged `generator_l1`): mean |Î - I_r| on the 0-1 scale;
  `L_s` (logged `generator_perceptual`): mean |phi_l(Î) - phi_l(I_r)| averaged over
  the feature maps phi_l of `perceptual_encoder`, or of the discriminator's hidden
  layers when there is none (feature matching, as in pix2pixHD);
  `L_a` (logged `generator_adversarial`): hinge `-D(Î)` or non-saturating
  `softplus(-D(Î))`, averaged over patches.
- Discriminator (logged `discriminator_loss`): hinge `relu(1 - y * D)` or
  non-saturating `softplus(-y * D)` with target y = +1 for references; for
  hallucinations y = -1, or, with `quality_aware=True`, the paper's quality-aware
  adversarial loss: y = +1 ("real") for the samples whose hallucination lets the
  regressor predict the human score to within `quality_threshold`
  (|R(I_d, M, F) - s| < threshold), -1 for the others. The discriminator thus stops
  penalising hallucinations that already serve the quality prediction, and the
  generator is pushed to correct the ones that mislead the regressor.
- Regressor, `L_R` (logged `regressor_loss`): `regressor_loss(s, R(I_d, M, F))`, by
  default L1 + pairwise ranking (`CombinedLoss`); SRCC and PLCC of the score are
  logged as `srcc` and `plcc`.

Each part learns from its own loss only: the regressor sees the hallucination and
the features through `stop_gradient`, so the generator stays a restoration network
(the paper's influence of quality on the generator goes through the quality-aware
discriminator, as above). The three updates of a step are computed from the same
forward pass (simultaneous gradient steps), with one optimizer per part.

Deviations from the paper: the regressor is a small convolutional network with the
attention-pooled head of `SiameseDifferenceIQA` (the paper uses a ResNet and fully
connected layers), so that both models give quality maps and score tiles the same
way; the perceptual loss defaults to feature matching rather than a fixed ImageNet
network (pass `perceptual_encoder=build_encoder("vgg16", weights="imagenet")` for
the paper's choice: read from Keras' cache, never downloaded); the generator predicts
a clipped correction of its input; the discriminator is a spectrally normalised
PatchGAN.

Example:
>>> import numpy as np
>>> from iqa_keras.models.hallucination_generator import HallucinationGenerator
>>> from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
>>> from iqa_keras.models.patch_discriminator import PatchDiscriminator
>>> generator = HallucinationGenerator(filters=8, num_residual_blocks=1)
>>> model = HallucinatedIQA(
...     generator,
...     PatchDiscriminator(filters=8, num_downsamples=2),
...     HallucinationGuidedRegressor(generator.feature_channels, filters=8),
...     output_keys=("score", "hallucination", "discrepancy", "quality_map"),
... )
>>> outputs = model({"distorted": np.full((2, 36, 44, 3), 100.0)})
>>> {key: tuple(value.shape) for key, value in outputs.items()}
{'score': (2, 1), 'hallucination': (2, 36, 44, 3), 'discrepancy': (2, 36, 44, 3), 'quality_map': (2, 36, 44, 1)}
"""

from __future__ import annotations

import keras
from keras import ops

from iqa_keras._numbers import is_finite_number
from iqa_keras.correlation_metrics import PLCC, SRCC
from iqa_keras.layers import ResizeLike
from iqa_keras.losses import CombinedLoss, MeanAbsoluteError, PairwiseRankingLoss
from iqa_keras.models._arguments import checked_output_keys, is_auto
from iqa_keras.models.presets import PresetMixin
from iqa_keras.models.hallucination_generator import HallucinationGenerator
from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
from iqa_keras.models.patch_discriminator import PatchDiscriminator

__all__ = ["HallucinatedIQA"]

OUTPUT_KEYS = ("score", "hallucination", "discrepancy", "quality_map", "attention_map")
MAP_RESOLUTIONS = ("input", "feature")
ADVERSARIAL_LOSSES = ("hinge", "non_saturating")
DEFAULT_LOSS_WEIGHTS = {"pixel": 1.0, "perceptual": 0.1, "adversarial": 0.01}
_TRACKERS = (
    "generator_l1",
    "generator_perceptual",
    "generator_adversarial",
    "discriminator_loss",
    "regressor_loss",
)


@keras.saving.register_keras_serializable(package="iqa_keras")
class HallucinatedIQA(PresetMixin, keras.Model):
    """Scores a distorted image without reference; trains as a GAN plus a regressor.

    Called on `{"distorted": (N, H, W, 3)}` (float, 0-255, any size), the model
    returns the score (N, 1) in float32, higher = better, or with more
    `output_keys` a dict of them: "hallucination" (the hallucinated reference, 0-255),
    "discrepancy" (`|distorted - hallucination|`, 0-255), "quality_map" and
    "attention_map" (the regressor's `q` and `w`, `score = sum(q * w) / sum(w)`,
    at the input's size or, with `map_resolution="feature"`, exactly the maps pooled
    into the score, for tiled scoring as with `SiameseDifferenceIQA`).

    `fit` takes the shared pipeline's batches `(inputs, score)`, scores in [0, 1]:
    with `inputs = {"distorted", "reference"}` a step updates the regressor, the
    generator and the discriminator (see the module docstring for the losses); with
    `{"distorted"}` alone, or while `generator.trainable` is False, it updates the
    regressor only and leaves the generator and the discriminator untouched. Change
    `trainable` before `compile()`, which resets the compiled step. `evaluate` logs
    `regressor_loss`, `srcc` and `plcc` (and `generator_l1` given references).
    The custom training step needs the TensorFlow backend; inference runs on any.

    Recipes:
        (a) Joint training, on full-reference databases (KADID-10k, TID2013, ...) or
            synthetic distortions of pristine images: batches with references.
        (b) No-reference databases without references (KonIQ-10k, LIVE Challenge,
            SPAQ): `HallucinatedIQA.for_no_reference_data(model_from_a)` keeps the
            generator (and discriminator) of (a) frozen and trains the regressor on
            the human scores, from batches `({"distorted"}, score)`.

    Mixed precision: the parts compute in the policy's dtype and every output and
    loss is float32. Under "mixed_float16", `compile()` wraps each part's optimizer
    in a `keras.optimizers.LossScaleOptimizer` and the step scales each loss with its
    own optimizer; "mixed_bfloat16" needs no loss scaling.

    Args:
        generator: a `HallucinationGenerator`; None for the default one.
        discriminator: a `PatchDiscriminator`; None for the default one.
        regressor: a `HallucinationGuidedRegressor` taking the generator's features;
            None for the default one.
        perceptual_encoder: None (feature matching on the discriminator), or a frozen
            feature extractor for `L_s`: a model taking 0-255 images and returning a
            feature map or a list of them, e.g. `build_encoder("vgg16",
            weights="imagenet")`. It is set non-trainable.
        output_keys: the outputs, a sequence from `OUTPUT_KEYS` that includes
            "score"; `("score",)` returns the score tensor itself.
        map_resolution: "input" or "feature", for "quality_map" and "attention_map".
        **kwargs: `name` and `trainable` of the model. Its layers compute in Keras's
            global dtype policy when it is built (`iqa_keras.training.precision_policy`).

    Example:
    >>> import numpy as np
    >>> from iqa_keras.models.hallucination_generator import HallucinationGenerator
    >>> from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
    >>> generator = HallucinationGenerator(filters=8, num_residual_blocks=1)
    >>> regressor = HallucinationGuidedRegressor(generator.feature_channels, filters=8)
    >>> discriminator = PatchDiscriminator(filters=8, num_downsamples=2)
    >>> model = HallucinatedIQA(generator, discriminator, regressor)
    >>> model.compile(run_eagerly=True)  # eager: quicker than tracing, for one step
    >>> images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    >>> inputs = {"distorted": images, "reference": images}
    >>> logs = model.fit(inputs, np.ones((4, 1)), batch_size=4, verbose=0).history
    >>> sorted(logs)
    ['discriminator_loss', 'generator_adversarial', 'generator_l1', 'generator_perceptual', 'plcc', 'regressor_loss', 'srcc']
    """

    def __init__(
        self,
        generator: HallucinationGenerator | None = None,
        discriminator: PatchDiscriminator | None = None,
        regressor: HallucinationGuidedRegressor | None = None,
        perceptual_encoder: keras.Model | None = None,
        output_keys=("score",),
        map_resolution: str = "input",
        **kwargs,
    ):
        output_keys = checked_output_keys(output_keys, OUTPUT_KEYS)
        if map_resolution not in MAP_RESOLUTIONS:
            raise ValueError(
                f"`map_resolution` must be one of {MAP_RESOLUTIONS}. Received: "
                f"map_resolution={map_resolution!r}"
            )
        for argument, value, expected in (
            ("generator", generator, HallucinationGenerator),
            ("discriminator", discriminator, PatchDiscriminator),
            ("regressor", regressor, HallucinationGuidedRegressor),
            ("perceptual_encoder", perceptual_encoder, keras.Model),
        ):
            if value is not None and not isinstance(value, expected):
                raise ValueError(
                    f"`{argument}` must be a {expected.__name__} or None. Received: "
                    f"{argument} of type {type(value).__name__}"
                )

        # === Layers ===
        generator = generator or HallucinationGenerator()
        discriminator = discriminator or PatchDiscriminator()
        regressor = regressor or HallucinationGuidedRegressor(generator.feature_channels)
        if regressor.feature_channels != generator.feature_channels:
            raise ValueError(
                "`regressor.feature_channels` must equal the generator's feature channels "
                f"({generator.feature_channels}). Received: regressor.feature_channels="
                f"{regressor.feature_channels}"
            )
        if perceptual_encoder is not None:
            perceptual_encoder.trainable = False
        resize_maps = ResizeLike(dtype="float32", name="resize_maps")

        # === Functional graph ===
        distorted = keras.Input((None, None, 3), name="distorted")
        generated = generator(distorted)
        discrepancy = ops.abs(distorted - generated["hallucination"])
        regressed = regressor(
            {"distorted": distorted, "discrepancy": discrepancy, "features": generated["features"]}
        )
        available = {
            "score": regressed["score"],
            "hallucination": generated["hallucination"],
            "discrepancy": discrepancy,
        }
        for key in ("quality_map", "attention_map"):
            map_ = regressed[key]
            available[key] = resize_maps(map_, distorted) if map_resolution == "input" else map_
        if output_keys == ("score",):
            outputs = available["score"]
        else:
            outputs = {key: available[key] for key in output_keys}
        super().__init__(inputs={"distorted": distorted}, outputs=outputs, **kwargs)

        # === Config ===
        self.generator = generator
        self.discriminator = discriminator
        self.regressor = regressor
        self.perceptual_encoder = perceptual_encoder
        self.output_keys = output_keys
        self.map_resolution = map_resolution

    def compile(
        self,
        generator_optimizer="auto",
        discriminator_optimizer="auto",
        regressor_optimizer="auto",
        regressor_loss="auto",
        loss_weights=None,
        adversarial_loss: str = "hinge",
        quality_aware: bool = False,
        quality_threshold: float = 0.1,
        metrics="auto",
        optimizer=None,
        loss=None,
        **kwargs,
    ):
        """Sets the three optimizers and the losses; "auto" picks the defaults.

        Args:
            generator_optimizer: default `Adam(2e-4, beta_1=0.5)` (pix2pix).
            discriminator_optimizer: default `Adam(2e-4, beta_1=0.5)`.
            regressor_optimizer: default `AdamW(1e-4)`; it is also `model.optimizer`.
            regressor_loss: a loss on the score; default
                `CombinedLoss([MeanAbsoluteError(), PairwiseRankingLoss()])`.
            loss_weights: a dict overriding some of `DEFAULT_LOSS_WEIGHTS`
                (`pixel`, `perceptual`, `adversarial`: the generator's weights of
                `L_p`, `L_s`, `L_a`); non-negative numbers.
            adversarial_loss: "hinge" or "non_saturating".
            quality_aware: use the paper's quality-aware discriminator targets.
            quality_threshold: the largest |predicted - human score| for which a
                hallucination counts as real when `quality_aware` (scores in [0, 1]).
            metrics: metrics of the score; default `[SRCC(), PLCC()]`.
            optimizer: Keras's name for `regressor_optimizer` (give one of the two).
            loss: Keras's name for `regressor_loss` (give one of the two).
            **kwargs: `run_eagerly`, `jit_compile`, `steps_per_execution` for
                `keras.Model.compile`.
        """
        regressor_optimizer = _one_of("regressor_optimizer", regressor_optimizer, "optimizer", optimizer)
        regressor_loss = _one_of("regressor_loss", regressor_loss, "loss", loss)
        loss_weights = _checked_loss_weights(loss_weights)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"`adversarial_loss` must be one of {ADVERSARIAL_LOSSES}. Received: "
                f"adversarial_loss={adversarial_loss!r}"
            )
        if not isinstance(quality_aware, bool):
            raise ValueError(
                f"`quality_aware` must be True or False. Received: quality_aware={quality_aware!r}"
            )
        if not (is_finite_number(quality_threshold) and quality_threshold > 0):
            raise ValueError(
                "`quality_threshold` must be a positive number. Received: "
                f"quality_threshold={quality_threshold!r}"
            )
        if is_auto(generator_optimizer):
            generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        if is_auto(discriminator_optimizer):
            discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        if is_auto(regressor_optimizer):
            regressor_optimizer = keras.optimizers.AdamW(1e-4)
        if is_auto(regressor_loss):
            regressor_loss = CombinedLoss([MeanAbsoluteError(), PairwiseRankingLoss()])
        if is_auto(metrics):
            metrics = [SRCC(), PLCC()]
        self._compile_arguments = {
            "generator_optimizer": generator_optimizer,
            "discriminator_optimizer": discriminator_optimizer,
            "regressor_optimizer": regressor_optimizer,
            "regressor_loss": regressor_loss,
            "loss_weights": loss_weights,
            "adversarial_loss": adversarial_loss,
            "quality_aware": quality_aware,
            "quality_threshold": float(quality_threshold),
            "metrics": list(metrics or []),
        }
        optimizers = {}
        for part in ("generator", "discriminator", "regressor"):
            optimizer = keras.optimizers.get(self._compile_arguments[f"{part}_optimizer"])
            if self.dtype_policy.name == "mixed_float16" and not isinstance(
                optimizer, keras.optimizers.LossScaleOptimizer
            ):
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # Each optimizer holds slots for its own part's weights only.
            optimizer.build(getattr(self, part).trainable_variables)
            optimizers[part] = optimizer
        super().compile(optimizer=optimizers["regressor"], **kwargs)
        self.generator_optimizer = optimizers["generator"]
        self.discriminator_optimizer = optimizers["discriminator"]
        self.regressor_loss = _as_loss(regressor_loss)
        self.loss_weights = loss_weights
        self.adversarial_loss = adversarial_loss
        self.quality_aware = quality_aware
        self.quality_threshold = float(quality_threshold)
        self._trackers = {name: keras.metrics.Mean(name=name) for name in _TRACKERS}
        self._score_metrics = [_as_metric(metric) for metric in metrics or []]

    @property
    def metrics(self):
        """The loss trackers and the score metrics, reset by Keras at each epoch."""
        if not self.compiled:
            return []
        return [*self._trackers.values(), *self._score_metrics]

    def train_step(self, *args):
        # `(data,)` with TensorFlow; JAX's trainer passes `(state, data)`.
        _check_backend("trains")
        import tensorflow as tf

        inputs, scores, _ = keras.utils.unpack_x_y_sample_weight(args[-1])
        parts = self.training_parts("reference" in inputs)
        with tf.GradientTape(persistent=True) as tape:
            losses, predicted = self.training_losses(inputs, scores, parts)
            scaled = {key: optimizer.scale_loss(losses[key]) for _, optimizer, key in parts}
        for part, optimizer, key in parts:
            variables = getattr(self, part).trainable_variables
            optimizer.apply(tape.gradient(scaled[key], variables), variables)
        del tape
        return self._update_metrics(losses, scores, predicted)

    def training_parts(self, with_reference: bool) -> list[tuple[str, keras.optimizers.Optimizer, str]]:
        """The parts a training step updates, as `(part, its optimizer, its loss's key)`:
        the regressor always; the generator and discriminator too when the batch has
        references and they are trainable."""
        parts = [("regressor", self.optimizer, "regressor_loss")]
        if with_reference and self.generator.trainable:
            parts.append(("generator", self.generator_optimizer, "generator_loss"))
            if self.discriminator.trainable:
                parts.append(("discriminator", self.discriminator_optimizer, "discriminator_loss"))
        return parts

    def training_losses(self, inputs, scores, parts):
        """A training step's forward pass, backend-neutral: `(losses, predicted scores)`.

        `losses` holds the loss of every part in `parts` (see `training_parts`) and the
        generator's loss terms; the gradient of each part's loss is taken with respect
        to that part's variables alone.
        """
        distorted = ops.cast(inputs["distorted"], "float32")
        train_gan = len(parts) > 1
        generated = self.generator(distorted, training=train_gan)
        predicted = self._regress(distorted, generated, training=True)
        losses = {"regressor_loss": self.regressor_loss(scores, predicted)}
        if train_gan:
            reference = ops.cast(inputs["reference"], "float32")
            losses.update(self._gan_losses(distorted, reference, generated, predicted, scores))
        return losses, predicted

    def test_step(self, *args):
        _check_backend("evaluates")
        inputs, scores, _ = keras.utils.unpack_x_y_sample_weight(args[-1])
        distorted = ops.cast(inputs["distorted"], "float32")
        generated = self.generator(distorted, training=False)
        predicted = self._regress(distorted, generated, training=False)
        losses = {"regressor_loss": self.regressor_loss(scores, predicted)}
        if "reference" in inputs:
            losses["generator_l1"] = _pixel_loss(generated["hallucination"], inputs["reference"])
        return self._update_metrics(losses, scores, predicted)

    def _regress(self, distorted, generated, training):
        """The regressor's score, its inputs cut from the generator's gradient."""
        hallucination = ops.stop_gradient(generated["hallucination"])
        regressed = self.regressor(
            {
                "distorted": distorted,
                "discrepancy": ops.abs(distorted - hallucination),
                "features": ops.stop_gradient(generated["features"]),
            },
            training=training,
        )
        return regressed["score"]

    def _gan_losses(self, distorted, reference, generated, predicted, scores):
        """The generator's loss and its terms, and the discriminator's loss."""
        hallucination = generated["hallucination"]
        batch_size = ops.shape(distorted)[0]
        candidates = {"image": ops.concatenate([reference, hallucination], axis=0)}
        if self.discriminator.conditional:
            candidates["distorted"] = ops.concatenate([distorted, distorted], axis=0)
        # References and hallucinations in one call: one spectral-norm power iteration.
        judged = self.discriminator(candidates, training=self.discriminator.trainable)
        logits = ops.cast(judged["logits"], "float32")
        real_logits, fake_logits = logits[:batch_size], logits[batch_size:]
        if self.perceptual_encoder is None:
            features = [ops.cast(f, "float32") for f in judged["features"]]
            real_features = [ops.stop_gradient(f[:batch_size]) for f in features]
            fake_features = [f[batch_size:] for f in features]
        else:
            real_features, fake_features = (
                [ops.cast(f, "float32") for f in keras.tree.flatten(self.perceptual_encoder(x))]
                for x in (reference, hallucination)
            )
        perceptual = ops.mean(
            ops.stack([ops.mean(ops.abs(f - r)) for f, r in zip(fake_features, real_features)])
        )
        if self.adversarial_loss == "hinge":
            adversarial = -ops.mean(fake_logits)
        else:
            adversarial = ops.mean(ops.softplus(-fake_logits))
        pixel = _pixel_loss(hallucination, reference)
        weights = self.loss_weights
        fake_sign = -ops.ones_like(fake_logits)
        if self.quality_aware:
            # One score per sample whatever the targets' shape ((N,) from the pipeline, or (N, 1)).
            error = ops.abs(ops.reshape(predicted, (-1,)) - ops.reshape(ops.cast(scores, "float32"), (-1,)))
            error = ops.reshape(error, (-1, 1, 1, 1))
            fake_sign = ops.where(error < self.quality_threshold, 1.0, -1.0) * ops.ones_like(
                fake_logits
            )
        signed = ops.concatenate([real_logits, fake_sign * fake_logits], axis=0)
        if self.adversarial_loss == "hinge":
            discriminator_loss = ops.mean(ops.relu(1.0 - signed))
        else:
            discriminator_loss = ops.mean(ops.softplus(-signed))
        return {
            "generator_loss": weights["pixel"] * pixel
            + weights["perceptual"] * perceptual
            + weights["adversarial"] * adversarial,
            "generator_l1": pixel,
            "generator_perceptual": perceptual,
            "generator_adversarial": adversarial,
            "discriminator_loss": discriminator_loss,
        }

    def _update_metrics(self, losses, scores, predicted):
        logs = {}
        for name, tracker in self._trackers.items():
            if name in losses:
                tracker.update_state(losses[name])
                logs[name] = tracker.result()
        for metric in self._score_metrics:
            metric.update_state(scores, predicted)
            logs[metric.name] = metric.result()
        return logs

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            key: keras.saving.serialize_keras_object(value)
            for key, value in self._compile_arguments.items()
        }

    def compile_from_config(self, config):
        """Compiles a loaded model as it was compiled, optimizer states included."""
        self.compile(**{key: keras.saving.deserialize_keras_object(value) for key, value in config.items()})

    @property
    def min_image_size(self) -> int:
        """The smallest height and width it scores: the coarsest stride of its generator
        and regressor."""
        return 2 ** max(self.generator.num_downsamples, self.regressor.num_downsamples)

    def with_outputs(self, output_keys, map_resolution: str = "input") -> HallucinatedIQA:
        """A model sharing this one's parts (and so its weights), returning other outputs.

        For the hallucination and maps of a model trained on the score, or the
        feature-resolution maps of `iqa_keras.tiling.Scorer`.

        Example:
        >>> import numpy as np
        >>> from iqa_keras.models.hallucination_generator import HallucinationGenerator
        >>> generator = HallucinationGenerator(filters=8, num_residual_blocks=0)
        >>> regressor = HallucinationGuidedRegressor(generator.feature_channels, filters=8)
        >>> model = HallucinatedIQA(generator, regressor=regressor)
        >>> outputs = model.with_outputs(("score", "hallucination"))({"distorted": np.zeros((1, 32, 32, 3))})
        >>> tuple(outputs["hallucination"].shape)
        (1, 32, 32, 3)
        """
        return type(self)(
            generator=self.generator,
            discriminator=self.discriminator,
            regressor=self.regressor,
            perceptual_encoder=self.perceptual_encoder,
            output_keys=output_keys,
            map_resolution=map_resolution,
        )

    @classmethod
    def for_no_reference_data(cls, pretrained: HallucinatedIQA, regressor=None) -> HallucinatedIQA:
        """Recipe (b): a copy of `pretrained` whose generator and discriminator are frozen.

        The copy starts from `pretrained`'s weights (copied, not shared) and trains its
        regressor only, on batches without references; pass `regressor` to start from
        another one (e.g. a fresh `HallucinationGuidedRegressor`) instead. Compile it.

        Example:
        >>> from iqa_keras.models.hallucination_generator import HallucinationGenerator
        >>> generator = HallucinationGenerator(filters=8, num_residual_blocks=0)
        >>> regressor = HallucinationGuidedRegressor(generator.feature_channels, filters=8)
        >>> pretrained = HallucinatedIQA(generator, regressor=regressor)
        >>> model = HallucinatedIQA.for_no_reference_data(pretrained)
        >>> model.generator.trainable, model.regressor.trainable
        (False, True)
        """
        if not isinstance(pretrained, HallucinatedIQA):
            raise ValueError(
                "`pretrained` must be a HallucinatedIQA. Received: pretrained of type "
                f"{type(pretrained).__name__}"
            )
        generator, discriminator = _copy(pretrained.generator), _copy(pretrained.discriminator)
        generator.trainable = discriminator.trainable = False
        encoder = pretrained.perceptual_encoder
        return cls(
            generator=generator,
            discriminator=discriminator,
            regressor=_copy(pretrained.regressor) if regressor is None else regressor,
            perceptual_encoder=None if encoder is None else _copy(encoder),
            output_keys=pretrained.output_keys,
            map_resolution=pretrained.map_resolution,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "regressor": keras.saving.serialize_keras_object(self.regressor),
            "perceptual_encoder": (
                None
                if self.perceptual_encoder is None
                else keras.saving.serialize_keras_object(self.perceptual_encoder)
            ),
            "output_keys": self.output_keys,
            "map_resolution": self.map_resolution,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator", "regressor", "perceptual_encoder"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _check_backend(action: str) -> None:
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            f"HallucinatedIQA {action} through model.fit with the TensorFlow backend only; on "
            "JAX use iqa_keras.training.jax_gan.fit_hallucinated_iqa (inference runs on any "
            f"backend). Received: backend {keras.backend.backend()!r}"
        )


def _pixel_loss(hallucination, reference):
    """`L_p`: the mean absolute error on the 0-1 scale, in float32."""
    return ops.mean(ops.abs(ops.cast(hallucination, "float32") - ops.cast(reference, "float32"))) / 255.0


def _copy(model):
    """A copy of `model` with copies of its weights and its `trainable` flag."""
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    copy.set_weights(model.get_weights())
    return copy



def _one_of(name, value, keras_name, keras_value):
    """`value`, or `keras_value` given under Keras's own argument name instead."""
    if keras_value is None:
        return value
    if not is_auto(value):
        raise ValueError(
            f"Pass `{name}` or `{keras_name}`, not both. Received: {name}={value!r}, "
            f"{keras_name}={keras_value!r}"
        )
    return keras_value


def _as_loss(loss):
    """`loss` (a `keras.losses.Loss`, a name such as "mae", or a function of `(y_true,
    y_pred)`) as a function giving a scalar, the batch mean as `compile` would take it."""
    if isinstance(loss, keras.losses.Loss):
        return loss
    function = _keras_function(keras.losses.get, loss, "`regressor_loss` must be a loss, its name or a function")

    def batch_mean(y_true, y_pred):
        return ops.mean(function(y_true, y_pred))

    return batch_mean


def _as_metric(metric):
    """A `keras.metrics.Metric` of `metric` (a Metric, a name such as "mae", or a function
    of `(y_true, y_pred)`, averaged over the epoch as `compile` would)."""
    if isinstance(metric, keras.metrics.Metric):
        return metric
    function = _keras_function(keras.metrics.get, metric, "`metrics` must hold metrics, their names or functions")
    return keras.metrics.MeanMetricWrapper(function, name=metric if isinstance(metric, str) else None)


def _keras_function(get, identifier, requirement: str):
    """The function Keras' `get` (`keras.losses.get`, `keras.metrics.get`) gives for a name
    or function; a ValueError saying `requirement` for anything else."""
    try:
        function = get(identifier)
    except ValueError:
        function = None
    if not callable(function):
        raise ValueError(f"{requirement}. Received: {identifier!r}")
    return function



def _checked_loss_weights(loss_weights) -> dict:
    """`DEFAULT_LOSS_WEIGHTS` updated with `loss_weights`, checked."""
    if loss_weights is None:
        loss_weights = {}
    valid = isinstance(loss_weights, dict) and all(
        key in DEFAULT_LOSS_WEIGHTS and is_finite_number(value) and value >= 0
        for key, value in loss_weights.items()
    )
    if not valid:
        raise ValueError(
            f"`loss_weights` must be a dict of non-negative numbers with keys from "
            f"{tuple(DEFAULT_LOSS_WEIGHTS)}. Received: loss_weights={loss_weights!r}"
        )
    return {**DEFAULT_LOSS_WEIGHTS, **{key: float(value) for key, value in loss_weights.items()}}
