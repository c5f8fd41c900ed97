"""Serving IQA models: a local TensorFlow-Serving-compatible server and a client for both.

- `serve(model_dir, port=8501, grpc_port=None)`: what `iqa-keras serve` runs; blocks
  until SIGINT or SIGTERM. `ModelServer` is the same REST server as an object
  (`start()`, `shutdown()`, `url`), for tests and embedding.
- `Client(url, model_name).score(distorted, reference)`: scores over REST (standard
  library only) or gRPC (`grpc://...`, needs `pip install "iqa-keras[serving]"`).

Names load on first use, so the client does not import TensorFlow for REST.

Example:
>>> from iqa_keras.serving import Client, ServingError
>>> Client("http://127.0.0.1:8501", "siamese").predict_url
'http://127.0.0.1:8501/v1/models/siamese:predict'
"""

import importlib

_HOMES = {
    "Client": "client",
    "GrpcModelServer": "grpc_server",
    "ModelServer": "server",
    "ServerLimits": "limits",
    "ServingError": "protocol",
    "load_model": "models",
    "serve": "server",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f"iqa_keras.serving.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'iqa_keras.serving' has no attribute {name!r}")
