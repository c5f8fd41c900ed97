"""A client for IQA models behind TensorFlow Serving or `iqa-keras serve`, over REST or gRPC.

`Client("http://host:8501", name)` speaks the REST API with the standard library only;
`Client("grpc://host:8500", name)` speaks gRPC and needs the `serving` extra. Images go
as TF Serving documents them: arrays (HxWx3 or NxHxWx3, 0-255) as numbers to the
`serving_default` signature (inputs `reference` and `distorted`, or `image` for a
no-reference model); image files and encoded bytes (PNG, JPEG, ...) undecoded, as
`{"b64": ...}` values, to `serve_bytes` (inputs `reference_bytes`, `distorted_bytes`, or
`image_bytes`). A server's error is raised as `ServingError` with its status and message.

Example:
>>> client = Client("http://localhost:8501", "siamese", version=2)
>>> client.predict_url
'http://localhost:8501/v1/models/siamese/versions/2:predict'
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request

import numpy as np

from iqa_keras.serving.protocol import BYTES_SIGNATURE, DEFAULT_SIGNATURE, ServingError

__all__ = ["Client"]

_ENCODED = (str, os.PathLike, bytes, bytearray)


class Client:
    """Scores images with one served model.

    Args:
        url: `http://host:port` (REST) or `grpc://host:port` (gRPC, needs the extra).
        model_name: the model's name on the server.
        signature: the signature to call; default: `serve_bytes` for files and bytes,
            `serving_default` for arrays. Input names follow the same rule (`_bytes`
            added for files and bytes) whichever signature is named.
        version: a model version number; default: the latest.
        timeout: seconds to wait for an answer.
    """

    def __init__(self, url: str, model_name: str, signature: str | None = None, version: int | None = None,
                 timeout: float = 60.0):
        scheme = url.split("://", 1)[0]
        if scheme not in ("http", "https", "grpc"):
            raise ValueError(f"`url` must start with http://, https:// or grpc://. Received: url={url!r}")
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.signature = signature
        self.version = version
        self.timeout = timeout
        self._stub = _grpc_stub(self.url) if scheme == "grpc" else None

    @property
    def predict_url(self) -> str:
        version = "" if self.version is None else f"/versions/{self.version}"
        return f"{self.url}/v1/models/{self.model_name}{version}:predict"

    def score(self, distorted, reference=None, maps: bool = False):
        """Scores distorted images, against their references for a full-reference model.

        Args:
            distorted: an image file path, encoded image bytes, an array HxWx3 or
                NxHxWx3 (values 0-255), or a list of paths or bytes.
            reference: the same kind and count of images; `None` for a no-reference model.
            maps: also return the quality maps (the signature must have `quality_map`).

        Returns:
            The scores, a float32 array of shape (N,); with `maps`, `(scores, maps)`.

        Raises:
            ServingError: the server refused the request (its status and message).
            ConnectionError: no server answers at `url`.
        """
        images = {"distorted": _batch(distorted, "distorted")}
        if reference is not None:
            images = {"reference": _batch(reference, "reference"), **images}
        else:
            images = {"image": images["distorted"]}
        kinds = {name: batch.dtype == object for name, batch in images.items()}
        counts = {name: len(batch) for name, batch in images.items()}
        if len(set(kinds.values())) != 1 or len(set(counts.values())) != 1:
            raise ValueError(f"`reference` and `distorted` must be of one kind (arrays, or files and bytes) and "
                             f"count; received {counts} images, encoded: {kinds}")
        encoded = next(iter(kinds.values()))
        signature = self.signature or (BYTES_SIGNATURE if encoded else DEFAULT_SIGNATURE)
        inputs = {f"{name}_bytes" if encoded else name: batch for name, batch in images.items()}
        wanted = ["score", "quality_map"] if maps else ["score"]
        outputs = self._predict_grpc(signature, inputs, wanted) if self._stub else self._predict_rest(signature, inputs)
        missing = [name for name in wanted if name not in outputs]
        if missing:
            raise ValueError(f"Signature {signature!r} has no output {missing[0]!r}; it has {sorted(outputs)}")
        count = next(iter(counts.values()))
        scores = np.asarray(outputs["score"], np.float32).reshape(count)
        return (scores, np.asarray(outputs["quality_map"], np.float32)) if maps else scores

    def _predict_rest(self, signature: str, inputs: dict) -> dict:
        count = len(next(iter(inputs.values())))
        instances = [{name: _json_value(batch[index]) for name, batch in inputs.items()} for index in range(count)]
        body = json.dumps({"signature_name": signature, "instances": instances}).encode()
        request = urllib.request.Request(self.predict_url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                predictions = json.load(response)["predictions"]
        except urllib.error.HTTPError as error:
            raise ServingError(f"{error.code} from {self.predict_url}: {_error_message(error)}", error.code) from None
        except urllib.error.URLError as error:
            raise ConnectionError(f"Cannot reach the model server at {self.url}: {error.reason}") from None
        if isinstance(predictions[0], dict):
            return {name: np.asarray([row[name] for row in predictions]) for name in predictions[0]}
        # TF Serving leaves out the name of a signature's only output: in IQA, the score.
        return {"score": np.asarray(predictions)}

    def _predict_grpc(self, signature: str, inputs: dict, wanted: list[str]) -> dict:
        import tensorflow as tf

        from iqa_keras.serving.grpc_server import GRPC_CODES, import_grpc

        grpc, predict_pb2, _ = import_grpc()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature
        if self.version is not None:
            request.model_spec.version.value = self.version
        for name, batch in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(batch))
        request.output_filter.extend(wanted)
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ConnectionError(f"Cannot reach the model server at {self.url}: {error.details()}") from None
            status = {name: http for http, name in GRPC_CODES.items()}.get(code.name, 500)
            raise ServingError(f"{code.name} from {self.url}: {error.details()}", status) from None
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _batch(images, role: str) -> np.ndarray:
    """A float32 NHWC batch, or a 1-D object array of encoded images (files read)."""
    if isinstance(images, _ENCODED):
        images = [images]
    if isinstance(images, (list, tuple)) and images and all(isinstance(image, _ENCODED) for image in images):
        return np.array([_encoded(image) for image in images], dtype=object)
    batch = np.asarray(images, np.float32)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[0] == 0:
        raise ValueError(f"`{role}` must be an image HxWx3, a batch NxHxWx3, a file path, encoded bytes, or a "
                         f"list of paths or bytes. Received an array of shape {batch.shape}")
    return batch


def _encoded(image) -> bytes:
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    with open(image, "rb") as file:
        return file.read()


def _json_value(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value.tolist()


def _error_message(error: urllib.error.HTTPError) -> str:
    text = error.read().decode("utf-8", "replace")
    try:
        return json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return text[:500] or error.reason


def _grpc_stub(url: str):
    from iqa_keras.serving.grpc_server import import_grpc

    grpc, _, prediction_service_pb2_grpc = import_grpc()
    options = [("grpc.max_send_message_length", 64 * 2**20), ("grpc.max_receive_message_length", 64 * 2**20)]
    channel = grpc.insecure_channel(url.split("://", 1)[1], options=options)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)
