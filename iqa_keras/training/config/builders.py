"""What a config's sections build: the model, its loss, its optimizers and the data's parts.

The sections (`iqa_keras.training.config.schema`) only hold and check values; a value that
only the built object can refuse (a model constructor's, a reader's) raises `ConfigError`
here, named from the top of the config.

Example:
>>> from iqa_keras.training.config.schema import ModelConfig, OptimizerConfig
>>> build_model(ModelConfig("hallucinated_iqa", {"generator": {"filters": 8}})).generator.filters
8
>>> schedule = learning_rate_schedule(OptimizerConfig(learning_rate=1e-3, warmup_epochs=1), 10, 3)
>>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 20, 30)]
[0.0, 0.0005, 0.001, 0.0005, 0.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras

from iqa_keras.data import DatasetError, Record, k_fold_by_content, official_split, read_dataset, split_by_content
from iqa_keras.losses import CombinedLoss
from iqa_keras.models import HallucinatedIQA
from iqa_keras.training.config.checks import ConfigError, construct
from iqa_keras.training.config.registry import HALLUCINATED_PARTS, LOSSES, MODELS
from iqa_keras.training.config.schema import DataConfig, GanConfig, LossTerm, ModelConfig, OptimizerConfig

__all__ = [
    "build_model",
    "build_loss",
    "learning_rate_schedule",
    "build_optimizer",
    "build_gan_optimizer",
    "read_parts",
    "split_records",
]


def build_model(config: ModelConfig) -> keras.Model:
    """A new model as `config` says; recipe (b) of `hallucinated_iqa` loads `pretrained`
    and makes it `HallucinatedIQA.for_no_reference_data`."""
    if config.name != "hallucinated_iqa":
        return construct(MODELS[config.name], "arguments", config.arguments)
    if config.pretrained is None:
        generator = _part(config, "generator")
        return HallucinatedIQA(
            generator=generator,
            discriminator=_part(config, "discriminator"),
            regressor=_part(config, "regressor", generator.feature_channels),
        )
    config.check_files()
    pretrained = keras.saving.load_model(config.pretrained, compile=False)
    if not isinstance(pretrained, HallucinatedIQA):
        raise ConfigError(
            "pretrained",
            f"must be a saved HallucinatedIQA. Received: {config.pretrained!r}, a {type(pretrained).__name__}",
        )
    regressor = None
    if "regressor" in config.arguments:
        regressor = _part(config, "regressor", pretrained.generator.feature_channels)
    return HallucinatedIQA.for_no_reference_data(pretrained, regressor=regressor)


def _part(config: ModelConfig, part: str, *positional) -> keras.Model:
    return construct(HALLUCINATED_PARTS[part], f"arguments.{part}", config.arguments.get(part, {}), *positional)


def build_loss(terms: Sequence[LossTerm]) -> CombinedLoss:
    """The weighted sum of the loss terms.

    Example:
    >>> build_loss([LossTerm("mae"), LossTerm("plcc", weight=0.5)]).weights
    [1.0, 0.5]
    """
    losses = [construct(LOSSES[term.name], "arguments", term.arguments) for term in terms]
    return CombinedLoss(losses, [term.weight for term in terms])


def learning_rate_schedule(
    optimizer: OptimizerConfig, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.CosineDecay:
    """The learning rate by step, for `epochs` epochs of `steps_per_epoch` steps: a linear
    warm-up from 0 to `optimizer.learning_rate`, then a cosine decay to the end."""
    total_steps = steps_per_epoch * epochs
    warmup_steps = min(round(optimizer.warmup_epochs * steps_per_epoch), total_steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else optimizer.learning_rate,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=optimizer.final_learning_rate_ratio,
        warmup_target=optimizer.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def build_optimizer(optimizer: OptimizerConfig, steps_per_epoch: int, epochs: int) -> keras.optimizers.AdamW:
    """AdamW following `learning_rate_schedule(optimizer, steps_per_epoch, epochs)`."""
    return keras.optimizers.AdamW(
        learning_rate=learning_rate_schedule(optimizer, steps_per_epoch, epochs),
        weight_decay=optimizer.weight_decay,
        clipnorm=optimizer.clipnorm,
    )


def build_gan_optimizer(
    gan: GanConfig, part: str, optimizer: OptimizerConfig, steps_per_epoch: int, epochs: int
) -> keras.optimizers.Adam:
    """Adam (beta_1 = 0.5, as pix2pix) for `part` ("generator" or "discriminator") on
    `optimizer`'s schedule shape and gradient clipping, peaking at the part's learning rate.

    Example:
    >>> adam = build_gan_optimizer(GanConfig(generator_learning_rate=1e-3), "generator", OptimizerConfig(), 10, 2)
    >>> round(float(adam.learning_rate), 6), adam.beta_1  # step 0: the warm-up's start
    (0.0, 0.5)
    """
    peak = dataclasses.replace(optimizer, learning_rate=getattr(gan, f"{part}_learning_rate"))
    return keras.optimizers.Adam(
        learning_rate=learning_rate_schedule(peak, steps_per_epoch, epochs), beta_1=0.5, clipnorm=optimizer.clipnorm
    )


def read_parts(data: DataConfig) -> dict[str, list[Record]]:
    """The records of `data.dataset` at `data.root`, read with `data.options`, split as
    `split_records` splits them."""
    try:
        records = read_dataset(data.dataset, data.root, **data.options)
    except DatasetError:
        raise
    except (TypeError, ValueError) as error:  # the reader refused an option's value
        if not data.options:
            raise
        raise ConfigError("data.options", f"{error} Received: {data.options!r}") from None
    return split_records(data, records)


def split_records(data: DataConfig, records: Sequence[Record]) -> dict[str, list[Record]]:
    """The `train`, `validation` and `test` parts of `records` as `data.split` says (with
    the official split, `test` is the validation part when the release has none)."""
    try:
        if data.split == "content":
            return split_by_content(records, data.ratios, seed=data.split_seed, repeats=data.repeat + 1)[-1]
        if data.split == "kfold":
            fold = k_fold_by_content(records, folds=data.folds, seed=data.split_seed)[data.fold]
            total = data.ratios["train"] + data.ratios["validation"]
            shares = {part: data.ratios[part] / total for part in ("train", "validation")}
            (parts,) = split_by_content(fold["train"], shares, seed=data.split_seed)
            return {**parts, "test": fold["test"]}
    except ValueError as error:  # fewer contents than parts or folds
        raise ConfigError("data.ratios" if data.split == "content" else "data.folds",
                          f"cannot be met by {data.root}: {error}") from None
    try:
        parts = official_split(records)
    except ValueError as error:  # the release has no official split, or not for every image
        raise ConfigError("data.split", f"is 'official', but {error}") from None
    for needed in ("train", "validation"):
        if needed not in parts:
            raise ConfigError(
                "data.split",
                f"is 'official' but the release's split has no {needed!r} part (it has "
                f"{', '.join(parts)}). Use split: content.",
            )
    return {"test": parts["validation"], **parts}
