"""The serving signatures of an exported model: float images in, or encoded image files.

A model is full-reference (FR) when its inputs are named "reference" and "distorted",
no-reference (NR) when its one input is named "distorted" or "image". Its signatures:

    serving_default  FR: reference, distorted   NR: image        float32 (N, H, W, 3), 0-255
    serve_bytes      FR: reference_bytes,       NR: image_bytes  string (N,): PNG, JPEG,
                         distorted_bytes                         BMP or still WebP files

Preprocessing (decoding) happens inside the graph, so clients send raw images. Both
signatures return the model's outputs by name as float32: "score" as (N,), one number
per image as TF Serving clients expect (the Keras model gives (N, 1)), and maps such as
"quality_map" as the model gives them. Any batch size and image size work; the images
of one request (one batch) must share a height and width, requests may differ. An FR
request pairs its i-th reference with its i-th distorted image, or sends one reference
for all the distorted images; other batch sizes fail with both shapes.

Example:
>>> import keras
>>> image = keras.Input((None, None, 3), name="distorted")
>>> model = keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)[:, :1])
>>> {name: [spec.name for spec in specs] for name, (_, specs) in serving_functions(model).items()}
{'serving_default': ['image'], 'serve_bytes': ['image_bytes']}
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from iqa_keras.data.decode import decode_image_batch
from iqa_keras.layers.fusion import reference_indices

__all__ = ["DEFAULT_SIGNATURE", "BYTES_SIGNATURE", "signature_input_names", "serving_functions"]

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serve_bytes"
_FULL_REFERENCE = ("reference", "distorted")
_NO_REFERENCE_MODEL_INPUTS = (("distorted",), ("image",))
_NO_REFERENCE = ("image",)


def signature_input_names(model) -> tuple[str, ...]:
    """The image inputs of the signatures: `("reference", "distorted")` or `("image",)`.

    Raises:
        ValueError: the model's inputs are neither FR nor NR names.
    """
    names, _ = _model_inputs(model)
    if sorted(names) == sorted(_FULL_REFERENCE):
        return _FULL_REFERENCE
    if names in _NO_REFERENCE_MODEL_INPUTS:
        return _NO_REFERENCE
    raise ValueError(
        "Cannot export a model whose inputs are neither full-reference ('reference' and "
        "'distorted') nor no-reference ('distorted' or 'image' alone). Received: model "
        f"{model.name!r} with inputs {list(names)}"
    )


def serving_functions(model) -> dict[str, tuple[Callable, list[tf.TensorSpec]]]:
    """Each signature's name -> (function, its named input specs), in signature order.

    The functions take the inputs positionally, in the order of the specs, and return
    a dict of float32 outputs.
    """
    names = signature_input_names(model)
    model_names, structure = _model_inputs(model)
    # The signature's input names in the model's order.
    in_model_order = model_names if names == _FULL_REFERENCE else _NO_REFERENCE

    def serve_images(*images):
        by_name = dict(zip(names, images if names == _NO_REFERENCE else _paired(*images)))
        ordered = [by_name[name] for name in in_model_order]
        if structure is dict:
            inputs = dict(zip(model_names, ordered))
        elif structure is list:
            inputs = ordered
        else:
            (inputs,) = ordered
        return _named_outputs(model(inputs, training=False), model)

    def serve_bytes(*contents):
        return serve_images(*(decode_image_batch(batch, f"{name}_bytes") for name, batch in zip(names, contents)))

    shapes = dict(zip(in_model_order, _input_shapes(model)))
    image_specs = [tf.TensorSpec([None, *shapes[name][1:]], tf.float32, name=name) for name in names]
    bytes_specs = [tf.TensorSpec([None], tf.string, name=f"{name}_bytes") for name in names]
    return {DEFAULT_SIGNATURE: (serve_images, image_specs), BYTES_SIGNATURE: (serve_bytes, bytes_specs)}


def _paired(reference, distorted):
    """(reference, distorted), one reference repeated for every distorted image; fails
    with both shapes unless the images share a size and the batches pair up.

    The assertion names the shapes; ONNX drops it, so the pairing itself fails too: a
    gather past the references' end for batches that do not pair, a concatenation for
    images of other sizes (a broadcast would stretch a 1-pixel reference instead)."""
    reference_shape, distorted_shape = tf.shape(reference), tf.shape(distorted)
    batches_pair = tf.logical_or(
        tf.equal(reference_shape[0], distorted_shape[0]), tf.equal(reference_shape[0], 1)
    )
    pairs = tf.debugging.Assert(
        tf.logical_and(batches_pair, tf.reduce_all(tf.equal(reference_shape[1:], distorted_shape[1:]))),
        ["reference and distorted must hold images of one height and width, one reference per "
         "distorted image or one for all; received reference of shape", reference_shape,
         "and distorted of shape", distorted_shape],
    )
    with tf.control_dependencies([pairs]):
        reference = tf.gather(reference, reference_indices(reference_shape[0], distorted_shape[0]))
        stacked = tf.concat([reference, distorted], axis=0)
        return stacked[: distorted_shape[0]], stacked[distorted_shape[0] :]


def _model_inputs(model) -> tuple[tuple[str, ...], type]:
    """The model's input names, and how it takes them: `dict`, `list` (in that order) or
    `object` (one tensor)."""
    structure = _input_structure(model)
    if isinstance(structure, dict):
        return tuple(structure), dict
    if isinstance(structure, (list, tuple)) and structure and all(hasattr(item, "name") for item in structure):
        return tuple(item.name for item in structure), list
    if structure is not None and not isinstance(structure, (list, tuple)):
        return (structure.name,), object
    raise ValueError(
        "Cannot export a model without named inputs: build it as a functional model with "
        "`keras.Input(..., name=...)` inputs, a dict or list of them for several. Received: model "
        f"{getattr(model, 'name', model)!r} with inputs {structure!r}"
    )


def _input_structure(model):
    try:
        return model.input
    except (AttributeError, ValueError):
        return None


def _input_shapes(model) -> list[tuple]:
    """The shapes of the model's inputs, in the order of `_model_inputs`; (None, None,
    None, 3) for a model that does not say."""
    structure = _input_structure(model)
    tensors = list(structure.values()) if isinstance(structure, dict) else structure
    tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
    return [tuple(tensor.shape) if len(tensor.shape) == 4 else (None, None, None, 3) for tensor in tensors]


def _named_outputs(outputs, model) -> dict[str, tf.Tensor]:
    """The model's outputs by name, float32, the score flattened to (N,)."""
    if not isinstance(outputs, dict):
        outputs = {"score": outputs}
    if "score" not in outputs:
        raise ValueError(
            f"Cannot export a model without a 'score' output. Received: model {model.name!r} "
            f"with outputs {sorted(outputs)}"
        )
    named = {key: tf.cast(value, tf.float32) for key, value in outputs.items()}
    shape = named["score"].shape
    if shape.rank == 2 and shape[1] == 1:
        named["score"] = named["score"][:, 0]
    elif shape.rank != 1:
        raise ValueError(
            f"The 'score' output must have shape (N,) or (N, 1). Received: model {model.name!r} "
            f"with score shape {tuple(shape)}"
        )
    return named
