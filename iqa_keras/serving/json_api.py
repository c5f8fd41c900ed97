"""TF Serving's JSON predict format: request bodies to named arrays, outputs to response bodies.

A request is `{"signature_name": ..., "instances": [...]}` (row format: one item per
example, an object of named inputs, or a bare value when the signature has one input)
or `{"inputs": ...}` (columnar: an object of named batched inputs, or a bare value),
never both. Binary values are `{"b64": "..."}`, decoded to bytes for string inputs.
Row requests are answered `{"predictions": [...]}` (one object of named outputs per
example, or bare values when there is one output), columnar ones `{"outputs": ...}`.
String outputs whose name ends in `_bytes` are sent back as `{"b64": ...}`.

Example:
>>> import numpy as np, tensorflow as tf
>>> request = parse_predict_request(b'{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}')
>>> request.arrays({"x": tf.TensorSpec([None, 2], tf.float32)})
{'x': array([[1., 2.],
       [3., 4.]], dtype=float32)}
>>> encode_outputs({"score": np.array([0.5, 0.25])}, row_format=request.row_format)
{'predictions': [0.5, 0.25]}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from iqa_keras.serving.models import check_input_names
from iqa_keras.serving.protocol import DEFAULT_SIGNATURE, ServingError

__all__ = ["PredictRequest", "encode_outputs", "parse_predict_request"]

_KEYS = ("signature_name", "instances", "inputs")


@dataclass(frozen=True)
class PredictRequest:
    """A parsed predict body: the signature and the JSON value of `instances` or `inputs`."""

    signature_name: str
    values: Any
    row_format: bool

    def arrays(self, specs: Mapping[str, tf.TensorSpec]) -> dict[str, np.ndarray]:
        """The inputs as arrays of the signature's dtypes; a 400 `ServingError` when they do not fit."""
        columns = _row_columns(self.values, specs) if self.row_format else _named(self.values, specs, "inputs")
        check_input_names(specs, columns)
        return {name: _to_array(name, value, specs[name]) for name, value in columns.items()}


def parse_predict_request(body: bytes) -> PredictRequest:
    """Parses a predict request body; a 400 `ServingError` names what is wrong with it."""
    try:
        request = json.loads(body)
    except ValueError as error:
        raise ServingError(f"The request body is not valid JSON: {error}") from None
    except RecursionError:
        raise ServingError("The request body nests its JSON arrays or objects too deeply to parse") from None
    if not isinstance(request, dict):
        raise ServingError(f"The request body must be a JSON object; received {_json_type(request)}")
    unexpected = sorted(set(request) - set(_KEYS))
    if unexpected:
        raise ServingError(f"Unexpected keys {unexpected} in the request; expected 'signature_name' and "
                           "one of 'instances' (row format) or 'inputs' (columnar format)")
    if ("instances" in request) == ("inputs" in request):
        raise ServingError("The request must have exactly one of 'instances' (row format) or 'inputs' "
                           f"(columnar format); received {'both' if 'inputs' in request else 'neither'}")
    signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise ServingError(f"'signature_name' must be a string; received {_json_type(signature_name)}")
    row_format = "instances" in request
    return PredictRequest(signature_name, request["instances" if row_format else "inputs"], row_format)


def encode_outputs(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict:
    """The response body for named output arrays: `{"predictions": ...}` or `{"outputs": ...}`."""
    values = {name: _from_array(name, np.asarray(array)) for name, array in sorted(outputs.items())}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    sizes = {name: len(value) if isinstance(value, list) else None for name, value in values.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise ServingError(f"The outputs cannot be split into rows: their batch sizes differ ({sizes}); "
                           "use the columnar format ('inputs')")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    count = next(iter(sizes.values()))
    return {"predictions": [{name: value[index] for name, value in values.items()} for index in range(count)]}


def _row_columns(instances, specs: Mapping[str, tf.TensorSpec]) -> dict[str, list]:
    """`instances` turned into one list per input name."""
    if not isinstance(instances, list) or not instances:
        raise ServingError(f"'instances' must be a non-empty list; received {_json_type(instances)}")
    if len(specs) == 1 and not all(_is_named(instance) for instance in instances):
        return {next(iter(specs)): instances}
    for index, instance in enumerate(instances):
        if not _is_named(instance):
            raise ServingError(f"Each instance must be an object of named inputs {sorted(specs)}; "
                               f"instance {index} is {_json_type(instance)}")
        if set(instance) != set(instances[0]):
            raise ServingError(f"All instances must have the same inputs: instance {index} has "
                               f"{sorted(instance)}, instance 0 has {sorted(instances[0])}")
    return {name: [instance[name] for instance in instances] for name in instances[0]}


def _named(inputs, specs: Mapping[str, tf.TensorSpec], key: str) -> dict:
    if _is_named(inputs):
        return inputs
    if len(specs) != 1:
        raise ServingError(f"'{key}' must be an object of named inputs {sorted(specs)}; received {_json_type(inputs)}")
    return {next(iter(specs)): inputs}


def _is_named(value) -> bool:
    """An object of named inputs, as opposed to a value (a `{"b64": ...}` object is a value)."""
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _to_array(name: str, value, spec: tf.TensorSpec) -> np.ndarray:
    if spec.dtype == tf.string:
        array = np.array(_strings(name, value), dtype=object)
        if any(isinstance(item, list) for item in array.flat):
            raise ServingError(f"Input {name!r} is ragged: its nested lists must all have the same length")
        return array
    try:
        return np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        raise ServingError(
            f"Input {name!r} must be {spec.dtype.name} numbers in equally long nested lists "
            f"({{\"b64\": ...}} values are for string inputs): {error}"
        ) from None


def _strings(name: str, value):
    """Nested JSON values of a string input, with strings and `{"b64": ...}` objects as bytes."""
    if isinstance(value, list):
        return [_strings(name, item) for item in value]
    if isinstance(value, str):
        return value.encode()
    if _is_b64(value) and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise ServingError(f"Input {name!r} has invalid base64 in a {{\"b64\": ...}} value: {error}") from None
    raise ServingError(f"Input {name!r} is a string input: expected strings or {{\"b64\": \"...\"}} "
                       f"objects; received {_json_type(value)}")


def _from_array(name: str, array: np.ndarray):
    if array.dtype.kind not in "OS":
        return array.tolist()
    binary = name.endswith("_bytes")
    return np.vectorize(lambda item: _string_value(item, binary), otypes=[object])(array).tolist()


def _string_value(item: bytes, binary: bool):
    return {"b64": base64.b64encode(item).decode("ascii")} if binary else item.decode("utf-8", "replace")


def _json_type(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, list) and not value:
        return "an empty list"
    return kinds.get(type(value), "a number")
