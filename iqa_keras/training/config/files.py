"""Config files: `load_config` reads YAML or JSON, `save_config` writes every field.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "config.yaml")
>>> config = config_from_dict({"output_dir": "runs/demo", "data": {"root": "kadid10k"}})
>>> save_config(config, path)
>>> load_config(path) == config
True
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping

import yaml

from iqa_keras.atomic import write_atomic
from iqa_keras.training.config.checks import ConfigError
from iqa_keras.training.config.conversion import config_from_dict, config_to_dict
from iqa_keras.training.config.schema import TrainingConfig
from iqa_keras.training.config.yaml_loader import YamlLoader

__all__ = ["load_config", "save_config"]

_EXTENSIONS = (".yaml", ".yml", ".json")


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
            values = json.load(file, object_pairs_hook=_unique_keys) if extension == ".json" else yaml.load(file, YamlLoader)
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
    """Writes every field of `config` atomically, as YAML or JSON by the extension."""
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
