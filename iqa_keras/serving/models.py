"""Loading a TF Serving model base path (`<base>/<version>/saved_model.pb`) and running it.

Every numbered version under the base path is loaded; requests name a version or get
the latest (the highest number). Inputs are checked against the signature (names,
dtypes, shapes) before anything runs, so that a bad request is a `ServingError` with
status 400 that says what was expected, and an unknown model or version one with 404.

Example:
>>> import tempfile, numpy as np, tensorflow as tf
>>> module = tf.Module()
>>> module.mean = tf.function(lambda image: {"score": tf.reduce_mean(image, axis=[1, 2, 3])},
...     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
>>> base = tempfile.mkdtemp()
>>> tf.saved_model.save(module, f"{base}/7", signatures={"serving_default": module.mean})
>>> model = load_model(base, model_name="iqa")
>>> model.latest.version, model.latest.predict({"image": np.full((1, 2, 2, 3), 6, np.float32)})
(7, {'score': array([6.], dtype=float32)})
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from iqa_keras.serving.limits import DEFAULT_MAX_PIXELS
from iqa_keras.serving.protocol import DEFAULT_SIGNATURE, ServingError

__all__ = ["DEFAULT_MAX_PIXELS", "ServedModel", "ServedVersion", "check_input_names", "load_model", "request_pixels"]



class ServedVersion:
    """One loaded version of a model: its signatures, ready to run from any thread.

    Attributes:
        version: the version number (the folder's name).
        signature_defs: the SavedModel's signature definitions as TF Serving's metadata
            API shows them (`{"serving_default": {"inputs": ..., "outputs": ...,
            "method_name": ...}, ...}`).
    """

    def __init__(self, path: str, version: int):
        self.version = version
        self._loaded = tf.saved_model.load(path)  # the signatures need it alive
        self._signatures = dict(self._loaded.signatures)
        self.signature_defs = _read_signature_defs(path)

    def input_specs(self, signature_name: str = DEFAULT_SIGNATURE) -> dict[str, tf.TensorSpec]:
        """The named inputs of a signature; a 400 `ServingError` for an unknown signature."""
        if signature_name not in self._signatures:
            raise ServingError(
                f'Serving signature name: "{signature_name}" not found in signature def. '
                f"Available: {sorted(self._signatures)}"
            )
        return dict(self._signatures[signature_name].structured_input_signature[1])

    def predict(self, inputs: Mapping[str, np.ndarray], signature_name: str = DEFAULT_SIGNATURE,
                max_pixels: int | None = None) -> dict:
        """Runs a signature on named arrays and returns its named outputs as NumPy arrays.

        Raises:
            ServingError: (400) an unknown signature, missing or unexpected inputs, an
                array of the wrong dtype or shape, NaN or infinite pixels, or inputs the
                model rejects (such as bytes that are no image); (413) more pixels than
                `max_pixels` in all the request's images together.
        """
        specs = self.input_specs(signature_name)
        check_input_names(specs, inputs)
        if max_pixels is not None and (pixels := request_pixels(inputs)) > max_pixels:
            raise ServingError(
                f"The request's images hold {pixels} pixels, over this server's budget of {max_pixels} "
                "pixels per request (max_pixels): send fewer or smaller images",
                status=413,
            )
        tensors = {name: _checked_tensor(name, inputs[name], spec) for name, spec in specs.items()}
        try:
            outputs = self._signatures[signature_name](**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise ServingError(f"Signature {signature_name!r} rejected the inputs: {_tf_message(error)}") from None
        return {name: value.numpy() for name, value in outputs.items()}


class ServedModel:
    """All loaded versions of one model under its name.

    Attributes:
        name: the model's name in request URLs.
        versions: `{version number: ServedVersion}`, in increasing order.
    """

    def __init__(self, name: str, versions: Mapping[int, ServedVersion]):
        self.name = name
        self.versions = dict(sorted(versions.items()))

    @property
    def latest(self) -> ServedVersion:
        return self.versions[max(self.versions)]

    def get(self, name: str, version: int | None = None) -> ServedVersion:
        """The version asked for (the latest when `None`); a 404 `ServingError` if there is none."""
        if name == self.name and version is None:
            return self.latest
        if name == self.name and version in self.versions:
            return self.versions[version]
        wanted = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        raise ServingError(
            f"Servable not found for request: {wanted}. This server has model {self.name!r}, "
            f"versions {list(self.versions)}",
            status=404,
        )

    def status(self, name: str, version: int | None = None) -> dict:
        """TF Serving's model status answer for one version, or for all when `version` is None."""
        asked = self.get(name, version)
        served = list(self.versions.values()) if version is None else [asked]
        return {
            "model_version_status": [
                {"version": str(item.version), "state": "AVAILABLE",
                 "status": {"error_code": "OK", "error_message": ""}}
                for item in served
            ]
        }

    def metadata(self, name: str, version: int | None = None) -> dict:
        """TF Serving's model metadata answer: the version's signature definitions."""
        served = self.get(name, version)
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": served.signature_defs}},
        }


