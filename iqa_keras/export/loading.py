"""Loading an exported model back: its signatures' inputs and outputs, and predictions.

Example:
>>> import tempfile, keras, numpy as np
>>> image = keras.Input((None, None, 3), name="distorted")
>>> model = keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)[:, :1])
>>> from iqa_keras.export import export_saved_model
>>> exported = load_exported(export_saved_model(model, tempfile.mkdtemp()))
>>> spec = signature_io(exported, "serve_bytes")
>>> list(spec.inputs), {name: output.shape.as_list() for name, output in spec.outputs.items()}
(['image_bytes'], {'score': [None]})
>>> exported.predict_arrays(image=np.full((2, 8, 8, 3), 7.0))["score"].tolist()
[7.0, 7.0]
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from iqa_keras.export.signatures import BYTES_SIGNATURE, DEFAULT_SIGNATURE

__all__ = ["ExportedModel", "SignatureIO", "load_exported", "signature_io"]


@dataclasses.dataclass(frozen=True)
class SignatureIO:
    """A signature's inputs and outputs, by name (shapes use None for any size)."""

    inputs: dict[str, tf.TensorSpec]
    outputs: dict[str, tf.TensorSpec]


class ExportedModel:
    """An exported model loaded for inference: numpy arrays or file bytes in, numpy out.

    Attributes:
        path: the version folder it was loaded from.
        loaded: what `tf.saved_model.load` returned.
    """

    def __init__(self, loaded, path: str):
        self.loaded = loaded
        self.path = path

    @property
    def signatures(self):
        """The SavedModel's signatures by name, as `tf.saved_model.load` gives them."""
        return self.loaded.signatures

    def predict_arrays(self, **images) -> dict[str, np.ndarray]:
        """Runs `serving_default` on image batches (N, H, W, 3), values 0-255.

        Float arrays of any precision and uint8 arrays are cast to float32.
        Keyword arguments: `reference` and `distorted`, or `image`.
        """
        inputs = {name: _image_batch(name, value) for name, value in images.items()}
        return self._run(DEFAULT_SIGNATURE, inputs)

    def predict_bytes(self, **contents) -> dict[str, np.ndarray]:
        """Runs `serve_bytes` on encoded image files (bytes, or a list of them).

        Keyword arguments: `reference_bytes` and `distorted_bytes`, or `image_bytes`.
        """
        inputs = {name: _bytes_batch(name, value) for name, value in contents.items()}
        return self._run(BYTES_SIGNATURE, inputs)

    def _run(self, name, inputs):
        expected = sorted(signature_io(self, name).inputs)
        if sorted(inputs) != expected:
            raise ValueError(
                f"Signature {name!r} of {self.path} takes inputs {expected}. Received: {sorted(inputs)}"
            )
        outputs = self.signatures[name](**inputs)
        return {key: value.numpy() for key, value in outputs.items()}


def load_exported(path: str | os.PathLike) -> ExportedModel:
    """Loads a version folder, or the latest version under a model's base folder.

    Raises:
        FileNotFoundError: `path` holds neither `saved_model.pb` nor version folders.
    """
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        # The highest version that is complete (one being copied has no saved_model.pb yet),
        # by its folder's own name ("007" is version 7).
        versions = {
            int(name): name
            for name in (os.listdir(path) if os.path.isdir(path) else [])
            if name.isascii() and name.isdigit() and os.path.isfile(os.path.join(path, name, "saved_model.pb"))
        }
        if not versions:
            raise FileNotFoundError(
                f"No exported model at {path}: expected saved_model.pb or version folders (1, 2, ...) "
                "holding one."
            )
        path = os.path.join(path, versions[max(versions)])
    return ExportedModel(tf.saved_model.load(path), path)


def signature_io(loaded, name: str = DEFAULT_SIGNATURE) -> SignatureIO:
    """The inputs and outputs of signature `name` of a loaded SavedModel or `ExportedModel`."""
    if name not in loaded.signatures:
        raise ValueError(
            f"No signature named {name!r}; the model has {sorted(loaded.signatures)}. "
            f"Received: name={name!r}"
        )
    function = loaded.signatures[name]
    _, inputs = function.structured_input_signature
    outputs = {
        key: tf.TensorSpec(value.shape, value.dtype, key)
        for key, value in function.structured_outputs.items()
    }
    return SignatureIO(inputs=dict(inputs), outputs=outputs)


def _image_batch(name, value) -> np.ndarray:
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or array.dtype == np.uint8):
        raise TypeError(
            f"`{name}` must hold float or uint8 pixel values 0-255. Received: dtype={array.dtype}"
        )
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(
            f"`{name}` must be a batch of RGB images (N, H, W, 3). Received: shape={array.shape}"
        )
    return array.astype(np.float32)


def _bytes_batch(name, value) -> tf.Tensor:
    if isinstance(value, bytes):
        value = [value]
    if not isinstance(value, str):
        value = list(value)  # once: a generator is consumed by the check below
    if isinstance(value, str) or not all(isinstance(item, bytes) for item in value):
        raise TypeError(
            f"`{name}` must be the bytes of an encoded image file, or a list of them (read "
            f"files in binary mode). Received: {type(value).__name__}"
        )
    return tf.constant(value, tf.string)
