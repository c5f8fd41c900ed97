"""A config from nested plain values and back: `config_from_dict`, `config_to_dict`.

A section's values are merged key by key onto its defaults; unknown keys and bad values
raise `ConfigError` named from the top of the config (`data.train.batch_size`).

Example:
>>> config_to_dict(config_from_dict({"trainer": {"epochs": 5}}))["trainer"]["epochs"]
5
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Mapping

import yaml

from iqa_keras.training.config.checks import ConfigError, join, named
from iqa_keras.training.config.schema import TrainingConfig
from iqa_keras.training.config.yaml_loader import YamlLoader

__all__ = ["config_from_dict", "config_to_dict"]


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
            join(path, str(unknown[0])),
            f"is not a known key{more}. Expected one of: {', '.join(fields)}",
        )
    missing = [
        name for name, item in fields.items()
        if name not in values
        and item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(join(path, missing[0]), "is required")
    hints = typing.get_type_hints(cls)
    arguments = {}
    for name, value in values.items():
        hint, child = hints[name], join(path, name)
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
        raise named(error, path, list(fields)) from error


def _default(item: dataclasses.Field):
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def _fields_of(instance) -> dict:
    """The fields of a dataclass instance, one level deep (nested values kept as they are)."""
    return {item.name: getattr(instance, item.name) for item in dataclasses.fields(instance)}



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
                pairs.append((name.strip(), yaml.load(text, YamlLoader)))
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

