"""Presets, keras-hub's convention: `Model.from_preset(name)` loads a bundled model as its class.

Example:
>>> from iqa_keras.models import SiameseDifferenceIQA
>>> type(SiameseDifferenceIQA.from_preset("fr-default")).__name__
'SiameseDifferenceIQA'
>>> SiameseDifferenceIQA.from_preset("nr-default")
Traceback (most recent call last):
...
ValueError: The preset 'nr-default' is a HallucinatedIQA, not a SiameseDifferenceIQA. ...
"""

from __future__ import annotations

__all__ = ["PresetMixin"]


class PresetMixin:
    """Gives a model class `from_preset`: a bundled model (or `.keras` file) of that class."""

    @classmethod
    def from_preset(cls, preset: str, compile: bool = False):  # noqa: A002 (Keras' own name)
        """Loads the bundled model `preset` (a name of `iqa-keras models`, or a `.keras` path).

        Args:
            preset: e.g. `"fr-default"`, `"nr-default"`, or the path of a `.keras` file.
            compile: load with the optimizer and losses it was saved with (default: no,
                as for inference; `compile()` it to train).

        Raises:
            FileNotFoundError: no such file or bundled name (the message lists the names).
            ValueError: the preset holds a model of another class.
        """
        from iqa_keras.loading import bundled_models, load

        model = load(preset, compile=compile)
        if not isinstance(model, cls):
            others = [name for name in bundled_models() if name != preset]
            raise ValueError(
                f"The preset {preset!r} is a {type(model).__name__}, not a {cls.__name__}. "
                f"Other bundled presets: {', '.join(others) or 'none'}."
            )
        return model
