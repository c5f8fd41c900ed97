"""Argument checks shared by the learned models' constructors and `compile()`s."""

from __future__ import annotations


def is_auto(argument) -> bool:
    """True for the string "auto", which `compile()` arguments use for "the model's default"."""
    return isinstance(argument, str) and argument == "auto"


def checked_output_keys(output_keys, known: tuple[str, ...]) -> tuple[str, ...]:
    """`output_keys` as a tuple of distinct keys from `known` that includes "score"."""
    keys = tuple(output_keys) if isinstance(output_keys, (list, tuple)) else None
    if keys is None or "score" not in keys or len(set(keys)) != len(keys) or not set(keys) <= set(known):
        raise ValueError(
            f"`output_keys` must be a list or tuple of distinct keys from {known}, "
            f"including 'score'. Received: output_keys={output_keys!r}"
        )
    return keys
