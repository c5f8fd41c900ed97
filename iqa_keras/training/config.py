"""The configuration of a training run: plain dataclasses, read from YAML or JSON.

A file holds any subset of the fields below; what it leaves out takes the default, and
nested sections (`data.train`, `optimizer`, ...) are merged key by key onto theirs.
Unknown keys and bad values are rejected with the field's dotted name and the value
received. `save_config` writes the resolved config (every field, defaults included),
which `train` puts next to the checkpoints, so that a run can be repeated from it.

    output_dir: runs/kadid10k_fr          # checkpoints, logs, resolved config, metrics
    data:
      dataset: kadid10k                   # a reader of iqa_keras.data.DATASETS
      root: datasets/kadid10k             # relative paths: from the working directory
      ratios: {train: 0.6, validation: 0.2, test: 0.2}
      train: {batch_size: 16, crop_size: 224, patches_per_image: 4}   # a PipelineConfig
    model:
      name: siamese_difference            # one of MODELS
      arguments: {encoder: small}         # the model constructor's keyword arguments
    losses: [{name: mae}, {name: plcc, weight: 0.5}]   # one of LOSSES each, summed
    optimizer: {learning_rate: 1.0e-4, weight_decay: 1.0e-4, warmup_epochs: 1}
    trainer: {epochs: 30, precision: auto, strategy: auto, early_stopping_patience: 10}

The no-reference `hallucinated_iqa` takes its parts' arguments, and a `gan` section
for the generator and discriminator (recipe (a)); or, for recipe (b), a `pretrained`
model whose generator stays frozen while the regressor learns the human scores:

    model:
      name: hallucinated_iqa
      arguments: {generator: {filters: 32}, regressor: {dropout: 0.1}}   # HALLUCINATED_PARTS
      pretrained: runs/synthetic_nr/best.keras   # recipe (b) only; then no `gan`
    gan: {generator_learning_rate: 2.0e-4, quality_aware: true}          # a GanConfig

Example:
>>> config = config_from_dict({"output_dir": "runs/demo", "data": {"root": "kadid10k"},
...                            "optimizer": {"learning_rate": 3e-4}})
>>> config.optimizer.learning_rate, config.optimizer.weight_decay, config.data.train.crop_size
(0.0003, 0.0001, (224, 224))
>>> config_from_dict({"optimizer": {"learning_rate": -1}})
Traceback (most recent call last):
...
iqa_keras.training.config.ConfigError: `optimizer.learning_rate` must be a number > 0. Received: -1
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import field

import keras
import yaml

from iqa_keras.data import (
    DATASETS,
    DatasetError,
    PipelineConfig,
    Record,
    k_fold_by_content,
    official_split,
    read_dataset,
    reader_options,
    split_by_content,
)
from iqa_keras._numbers import is_finite_number
from iqa_keras.atomic import write_atomic
from iqa_keras.losses import (
    MeanAbsoluteError,
    MeanSquaredError,
    NormInNormLoss,
    PairwiseRankingLoss,
    PLCCLoss,
    SoftSRCCLoss,
)
from iqa_keras.models import (
    HallucinatedIQA,
    HallucinationGenerator,
    HallucinationGuidedRegressor,
    PatchDiscriminator,
    SiameseDifferenceIQA,
)
from iqa_keras.models.hallucinated_iqa import ADVERSARIAL_LOSSES, DEFAULT_LOSS_WEIGHTS
from iqa_keras.training.precision import PRECISIONS
from iqa_keras.training.strategy import STRATEGIES

__all__ = [
    "MODELS",
    "HALLUCINATED_PARTS",
    "LOSSES",
    "SPLITS",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "GanConfig",
    "LossTerm",
    "OptimizerConfig",
    "TrainerConfig",
    "TrainingConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "save_config",
]

# The names a config file may use for models and losses.
MODELS = {"siamese_difference": SiameseDifferenceIQA, "hallucinated_iqa": HallucinatedIQA}
# The parts of `hallucinated_iqa` that its `model.arguments` configure, by argument name.
HALLUCINATED_PARTS = {
    "generator": HallucinationGenerator,
    "discriminator": PatchDiscriminator,
    "regressor": HallucinationGuidedRegressor,
}
LOSSES = {
    "mae": MeanAbsoluteError,
    "mse": MeanSquaredError,
    "plcc": PLCCLoss,
    "soft_srcc": SoftSRCCLoss,
    "pairwise_ranking": PairwiseRankingLoss,
    "norm_in_norm": NormInNormLoss,
}
SPLITS = ("content", "kfold", "official")
_DEFAULT_RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}
PARTS = ("train", "validation", "test")
_EXTENSIONS = (".yaml", ".yml", ".json")


class _YamlLoader(yaml.SafeLoader):
    """YAML's safe loader, reading `1e-4` as a float as JSON does (YAML 1.1 wants `1.0e-4`),
    and refusing a key given twice in one mapping (YAML would keep the last silently).
    Merge keys (`<<: *defaults`) are not keys of the mapping: the keys they bring may be
    given again, and the mapping's own win."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # refused by the base class
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in one section", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class ConfigError(ValueError):
    """A bad configuration: the message starts with the field's dotted name.

    Example:
    >>> str(ConfigError("epochs", "must be a positive integer. Received: 0").within("trainer"))
    '`trainer.epochs` must be a positive integer. Received: 0'
    """

    def __init__(self, field_name: str, detail: str):
        self.field_name = field_name
        self.detail = detail
        super().__init__(f"`{field_name}` {detail}")

    def within(self, parent: str) -> ConfigError:
        """The same error, named from the enclosing section `parent`."""
        return ConfigError(_join(parent, self.field_name), self.detail) if parent else self


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
        _check_choice("dataset", self.dataset, sorted(DATASETS))
        _check_type("root", self.root, str, "a path")
        _check_type("options", self.options, Mapping, "a mapping of the reader's options")
        known = reader_options(self.dataset)
        for option in self.options:
            if option not in known:
                raise ConfigError(
                    f"options.{option}",
                    f"is not an option of the {self.dataset} reader; its options: {', '.join(known) or 'none'}",
                )
        _check_choice("split", self.split, SPLITS)
        _check_int("split_seed", self.split_seed, minimum=0)
        _check_int("repeat", self.repeat, minimum=0)
        _check_int("folds", self.folds, minimum=2)
        _check_int("fold", self.fold, minimum=0)
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
                raise _named(error, part, [item.name for item in dataclasses.fields(PipelineConfig)]) from None

    def read_parts(self) -> dict[str, list[Record]]:
        """The records of `dataset` at `root`, read with `options`, split as
        `split_records` splits them."""
        try:
            records = read_dataset(self.dataset, self.root, **self.options)
        except DatasetError:
            raise
        except (TypeError, ValueError) as error:  # the reader refused an option's value
            if not self.options:
                raise
            raise ConfigError("data.options", f"{error} Received: {self.options!r}") from None
        return self.split_records(records)

    def split_records(self, records: Sequence[Record]) -> dict[str, list[Record]]:
        """The `train`, `validation` and `test` parts of `records` as `split` says (with
        the official split, `test` is the validation part when the release has none)."""
        try:
            if self.split == "content":
                return split_by_content(records, self.ratios, seed=self.split_seed, repeats=self.repeat + 1)[-1]
            if self.split == "kfold":
                fold = k_fold_by_content(records, folds=self.folds, seed=self.split_seed)[self.fold]
                total = self.ratios["train"] + self.ratios["validation"]
                shares = {part: self.ratios[part] / total for part in ("train", "validation")}
                (parts,) = split_by_content(fold["train"], shares, seed=self.split_seed)
                return {**parts, "test": fold["test"]}
        except ValueError as error:  # fewer contents than parts or folds
            raise ConfigError("data.ratios" if self.split == "content" else "data.folds",
                              f"cannot be met by {self.root}: {error}") from None
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
    >>> ModelConfig("hallucinated_iqa", {"generator": {"filters": 8}}).build().generator.filters
    8
    >>> ModelConfig("hallucinated_iqa", {"generator": {"filter": 8}})
    Traceback (most recent call last):
    ...
    iqa_keras.training.config.ConfigError: `arguments.generator.filter` is not an argument of HallucinationGenerator. Expected one of: filters, num_downsamples, num_residual_blocks, name, dtype, trainable
    """

    name: str = "siamese_difference"
    arguments: dict = field(default_factory=dict)
    pretrained: str | None = None

    def __post_init__(self):
        _check_choice("name", self.name, sorted(MODELS))
        _check_type("arguments", self.arguments, dict, "a mapping")
        if self.name == "hallucinated_iqa":
            self._check_hallucinated_iqa()
            return
        if self.pretrained is not None:
            raise ConfigError(
                "pretrained",
                f"is for name: hallucinated_iqa (recipe (b)), not {self.name}. Received: {self.pretrained!r}",
            )
        _check_known_arguments("arguments", self.arguments, MODELS[self.name])
        output_keys = self.arguments.get("output_keys", ["score"])
        if list(output_keys) != ["score"]:
            raise ConfigError(
                "arguments.output_keys",
                f"must be ['score']: training fits the score. Received: {output_keys!r}",
            )

    def build(self) -> keras.Model:
        """A new model; a value its constructor rejects raises `ConfigError`."""
        if self.name == "hallucinated_iqa":
            return self._build_hallucinated_iqa()
        return _construct(MODELS[self.name], "arguments", self.arguments)

    def check_files(self) -> None:
        """Raises `ConfigError` when `pretrained` names no file.

        Example:
        >>> ModelConfig("hallucinated_iqa", pretrained="missing.keras").check_files()
        Traceback (most recent call last):
        ...
        iqa_keras.training.config.ConfigError: `pretrained` names no file. Received: 'missing.keras'
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
            _check_type(name, arguments, dict, "a mapping of the part's arguments")
            _check_known_arguments(name, arguments, HALLUCINATED_PARTS[part])
            if "feature_channels" in arguments:
                raise ConfigError(
                    f"{name}.feature_channels",
                    f"follows the generator's features: remove it. Received: {arguments['feature_channels']!r}",
                )

    def _build_hallucinated_iqa(self) -> HallucinatedIQA:
        """Recipe (a): new parts; recipe (b): `for_no_reference_data` of `pretrained`."""
        if self.pretrained is None:
            generator = self._part("generator")
            return HallucinatedIQA(
                generator=generator,
                discriminator=self._part("discriminator"),
                regressor=self._part("regressor", generator.feature_channels),
            )
        self.check_files()
        pretrained = keras.saving.load_model(self.pretrained, compile=False)
        if not isinstance(pretrained, HallucinatedIQA):
            raise ConfigError(
                "pretrained",
                f"must be a saved HallucinatedIQA. Received: {self.pretrained!r}, a {type(pretrained).__name__}",
            )
        regressor = None
        if "regressor" in self.arguments:
            regressor = self._part("regressor", pretrained.generator.feature_channels)
        return HallucinatedIQA.for_no_reference_data(pretrained, regressor=regressor)

    def _part(self, part: str, *positional) -> keras.Model:
        return _construct(HALLUCINATED_PARTS[part], f"arguments.{part}", self.arguments.get(part, {}), *positional)


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
        _check_choice("name", self.name, sorted(LOSSES))
        _check_number("weight", self.weight, minimum=0.0)
        _check_type("arguments", self.arguments, dict, "a mapping")
        _check_known_arguments("arguments", self.arguments, LOSSES[self.name])
        self.build()

    def build(self) -> keras.losses.Loss:
        """The loss object (without its weight)."""
        return _construct(LOSSES[self.name], "arguments", self.arguments)


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
        _check_number("learning_rate", self.learning_rate, minimum=0.0, inclusive=False)
        _check_number("weight_decay", self.weight_decay, minimum=0.0)
        _check_number("warmup_epochs", self.warmup_epochs, minimum=0.0)
        _check_number("final_learning_rate_ratio", self.final_learning_rate_ratio, 0.0, 1.0)
        if self.clipnorm is not None:
            _check_number("clipnorm", self.clipnorm, minimum=0.0, inclusive=False)

    def schedule(self, steps_per_epoch: int, epochs: int) -> keras.optimizers.schedules.CosineDecay:
        """The learning rate by step, for `epochs` epochs of `steps_per_epoch` steps.

        Example:
        >>> schedule = OptimizerConfig(learning_rate=1e-3, warmup_epochs=1).schedule(10, 3)
        >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 20, 30)]
        [0.0, 0.0005, 0.001, 0.0005, 0.0]
        """
        total_steps = steps_per_epoch * epochs
        warmup_steps = min(round(self.warmup_epochs * steps_per_epoch), total_steps)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup_steps else self.learning_rate,
            decay_steps=max(total_steps - warmup_steps, 1),
            alpha=self.final_learning_rate_ratio,
            warmup_target=self.learning_rate if warmup_steps else None,
            warmup_steps=warmup_steps,
        )

    def build(self, steps_per_epoch: int, epochs: int) -> keras.optimizers.AdamW:
        """AdamW following `schedule(steps_per_epoch, epochs)`."""
        return keras.optimizers.AdamW(
            learning_rate=self.schedule(steps_per_epoch, epochs),
            weight_decay=self.weight_decay,
            clipnorm=self.clipnorm,
        )


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
            _check_number(name, getattr(self, name), minimum=0.0, inclusive=False)
        _check_type("loss_weights", self.loss_weights, dict, "a mapping")
        for key, weight in self.loss_weights.items():
            if key not in DEFAULT_LOSS_WEIGHTS:
                raise ConfigError(
                    f"loss_weights.{key}",
                    f"is not a loss weight of HallucinatedIQA. Expected one of: {', '.join(DEFAULT_LOSS_WEIGHTS)}",
                )
            _check_number(f"loss_weights.{key}", weight, minimum=0.0)
        weights = {**DEFAULT_LOSS_WEIGHTS, **self.loss_weights}
        object.__setattr__(self, "loss_weights", {key: float(weights[key]) for key in DEFAULT_LOSS_WEIGHTS})
        _check_choice("adversarial_loss", self.adversarial_loss, ADVERSARIAL_LOSSES)
        _check_type("quality_aware", self.quality_aware, bool, "true or false")
        _check_number("quality_threshold", self.quality_threshold, minimum=0.0, inclusive=False)

    def build_optimizer(
        self, part: str, optimizer: OptimizerConfig, steps_per_epoch: int, epochs: int
    ) -> keras.optimizers.Adam:
        """Adam for `part` ("generator" or "discriminator") on `optimizer`'s schedule
        shape and gradient clipping, peaking at the part's learning rate.

        Example:
        >>> adam = GanConfig(generator_learning_rate=1e-3).build_optimizer("generator", OptimizerConfig(), 10, 2)
        >>> round(float(adam.learning_rate), 6), adam.beta_1  # step 0: the warm-up's start
        (0.0, 0.5)
        """
        peak = dataclasses.replace(optimizer, learning_rate=getattr(self, f"{part}_learning_rate"))
        return keras.optimizers.Adam(
            learning_rate=peak.schedule(steps_per_epoch, epochs), beta_1=0.5, clipnorm=optimizer.clipnorm
        )


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
        _check_int("epochs", self.epochs, minimum=1)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("strategy", self.strategy, STRATEGIES)
        if self.early_stopping_patience is not None:
            _check_int("early_stopping_patience", self.early_stopping_patience, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        if self.srcc_capacity is not None:
            _check_int("srcc_capacity", self.srcc_capacity, minimum=2)


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
    >>> config_from_dict({"model": {"name": "hallucinated_iqa"}}).gan.adversarial_loss
    'hinge'
    >>> config_from_dict({"gan": {"quality_aware": True}})
    Traceback (most recent call last):
    ...
    iqa_keras.training.config.ConfigError: `gan` is for model.name hallucinated_iqa without model.pretrained (recipe (a)). Received: model.name 'siamese_difference', model.pretrained None
    """

    output_dir: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: list[LossTerm] = field(default_factory=lambda: [LossTerm("mae"), LossTerm("plcc")])
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    gan: GanConfig | None = None

    def __post_init__(self):
        _check_type("output_dir", self.output_dir, str, "a path")
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


def config_from_dict(values: Mapping, overrides=None) -> TrainingConfig:
    """A `TrainingConfig` from nested plain values, after applying `overrides`.

    Args:
        values: nested mappings and lists, as read from a YAML or JSON file.
        overrides: changes to apply first: a mapping `dotted name -> value`, or a list
            of `"dotted.name=value"` strings whose values are read as YAML (so
            `"trainer.epochs=5"` gives an int). List items are named `losses[0].weight`.

    Example:
    >>> config = config_from_dict({}, ["trainer.epochs=5", "losses[0].weight=0.5"])
    >>> config.trainer.epochs, config.losses[0].weight
    (5, 0.5)
    """
    values = json.loads(json.dumps(values))  # a deep copy of plain values
    if overrides is not None:
        # Lists are replaced as a whole, so an override of an item needs the default list.
        defaults = config_to_dict(TrainingConfig())
        for name, value in defaults.items():
            if isinstance(value, list):
                values.setdefault(name, value)
        _apply_overrides(values, overrides)
    return _build(TrainingConfig, values, "")


def config_to_dict(config) -> dict:
    """The config as nested plain values (lists for tuples), ready for YAML or JSON."""
    return _plain(dataclasses.asdict(config))


def load_config(path: str | os.PathLike, overrides=None) -> TrainingConfig:
    """Reads a config file, `.yaml`/`.yml` or `.json`; see `config_from_dict` for overrides."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise ConfigError(path, f"is no config file: its name must end in one of {', '.join(_EXTENSIONS)}")
    try:
        file = open(path, encoding="utf-8")
    except (IsADirectoryError, PermissionError) as error:
        raise ConfigError(path, f"cannot be read: {error.strerror}") from None
    with file:
        try:
            values = json.load(file, object_pairs_hook=_unique_keys) if extension == ".json" else yaml.load(file, _YamlLoader)
        except (ValueError, yaml.YAMLError) as error:
            raise ConfigError(path, f"is not valid {'JSON' if extension == '.json' else 'YAML'}: {error}") from None
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(path, f"must hold a mapping of config sections. Received: {values!r}")
    return config_from_dict(values, overrides)


def _unique_keys(pairs: list[tuple]) -> dict:
    """A JSON object as a dict, refusing a key given twice (JSON would keep the last)."""
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"the key {twice[0]!r} is given twice in one object")
    return dict(pairs)


