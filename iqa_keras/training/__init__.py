"""Training and fine-tuning IQA models with `model.fit`, from a config file.

- `config`: the run's configuration as dataclasses, read from and written to YAML/JSON;
- `precision`: the dtype policy (`auto`, `float32`, `mixed_bfloat16`, `mixed_float16`);
- `strategy`: the `tf.distribute` strategy (`auto`, `one`, `mirrored`, `multiworker`);
- `callbacks`: best checkpoint, logs, early stopping and resuming;
- `fit`: `train(config)`, `train_from_file(path)` and `finetune(...)`.

Example:
>>> from iqa_keras.training import config_from_dict
>>> config_from_dict({"trainer": {"epochs": 2}}).trainer.epochs
2
"""

import importlib

from iqa_keras.training.config import (
    ConfigError,
    DataConfig,
    LossTerm,
    ModelConfig,
    OptimizerConfig,
    TrainerConfig,
    TrainingConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    load_config,
    read_parts,
    save_config,
    split_records,
)
from iqa_keras.training.precision import precision_policy, resolve_precision

# These load TensorFlow (tf.data, tf.distribute), so they load on first use: the
# configs and precision policies work on any backend.
_LAZY = {
    "FinetuneResult": "fit",
    "TrainResult": "fit",
    "compile_model": "fit",
    "finetune": "fit",
    "predict_scores": "validation",
    "train": "fit",
    "train_from_file": "fit",
    "train_splits": "repeated",
    "is_chief": "strategy",
    "make_strategy": "strategy",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"iqa_keras.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'iqa_keras.training' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataConfig",
    "LossTerm",
    "ModelConfig",
    "OptimizerConfig",
    "TrainerConfig",
    "TrainingConfig",
    "build_model",
    "read_parts",
    "split_records",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "save_config",
    "FinetuneResult",
    "TrainResult",
    "compile_model",
    "finetune",
    "predict_scores",
    "train",
    "train_from_file",
    "train_splits",
    "precision_policy",
    "resolve_precision",
    "is_chief",
    "make_strategy",
]
