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

from iqa_keras.training.config import (
    ConfigError,
    DataConfig,
    LossTerm,
    ModelConfig,
    OptimizerConfig,
    TrainerConfig,
    TrainingConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from iqa_keras.training.fit import (
    FinetuneResult,
    TrainResult,
    compile_model,
    finetune,
    predict_scores,
    train,
    train_from_file,
)
from iqa_keras.training.precision import precision_policy, resolve_precision
from iqa_keras.training.strategy import is_chief, make_strategy

__all__ = [
    "ConfigError",
    "DataConfig",
    "LossTerm",
    "ModelConfig",
    "OptimizerConfig",
    "TrainerConfig",
    "TrainingConfig",
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
    "precision_policy",
    "resolve_precision",
    "is_chief",
    "make_strategy",
]
