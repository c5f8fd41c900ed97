"""The schema of a training run's config: frozen dataclasses whose checks name the field.

Each section checks its own values when built (`ConfigError` names the field); turning a
section into a model, an optimizer, a loss or the data is `iqa_keras.training.config.builders`'
job, and reading it from a file `files`'.

Example:
>>> OptimizerConfig(learning_rate=3e-4).weight_decay
0.0001
>>> TrainerConfig(epochs=0)
Traceback (most recent call last):
...
iqa_keras.training.config.checks.ConfigError: `epochs` must be an integer >= 1. Received: 0
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import field

from iqa_keras._numbers import is_finite_number
from iqa_keras.data import DATASETS, PipelineConfig, reader_options
from iqa_keras.models.hallucinated_iqa import ADVERSARIAL_LOSSES, DEFAULT_LOSS_WEIGHTS
from iqa_keras.training.config.checks import (
    ConfigError,
    check_choice,
    check_int,
    check_known_arguments,
    check_number,
    check_type,
    construct,
    named,
)
from iqa_keras.training.config.registry import HALLUCINATED_PARTS, LOSSES, MODELS
from iqa_keras.training.precision import PRECISIONS
from iqa_keras.training.strategy import STRATEGIES

__all__ = ["SPLITS", "PARTS", "DataConfig", "ModelConfig", "GanConfig", "LossTerm", "OptimizerConfig",
           "TrainerConfig", "TrainingConfig"]

SPLITS = ("content", "kfold", "official")
_DEFAULT_RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}
PARTS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which images to train on and how they become batches.

    Args:
        dataset: the reader, one of `iqa_keras.data.DATASETS`.
        root: the dataset's folder (the CSV file for `csv`).
        options: the reader's own options (`iqa_keras.data.reader_options`), e.g.
            `{resolution: 1024x768}` for `koniq10k`, `{higher_is_better: false}` for `csv`.
        split: `"content"`: a random split by content with `ratios`; `"kfold"`: fold
            `fold` of `folds` by content is the test part, the other folds are split into
            train and validation in the proportion of `ratios`' train and validation shares;
            `"official"`: the release's own split (then evaluated on `test`, or `validation`
            without one).
        ratios: the share of contents in each of `train`, `validation` and `test`.
        split_seed: the seed of the split by content.
        repeat: which of the repeated random splits by content (0, 1, ...: repeat `i` is
            drawn from `(split_seed, i)` alone); `iqa-keras train --splits N` trains 0..N-1.
        folds, fold: the number of folds and the one tested (from 0), with `split: kfold`;
            `iqa-keras train --splits` trains every fold.
        train: the training batches (`iqa_keras.data.PipelineConfig`).
        evaluation: the validation and test images (a `PipelineConfig`), scored as
            `iqa-keras evaluate` scores them (large images in `tile_size` tiles), in
            the validation figures of every epoch as in the test figures.
    """

    dataset: str = "kadid10k"
    root: str = ""
    options: dict = field(default_factory=dict)
    split: str = "content"
    ratios: dict = field(default_factory=lambda: dict(_DEFAULT_RATIOS))
    split_seed: int = 0
    repeat: int = 0
    folds: int = 5
    fold: int = 0
    train: PipelineConfig = field(
        default_factory=lambda: PipelineConfig(batch_size=16, crop_size=224, patches_per_image=4)
    )
    evaluation: PipelineConfig = field(default_factory=lambda: PipelineConfig(batch_size=1))

    def __post_init__(self):
        check_choice("dataset", self.dataset, sorted(DATASETS))
        check_type("root", self.root, str, "a path")
        check_type("options", self.options, Mapping, "a mapping of the reader's options")
        known = reader_options(self.dataset)
        for option in self.options:
            if option not in known:
                raise ConfigError(
                    f"options.{option}",
                    f"is not an option of the {self.dataset} reader; its options: {', '.join(known) or 'none'}",
                )
        check_choice("split", self.split, SPLITS)
        check_int("split_seed", self.split_seed, minimum=0)
        check_int("repeat", self.repeat, minimum=0)
        check_int("folds", self.folds, minimum=2)
        check_int("fold", self.fold, minimum=0)
        if self.fold >= self.folds:
            raise ConfigError("fold", f"must be below `folds` ({self.folds}): folds count from 0. Received: {self.fold}")
        for name, split in (("repeat", "content"), ("fold", "kfold")):
            if getattr(self, name) and self.split != split:
                raise ConfigError(name, f"applies to split: {split} only. Received: {name}={getattr(self, name)} "
                                        f"with split: {self.split}")
        ratios = self.ratios
        if isinstance(ratios, Sequence) and not isinstance(ratios, str) and len(ratios) == len(PARTS):
            ratios = dict(zip(PARTS, ratios))
        valid = (
            isinstance(ratios, Mapping)
            and sorted(ratios) == sorted(PARTS)
            and all(is_finite_number(share) and share > 0 for share in ratios.values())
            and math.isclose(sum(ratios.values()), 1.0, rel_tol=0.0, abs_tol=1e-6)
        )
        if not valid:
            raise ConfigError(
                "ratios",
                "must give positive shares of train, validation and test that sum to 1. "
                f"Received: {self.ratios!r}",
            )
        object.__setattr__(self, "ratios", {part: float(ratios[part]) for part in PARTS})
        if self.split == "official" and self.ratios != _DEFAULT_RATIOS:
            raise ConfigError("ratios", f"applies to split: content only; the official split has its own. Received: {self.ratios!r}")
        for part, check in (("train", self.train.check_training), ("evaluation", self.evaluation.check_evaluation)):
            try:
                check()
            except ValueError as error:
                raise named(error, part, [item.name for item in dataclasses.fields(PipelineConfig)]) from None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model to train.

    Args:
        name: one of `MODELS`.
        arguments: for `siamese_difference`, keyword arguments of its constructor (see
            its docstring; `output_keys` may only be `["score"]`: training fits the
            score). For `hallucinated_iqa`, a mapping of the parts of
            `HALLUCINATED_PARTS` to their constructors' keyword arguments (the
            regressor's `feature_channels` follows the generator); a part left out
            takes its defaults. The constructors check the values.
        pretrained: recipe (b) of `hallucinated_iqa`: a saved `HallucinatedIQA`
            (`.keras`, e.g. the `best.keras` of a recipe (a) run) whose generator and
            discriminator stay frozen while its regressor learns the human scores (or a
            fresh one, given `arguments.regressor`). The data need no references.

    Example:
    >>> ModelConfig("hallucinated_iqa", {"generator": {"filters": 8}}).arguments
    {'generator': {'filters': 8}}
    >>> ModelConfig("hallucinated_iqa", {"generator": {"filter": 8}})
    Traceback (most recent call last):
    ...
    iqa_keras.training.config.checks.ConfigError: `arguments.generator.filter` is not an argument of HallucinationGenerator. Expected one of: filters, num_downsamples, num_residual_blocks, name, dtype, trainable
    """

    name: str = "siamese_difference"
    arguments: dict = field(default_factory=dict)
    pretrained: str | None = None

    def __post_init__(self):
        check_choice("name", self.name, sorted(MODELS))
        check_type("arguments", self.arguments, dict, "a mapping")
        if self.name == "hallucinated_iqa":
            self._check_hallucinated_iqa()
            return
        if self.pretrained is not None:
            raise ConfigError(
                "pretrained",
                f"is for name: hallucinated_iqa (recipe (b)), not {self.name}. Received: {self.pretrained!r}",
            )
        check_known_arguments("arguments", self.arguments, MODELS[self.name])
        output_keys = self.arguments.get("output_keys", ["score"])
        if list(output_keys) != ["score"]:
            raise ConfigError(
                "arguments.output_keys",
                f"must be ['score']: training fits the score. Received: {output_keys!r}",
            )

    def check_files(self) -> None:
        """Raises `ConfigError` when `pretrained` names no file.

        Example:
        >>> ModelConfig("hallucinated_iqa", pretrained="missing.keras").check_files()
        Traceback (most recent call last):
        ...
        iqa_keras.training.config.checks.ConfigError: `pretrained` names no file. Received: 'missing.keras'
        """
        if self.pretrained is not None and not os.path.isfile(self.pretrained):
            raise ConfigError("pretrained", f"names no file. Received: {self.pretrained!r}")

    def _check_hallucinated_iqa(self) -> None:
        if self.pretrained is not None and not (
            isinstance(self.pretrained, str) and self.pretrained.endswith(".keras")
        ):
            raise ConfigError(
                "pretrained", f"must be the path of a saved HallucinatedIQA (.keras). Received: {self.pretrained!r}"
            )
        for part, arguments in self.arguments.items():
            name = f"arguments.{part}"
            if part not in HALLUCINATED_PARTS:
                raise ConfigError(
                    name, f"is not a part of HallucinatedIQA. Expected one of: {', '.join(HALLUCINATED_PARTS)}"
                )
            if self.pretrained is not None and part != "regressor":
                raise ConfigError(name, "comes from `model.pretrained` in recipe (b): remove it")
            check_type(name, arguments, dict, "a mapping of the part's arguments")
            check_known_arguments(name, arguments, HALLUCINATED_PARTS[part])
            if "feature_channels" in arguments:
                raise ConfigError(
                    f"{name}.feature_channels",
                    f"follows the generator's features: remove it. Received: {arguments['feature_channels']!r}",
                )


@dataclasses.dataclass(frozen=True)
class LossTerm:
    """One term of the training loss: `weight * LOSSES[name](**arguments)`.

    Args:
        name: one of `LOSSES`.
        weight: the term's non-negative weight in the sum.
        arguments: keyword arguments of the loss class (e.g. `margin` of
            `pairwise_ranking`).
    """

    name: str
    weight: float = 1.0
    arguments: dict = field(default_factory=dict)

    def __post_init__(self):
        check_choice("name", self.name, sorted(LOSSES))
        check_number("weight", self.weight, minimum=0.0)
        check_type("arguments", self.arguments, dict, "a mapping")
        check_known_arguments("arguments", self.arguments, LOSSES[self.name])
        construct(LOSSES[self.name], "arguments", self.arguments)  # the class checks the values


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW with a linear warm-up from 0, then a cosine decay to the end of training.

    Args:
        learning_rate: the peak learning rate, reached at the end of the warm-up.
        weight_decay: AdamW's decoupled weight decay.
        warmup_epochs: length of the linear warm-up, in epochs (fractions allowed).
        final_learning_rate_ratio: the learning rate at the end, as a fraction of
            `learning_rate` (the cosine decay's `alpha`).
        clipnorm: clip each gradient to this norm; None for no clipping.
    """

    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    final_learning_rate_ratio: float = 0.0
    clipnorm: float | None = None

    def __post_init__(self):
        check_number("learning_rate", self.learning_rate, minimum=0.0, inclusive=False)
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        check_number("warmup_epochs", self.warmup_epochs, minimum=0.0)
        check_number("final_learning_rate_ratio", self.final_learning_rate_ratio, 0.0, 1.0)
        if self.clipnorm is not None:
            check_number("clipnorm", self.clipnorm, minimum=0.0, inclusive=False)


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """How `hallucinated_iqa` trains its generator and discriminator (recipe (a)).

    The regressor follows `optimizer` and `losses`; the generator and the
    discriminator each use Adam (beta_1 = 0.5, as pix2pix) on the same warm-up and
    cosine schedule as `optimizer`, peaking at their own learning rates. See
    `HallucinatedIQA.compile` for the losses.

    Args:
        generator_learning_rate: the generator's peak learning rate.
        discriminator_learning_rate: the discriminator's peak learning rate.
        loss_weights: the generator's weights of its terms, keys among `pixel`,
            `perceptual` and `adversarial`; those left out keep their defaults.
        adversarial_loss: "hinge" or "non_saturating".
        quality_aware: the paper's quality-aware discriminator targets.
        quality_threshold: the largest |predicted - human score| (scores in [0, 1])
            for which a hallucination counts as real when `quality_aware`.

    Example:
    >>> GanConfig(loss_weights={"adversarial": 0.05}).loss_weights
    {'pixel': 1.0, 'perceptual': 0.1, 'adversarial': 0.05}
    """

    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    loss_weights: dict = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    adversarial_loss: str = "hinge"
    quality_aware: bool = False
    quality_threshold: float = 0.1

    def __post_init__(self):
        for name in ("generator_learning_rate", "discriminator_learning_rate"):
            check_number(name, getattr(self, name), minimum=0.0, inclusive=False)
        check_type("loss_weights", self.loss_weights, dict, "a mapping")
        for key, weight in self.loss_weights.items():
            if key not in DEFAULT_LOSS_WEIGHTS:
                raise ConfigError(
                    f"loss_weights.{key}",
                    f"is not a loss weight of HallucinatedIQA. Expected one of: {', '.join(DEFAULT_LOSS_WEIGHTS)}",
                )
            check_number(f"loss_weights.{key}", weight, minimum=0.0)
        weights = {**DEFAULT_LOSS_WEIGHTS, **self.loss_weights}
        object.__setattr__(self, "loss_weights", {key: float(weights[key]) for key in DEFAULT_LOSS_WEIGHTS})
        check_choice("adversarial_loss", self.adversarial_loss, ADVERSARIAL_LOSSES)
        check_type("quality_aware", self.quality_aware, bool, "true or false")
        check_number("quality_threshold", self.quality_threshold, minimum=0.0, inclusive=False)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """How `model.fit` runs.

    Args:
        epochs: passes over the training part.
        precision: one of `iqa_keras.training.precision.PRECISIONS`.
        strategy: one of `iqa_keras.training.strategy.STRATEGIES`.
        early_stopping_patience: stop after this many epochs without a better
            validation SRCC; None never stops early.
        seed: seeds Python, NumPy and the backend (initial weights, dropout).
        srcc_capacity: samples the streaming SRCC metric can hold; None: the most
            samples of a training or validation epoch. Set it when evaluating on tiles.
    """

    epochs: int = 30
    precision: str = "auto"
    strategy: str = "auto"
    early_stopping_patience: int | None = 10
    seed: int = 0
    srcc_capacity: int | None = None

    def __post_init__(self):
        check_int("epochs", self.epochs, minimum=1)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("strategy", self.strategy, STRATEGIES)
        if self.early_stopping_patience is not None:
            check_int("early_stopping_patience", self.early_stopping_patience, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if self.srcc_capacity is not None:
            check_int("srcc_capacity", self.srcc_capacity, minimum=2)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs; see the module docstring for a file's layout.

    Args:
        output_dir: where the run writes its checkpoints, logs, resolved config and
            metrics; a run interrupted there resumes when started again.
        data: a `DataConfig`.
        model: a `ModelConfig`.
        losses: the `LossTerm`s summed into the training loss.
        optimizer: an `OptimizerConfig` (the regressor's, for `hallucinated_iqa`).
        trainer: a `TrainerConfig`.
        gan: a `GanConfig`, for `hallucinated_iqa` trained jointly (recipe (a)) only,
            where it defaults to `GanConfig()`; None otherwise.

    Example:
    >>> TrainingConfig(model=ModelConfig("hallucinated_iqa")).gan.adversarial_loss
    'hinge'
    >>> TrainingConfig(gan=GanConfig(quality_aware=True))
    Traceback (most recent call last):
    ...
    iqa_keras.training.config.checks.ConfigError: `gan` is for model.name hallucinated_iqa without model.pretrained (recipe (a)). Received: model.name 'siamese_difference', model.pretrained None
    """

    output_dir: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: list[LossTerm] = field(default_factory=lambda: [LossTerm("mae"), LossTerm("plcc")])
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    gan: GanConfig | None = None

    def __post_init__(self):
        check_type("output_dir", self.output_dir, str, "a path")
        if not isinstance(self.losses, list) or not self.losses:
            raise ConfigError("losses", f"must be a non-empty list of loss terms. Received: {self.losses!r}")
        if not any(term.weight > 0 for term in self.losses):
            raise ConfigError(
                "losses", f"must give at least one term a positive weight. Received weights: {[t.weight for t in self.losses]}"
            )
        joint = self.model.name == "hallucinated_iqa" and self.model.pretrained is None
        if joint and self.gan is None:
            object.__setattr__(self, "gan", GanConfig())
        if self.gan is not None and not joint:
            raise ConfigError(
                "gan",
                "is for model.name hallucinated_iqa without model.pretrained (recipe (a)). "
                f"Received: model.name {self.model.name!r}, model.pretrained {self.model.pretrained!r}",
            )

