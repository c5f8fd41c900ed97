"""Exporting models for serving: versioned SavedModels for TF Serving, ONNX, loading back.

    signatures      the serving signatures: float images, or encoded image files
    decode          decoding PNG, JPEG, BMP and WebP inside the graph
    saved_model     export_saved_model: OUT_DIR/<version>/, written atomically
    serving_config  write_models_config: TF Serving's models.config for several models
    loading         load_exported, signature_io: what the local server calls
    onnx_model      export_onnx (optional extra `onnx`)

Example:
>>> import tempfile, keras, numpy as np
>>> reference = keras.Input((None, None, 3), name="reference")
>>> distorted = keras.Input((None, None, 3), name="distorted")
>>> difference = keras.layers.Subtract()([reference, distorted])
>>> model = keras.Model({"reference": reference, "distorted": distorted},
...                     keras.layers.GlobalAveragePooling2D()(difference)[:, :1])
>>> exported = load_exported(export_saved_model(model, tempfile.mkdtemp()))
>>> sorted(exported.signatures)
['serve_bytes', 'serving_default']
>>> image = np.full((1, 16, 16, 3), 100.0)
>>> exported.predict_arrays(reference=image, distorted=image - 5)["score"].tolist()
[5.0]
"""

from iqa_keras.data.decode import decode_image_batch, decode_image_bytes
from iqa_keras.export.loading import ExportedModel, SignatureIO, load_exported, signature_io
from iqa_keras.export.onnx_model import export_onnx
from iqa_keras.export.saved_model import existing_versions, export_saved_model
from iqa_keras.export.serving_config import write_models_config
from iqa_keras.export.signatures import (
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    serving_functions,
    signature_input_names,
)

__all__ = [
    "BYTES_SIGNATURE",
    "DEFAULT_SIGNATURE",
    "ExportedModel",
    "SignatureIO",
    "decode_image_batch",
    "decode_image_bytes",
    "existing_versions",
    "export_onnx",
    "export_saved_model",
    "load_exported",
    "serving_functions",
    "signature_input_names",
    "signature_io",
    "write_models_config",
]