def load_model(model_dir: str | os.PathLike, model_name: str | None = None) -> ServedModel:
    """Loads every version under a TF Serving base path; the name defaults to the folder's.

    Raises:
        ValueError: `model_dir` is not a folder, or holds no `<number>/saved_model.pb`.
    """
    model_dir = os.path.abspath(os.fspath(model_dir))
    if not os.path.isdir(model_dir):
        raise ValueError(f"The model folder does not exist or is not a folder. Received: model_dir={model_dir!r}")
    found = {
        int(entry): os.path.join(model_dir, entry)
        for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isfile(os.path.join(model_dir, entry, "saved_model.pb"))
    }
    if not found:
        raise ValueError(
            f"No model versions in {model_dir!r}: expected TF Serving's layout "
            f"<model_dir>/<version number>/saved_model.pb. Found: {sorted(os.listdir(model_dir))}"
        )
    name = model_name or os.path.basename(model_dir)
    return ServedModel(name, {version: ServedVersion(path, version) for version, path in found.items()})


def check_input_names(specs: Mapping[str, tf.TensorSpec], names: Iterable[str]) -> None:
    """Raises a 400 `ServingError` unless `names` are exactly the signature's inputs."""
    names = set(names)
    missing, unexpected = sorted(set(specs) - names), sorted(names - set(specs))
    if missing or unexpected:
        problems = [f"missing {missing}" if missing else "", f"unexpected {unexpected}" if unexpected else ""]
        raise ServingError(
            f"The signature's inputs are {sorted(specs)}; the request has {sorted(names)} "
            f"({', '.join(problem for problem in problems if problem)})"
        )


def request_pixels(inputs: Mapping[str, np.ndarray]) -> int:
    """The pixels of all the images in a request: N x H x W of each float batch (NHWC), and
    the sizes in the headers of encoded files (read without decoding them).

    Example:
    >>> request_pixels({"reference": np.zeros((2, 30, 40, 3), np.float32), "distorted": np.zeros((2, 30, 40, 3))})
    4800
    """
    total = 0
    for name, array in inputs.items():
        array = np.asarray(array)
        if array.dtype.kind in "OS":
            total += sum(_encoded_pixels(name, item) for item in array.reshape(-1))
        elif array.ndim >= 3:
            total += int(np.prod(array.shape[:-1]))
    return total


def _encoded_pixels(name: str, content: bytes) -> int:
    """Width x height from an encoded image's header; 0 for bytes that are no image (the
    signature rejects them with its own message)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.width * image.height
    except Image.DecompressionBombError as error:
        raise ServingError(f"Input {name!r}: {error}", status=413) from None
    except (OSError, ValueError, SyntaxError):
        return 0


def _checked_tensor(name: str, array, spec: tf.TensorSpec) -> tf.Tensor:
    array = np.asarray(array)
    if spec.dtype == tf.string:
        dtype_ok = array.dtype.kind in "OS"
    else:
        dtype_ok = array.dtype == spec.dtype.as_numpy_dtype
    if not dtype_ok:
        raise ServingError(f"Input {name!r} must be {spec.dtype.name}; received {array.dtype.name}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ServingError(f"Input {name!r} holds NaN or infinite values; pixels must be finite numbers, 0-255")
    if not spec.shape.is_compatible_with(array.shape):
        raise ServingError(
            f"Input {name!r} must have shape {_shape_text(spec.shape)} (-1: any size); "
            f"received shape {list(array.shape)}"
        )
    return tf.constant(array, dtype=spec.dtype)


def _shape_text(shape: tf.TensorShape) -> str:
    if shape.rank is None:
        return "any"
    return str([-1 if size is None else size for size in shape.as_list()])


def _tf_message(error: tf.errors.OpError) -> str:
    """TensorFlow's message without its preamble ("Graph execution error: ...") and node trace."""
    text = error.message.split(" [[")[0]
    if "assertion failed: [" in text:  # a tf.debugging assertion: its message and data, not its comparison
        printed = text.split("assertion failed: [", 1)[1].split(" [Condition ")[0]
        return printed.rstrip().removesuffix("]").replace("] [", " ").replace("\\'", "'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"\s*\[Op:[^\]]*\]$", "", lines[-1]) if lines else error.message


def _read_signature_defs(path: str) -> dict:
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    meta_graph = next((graph for graph in saved_model.meta_graphs if "serve" in graph.meta_info_def.tags), None)
    if meta_graph is None:
        raise ValueError(f"The SavedModel in {path!r} has no graph tagged 'serve', which TF Serving needs")
    return {
        name: json_format.MessageToDict(
            signature, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for name, signature in sorted(meta_graph.signature_def.items())
    }
