"""`ConfigError` and the checks of config values: every error names the field by its
dotted name from the top of the config (`data.train.batch_size`) and the value received.

Example:
>>> check_int("epochs", 0, minimum=1)
Traceback (most recent call last):
...
iqa_keras.training.config.checks.ConfigError: `epochs` must be an integer >= 1. Received: 0
"""

from __future__ import annotations

import inspect
import math
import re

from iqa_keras._numbers import is_finite_number

__all__ = ["ConfigError", "check_choice", "check_int", "check_known_arguments", "check_number",
           "check_type", "construct", "join", "named"]


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
        return ConfigError(join(parent, self.field_name), self.detail) if parent else self



def named(error: Exception, path: str, names) -> ConfigError:
    """A `ConfigError` from another class's validation error, named from `path`.

    The first backquoted name in the message that is one of `names` (a field or an
    argument) becomes the dotted name, e.g. "`batch_size` must be ..." under
    `data.train` becomes "`data.train.batch_size` must be ...".
    """
    message = str(error)
    for match in re.finditer(r"`(\w+)`", message):
        if match[1] in names:
            detail = message[match.end():].lstrip() if match.start() == 0 else message
            return ConfigError(join(path, match[1]), detail)
    return ConfigError(path or "config", f"is invalid: {message}")



def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name



def construct(callable_, name: str, arguments: dict, *positional):
    """`callable_(*positional, **arguments)`; a value it rejects raises a `ConfigError`
    named from `name` (e.g. `arguments.generator.filters`)."""
    try:
        return callable_(*positional, **arguments)
    except (ValueError, TypeError) as error:
        raise named(error, name, list(inspect.signature(callable_).parameters)) from error


def check_known_arguments(name: str, arguments: dict, callable_) -> None:
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




def check_type(name, value, expected_type, description) -> None:
    if not isinstance(value, expected_type):
        raise ConfigError(name, f"must be {description}. Received: {value!r}")


def check_choice(name, value, choices) -> None:
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(map(str, choices))}. Received: {value!r}")


def check_int(name, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}. Received: {value!r}")


def check_number(name, value, minimum: float, maximum: float = math.inf, inclusive: bool = True) -> None:
    in_range = is_finite_number(value) and (value >= minimum if inclusive else value > minimum) and value <= maximum
    if not in_range:
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if maximum < math.inf:
            bound = f"in [{minimum:g}, {maximum:g}]"
        raise ConfigError(name, f"must be a number {bound}. Received: {value!r}")
