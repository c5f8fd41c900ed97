"""TF Serving's `models.config`: several exported models served by one server.

Start TF Serving with `--model_config_file=models.config`; each model is then served
from its base folder (the `out_dir` of `export_saved_model`), its latest version by
default, under `/v1/models/<name>`.

Example:
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "models.config")
>>> write_models_config(path, {"fr": "/models/fr", "nr": "/models/nr"})
>>> print(open(path).read(), end="")
model_config_list {
  config {
    name: "fr"
    base_path: "/models/fr"
    model_platform: "tensorflow"
  }
  config {
    name: "nr"
    base_path: "/models/nr"
    model_platform: "tensorflow"
  }
}
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from iqa_keras.atomic import write_atomic

__all__ = ["write_models_config"]

_FORBIDDEN = ('"', "\\", "\n", "\r")


def write_models_config(path: str | os.PathLike, models: Mapping[str, str | os.PathLike]) -> None:
    """Writes a `model_config_list` for `models` (name -> base folder), atomically.

    Models are listed in the order of `models`. Names and folders are written as given:
    use the folders as the server will see them (e.g. inside its container).
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(
            f"`models` must be a non-empty dict of name -> base path. Received: models={models!r}"
        )
    lines = ["model_config_list {"]
    for name, base_path in models.items():
        if isinstance(base_path, os.PathLike):
            base_path = os.fspath(base_path)
        for label, value in (("name", name), ("base path", base_path)):
            if not isinstance(value, str) or not value or any(char in value for char in _FORBIDDEN):
                raise ValueError(
                    f"Each model's {label} must be a non-empty string without quotes, "
                    f"backslashes or line breaks. Received: {name!r}: {base_path!r}"
                )
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{base_path}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    text = "\n".join([*lines, "}", ""])
    write_atomic(os.fspath(path), lambda file: file.write(text.encode("utf-8")))
