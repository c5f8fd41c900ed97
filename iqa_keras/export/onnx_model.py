"""Exporting a model to ONNX, for ONNX Runtime and other non-TensorFlow servers.

The ONNX graph is the `serving_default` signature: float32 images (N, H, W, 3), 0-255,
in (`reference` and `distorted`, or `image`), the same named outputs out ("score" (N,),
maps). Encoded bytes are not supported there: decode on the client. Needs the optional
extra `onnx` (tf2onnx and onnxruntime): `pip install iqa-keras[onnx]`.

Example:
>>> import importlib.util, os, tempfile, keras
>>> image = keras.Input((None, None, 3), name="image")
>>> model = keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)[:, :1])
>>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
>>> if importlib.util.find_spec("tf2onnx"):  # the extra is optional
...     path = export_onnx(model, path)
>>> os.path.exists(path) == bool(importlib.util.find_spec("tf2onnx"))
True
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from iqa_keras.atomic import write_atomic
from iqa_keras.export.signatures import DEFAULT_SIGNATURE, serving_functions

__all__ = ["export_onnx"]


def export_onnx(model: keras.Model, path: str | os.PathLike, opset: int | None = None) -> str:
    """Converts the model's `serving_default` signature to an ONNX file, atomically.

    Args:
        model: a functional Keras model with FR or NR inputs (see `signatures`).
        path: the `.onnx` file to write.
        opset: the ONNX opset; None for tf2onnx's default.

    Returns:
        `path`; its folder is created if missing.

    Raises:
        ImportError: tf2onnx is not installed.
        FileExistsError: `path` exists (a file or a folder), or appeared during the
            conversion: it is never overwritten.
    """
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists, refusing to overwrite it")
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs tf2onnx (and onnxruntime to run the result): "
            "install iqa-keras[onnx]."
        ) from error
    function, specs = serving_functions(model)[DEFAULT_SIGNATURE]
    function = tf.function(function, input_signature=specs, autograph=False)
    proto, _ = tf2onnx.convert.from_function(function, specs, opset=opset)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, lambda file: file.write(proto.SerializeToString()), replace=False)
    return path
