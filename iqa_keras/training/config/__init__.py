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
iqa_keras.training.config.checks.ConfigError: `optimizer.learning_rate` must be a number > 0. Received: -1

The package's modules: `schema` (the sections, checking their values), `conversion`
(plain values to a config and back, overrides), `files` (YAML and JSON files), `builders`
(the model, loss, optimizers and data parts a config gives), `registry` (the names of
models and losses), `checks` (`ConfigError` and the value checks).
"""

from iqa_keras.training.config.builders import (
    build_gan_optimizer,
    build_loss,
    build_model,
    build_optimizer,
    learning_rate_schedule,
    read_parts,
    split_records,
)
from iqa_keras.training.config.checks import ConfigError
from iqa_keras.training.config.conversion import config_from_dict, config_to_dict
from iqa_keras.training.config.files import load_config, save_config
from iqa_keras.training.config.registry import HALLUCINATED_PARTS, LOSSES, MODELS
from iqa_keras.training.config.schema import (
    PARTS,
    SPLITS,
    DataConfig,
    GanConfig,
    LossTerm,
    ModelConfig,
    OptimizerConfig,
    TrainerConfig,
    TrainingConfig,
)

__all__ = [
    "MODELS",
    "HALLUCINATED_PARTS",
    "LOSSES",
    "SPLITS",
    "PARTS",
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
    "build_model",
    "build_loss",
    "learning_rate_schedule",
    "build_optimizer",
    "build_gan_optimizer",
    "read_parts",
    "split_records",
]
