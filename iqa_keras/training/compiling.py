"""`compile_model`: a model compiled as a training config says, on any backend
(`iqa-keras train` on TensorFlow, `training/train_on_jax.py` on JAX)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from iqa_keras.correlation_metrics import PLCC, SRCC
from iqa_keras.models import HallucinatedIQA
from iqa_keras.training.config import GanConfig, LossTerm, OptimizerConfig, build_gan_optimizer, build_loss, build_optimizer

__all__ = ["compile_model"]


def compile_model(
    model: keras.Model,
    losses: Sequence[LossTerm],
    optimizer: OptimizerConfig,
    steps_per_epoch: int,
    epochs: int,
    srcc_capacity: int,
    gan: GanConfig | None = None,
) -> None:
    """Compiles with AdamW on the warm-up + cosine schedule, the weighted sum of `losses`,
    and the SRCC and PLCC metrics (logged as `srcc`, `plcc`, `val_srcc`, `val_plcc`).

    A `HallucinatedIQA` gets these as its regressor's optimizer, loss and metrics, and
    Adam for its generator and discriminator from `gan` (default `GanConfig()`).

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> compile_model(model, [LossTerm("mae")], OptimizerConfig(), 10, 2, srcc_capacity=64)
    >>> logs = model.evaluate(np.eye(4, 3), np.arange(4.0), verbose=0, return_dict=True)
    >>> type(model.optimizer).__name__, sorted(logs)
    ('AdamW', ['loss', 'plcc', 'srcc'])
    """
    loss = build_loss(losses)
    metrics = [SRCC(capacity=srcc_capacity), PLCC()]
    if isinstance(model, HallucinatedIQA):
        gan = GanConfig() if gan is None else gan
        _compile_hallucinated_iqa(model, loss, metrics, optimizer, gan, steps_per_epoch, epochs)
    else:
        model.compile(optimizer=build_optimizer(optimizer, steps_per_epoch, epochs), loss=loss, metrics=metrics)


def _compile_hallucinated_iqa(model, loss, metrics, optimizer, gan, steps_per_epoch, epochs) -> None:
    """`HallucinatedIQA.compile`: `optimizer` for the regressor, `gan`'s for the rest."""
    model.compile(
        generator_optimizer=build_gan_optimizer(gan, "generator", optimizer, steps_per_epoch, epochs),
        discriminator_optimizer=build_gan_optimizer(gan, "discriminator", optimizer, steps_per_epoch, epochs),
        regressor_optimizer=build_optimizer(optimizer, steps_per_epoch, epochs),
        regressor_loss=loss,
        loss_weights=gan.loss_weights,
        adversarial_loss=gan.adversarial_loss,
        quality_aware=gan.quality_aware,
        quality_threshold=gan.quality_threshold,
        metrics=metrics,
    )