def save_config(config: TrainingConfig, path: str | os.PathLike) -> None:
    """Writes every field of `config` atomically, as YAML or JSON by the extension.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "config.yaml")
    >>> config = config_from_dict({"output_dir": "runs/demo", "data": {"root": "kadid10k"}})
    >>> save_config(config, path)
    >>> load_config(path) == config
    True
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise ValueError(f"A config file must end in one of {_EXTENSIONS}. Received: {path}")
    values = config_to_dict(config)
    text = io.StringIO()
    if extension == ".json":
        json.dump(values, text, indent=2)
        text.write("\n")
    else:
        yaml.safe_dump(values, text, sort_keys=False)
    write_atomic(path, lambda file: file.write(text.getvalue().encode("utf-8")))


def _build(cls, values, path: str):
    """`cls(**values)`, nested dataclasses built from their own values merged onto the
    field's default; every error is a `ConfigError` named from the top of the config."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(path or "config", f"must be a mapping of {cls.__name__} fields. Received: {values!r}")
    fields = {item.name: item for item in dataclasses.fields(cls)}
    unknown = [key for key in values if key not in fields]
    if unknown:
        more = f" (also unknown: {', '.join(map(str, unknown[1:]))})" if unknown[1:] else ""
        raise ConfigError(
            _join(path, str(unknown[0])),
            f"is not a known key{more}. Expected one of: {', '.join(fields)}",
        )
    missing = [
        name for name, item in fields.items()
        if name not in values
        and item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(_join(path, missing[0]), "is required")
    hints = typing.get_type_hints(cls)
    arguments = {}
    for name, value in values.items():
        hint, child = hints[name], _join(path, name)
        if value is not None and typing.get_origin(hint) in (typing.Union, types.UnionType):
            members = [item for item in typing.get_args(hint) if item is not type(None)]
            if len(members) == 1 and dataclasses.is_dataclass(members[0]):
                hint = members[0]  # `GanConfig | None` given values: a GanConfig
        if dataclasses.is_dataclass(hint):
            if isinstance(value, Mapping):
                default = _default(fields[name])
                value = {**(_fields_of(default) if default is not None else {}), **value}
            value = _build(hint, value, child)
        elif typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            if not isinstance(value, list):
                raise ConfigError(child, f"must be a list. Received: {value!r}")
            item_class = typing.get_args(hint)[0]
            value = [_build(item_class, item, f"{child}[{index}]") for index, item in enumerate(value)]
        arguments[name] = value
    try:
        return cls(**arguments)
    except ConfigError as error:
        raise error.within(path) from None
    except (ValueError, TypeError) as error:
        raise _named(error, path, list(fields)) from error


def _default(item: dataclasses.Field):
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def _fields_of(instance) -> dict:
    """The fields of a dataclass instance, one level deep (nested values kept as they are)."""
    return {item.name: getattr(instance, item.name) for item in dataclasses.fields(instance)}


def _named(error: Exception, path: str, names) -> ConfigError:
    """A `ConfigError` from another class's validation error, named from `path`.

    The first backquoted name in the message that is one of `names` (a field or an
    argument) becomes the dotted name, e.g. "`batch_size` must be ..." under
    `data.train` becomes "`data.train.batch_size` must be ...".
    """
    message = str(error)
    for match in re.finditer(r"`(\w+)`", message):
        if match[1] in names:
            detail = message[match.end():].lstrip() if match.start() == 0 else message
            return ConfigError(_join(path, match[1]), detail)
    return ConfigError(path or "config", f"is invalid: {message}")


def _apply_overrides(values: dict, overrides) -> None:
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = []
        for override in overrides:
            name, separator, text = str(override).partition("=")
            if not separator or not name.strip():
                raise ConfigError(str(override), "is no override: an override reads `dotted.name=value`")
            try:
                pairs.append((name.strip(), yaml.load(text, _YamlLoader)))
            except yaml.YAMLError as error:
                raise ConfigError(name.strip(), f"is given a value that is not valid YAML: {error}") from None
    for name, value in pairs:
        _set(values, name, value)


def _set(values: dict, name: str, value) -> None:
    """Sets `values[a][b][0][c] = value` for the name `a.b[0].c`, making missing sections."""
    keys = [int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", name)]
    if not keys:
        raise ConfigError(name, "is no override: an override must name a field")
    container = values
    for position, key in enumerate(keys[:-1]):
        if isinstance(key, int):
            if not isinstance(container, list) or key >= len(container):
                raise ConfigError(_display(keys[:position + 1]), "names no item of the list in the config")
            container = container[key]
        else:
            if not isinstance(container, dict):
                raise ConfigError(_display(keys[:position]), "is a list: name an item, e.g. "
                                  f"{_display(keys[:position])}[0].{key}")
            if not isinstance(container.get(key), (dict, list)):
                container[key] = {}
            container = container[key]
    last = keys[-1]
    if isinstance(last, int) and (not isinstance(container, list) or last >= len(container)):
        raise ConfigError(_display(keys), "names no item of the list in the config")
    if isinstance(last, str) and not isinstance(container, dict):
        raise ConfigError(_display(keys[:-1]), f"is a list: name an item, e.g. {_display(keys[:-1])}[0].{last}")
    container[last] = value


def _display(keys) -> str:
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in keys).lstrip(".")


def _plain(value):
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parameters(callable_) -> list[str]:
    return list(inspect.signature(callable_).parameters)


def _construct(callable_, name: str, arguments: dict, *positional):
    """`callable_(*positional, **arguments)`; a value it rejects raises a `ConfigError`
    named from `name` (e.g. `arguments.generator.filters`)."""
    try:
        return callable_(*positional, **arguments)
    except (ValueError, TypeError) as error:
        raise _named(error, name, _parameters(callable_)) from error


def _check_known_arguments(name: str, arguments: dict, callable_) -> None:
    parameters = inspect.signature(callable_).parameters
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        known = [key for key, parameter in parameters.items() if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
        known += ["name", "dtype", "trainable"]
    else:
        known = list(parameters)
    for key in arguments:
        if key not in known:
            raise ConfigError(
                f"{name}.{key}",
                f"is not an argument of {callable_.__name__}. Expected one of: {', '.join(known)}",
            )



def _check_type(name, value, expected_type, description) -> None:
    if not isinstance(value, expected_type):
        raise ConfigError(name, f"must be {description}. Received: {value!r}")


def _check_choice(name, value, choices) -> None:
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(map(str, choices))}. Received: {value!r}")


def _check_int(name, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}. Received: {value!r}")


def _check_number(name, value, minimum: float, maximum: float = math.inf, inclusive: bool = True) -> None:
    in_range = is_finite_number(value) and (value >= minimum if inclusive else value > minimum) and value <= maximum
    if not in_range:
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if maximum < math.inf:
            bound = f"in [{minimum:g}, {maximum:g}]"
        raise ConfigError(name, f"must be a number {bound}. Received: {value!r}")
