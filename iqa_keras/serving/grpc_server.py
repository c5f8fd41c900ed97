"""TF Serving's gRPC `PredictionService.Predict`, through the tensorflow-serving-api stubs.

Needs the `serving` extra (`pip install "iqa-keras[serving]"`: tensorflow-serving-api and
grpcio), imported on first use. Requests carry `model_spec` (name, optional version and
signature) and `inputs` as TensorProtos; answers carry `outputs` (all, or those named in
`output_filter`). Errors map to gRPC codes as `GRPC_CODES` says; other methods of the
service answer UNIMPLEMENTED. Each call is logged like a REST request.

Example:
>>> GRPC_CODES[400], GRPC_CODES[404]
('INVALID_ARGUMENT', 'NOT_FOUND')
"""

from __future__ import annotations

import logging
import time
from concurrent import futures

from iqa_keras.serving.models import DEFAULT_MAX_PIXELS, ServedModel
from iqa_keras.serving.protocol import DEFAULT_SIGNATURE, ServingError

__all__ = ["GRPC_CODES", "GrpcModelServer", "import_grpc"]

# `ServingError.status` (HTTP) -> gRPC status code name, as TF Serving maps them.
GRPC_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
logger = logging.getLogger("iqa_keras.serving")


def import_grpc():
    """Returns `(grpc, predict_pb2, prediction_service_pb2_grpc)`; a clear ImportError without the extra."""
    try:
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as error:
        raise ImportError(
            f"gRPC needs the 'serving' extra: pip install \"iqa-keras[serving]\" "
            f"(tensorflow-serving-api and grpcio). Missing: {error.name}"
        ) from error
    return grpc, predict_pb2, prediction_service_pb2_grpc


class GrpcModelServer:
    """A gRPC `PredictionService` for a loaded model, on `host:port` (0: a free port).

    Args:
        model: the `ServedModel` (the REST server's `model`, so both share one copy).
        max_message_bytes: the largest request accepted (gRPC's own default is 4 MiB).
        workers: requests handled at once.
        max_pixels: the pixels of all images of one request together; more are refused
            (RESOURCE_EXHAUSTED, the REST server's 413).
    """

    def __init__(self, model: ServedModel, port: int = 8500, host: str = "127.0.0.1",
                 max_message_bytes: int = 64 * 2**20, workers: int = 8, max_pixels: int = DEFAULT_MAX_PIXELS):
        grpc, _, prediction_service_pb2_grpc = import_grpc()
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.so_reuseport", 0)]  # a port another server holds is refused, not shared
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_servicer(model, max_pixels), self._server)
        try:  # grpcio returns 0 for a port it cannot bind, or (newer ones) raises RuntimeError
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as error:
            raise OSError(f"Cannot listen for gRPC on {host}:{port} (in use?): {error}") from None
        if self.port == 0:
            raise OSError(f"Cannot listen for gRPC on {host}:{port} (in use?)")
        self.url = f"grpc://{host}:{self.port}"

    def start(self) -> GrpcModelServer:
        self._server.start()
        return self

    def shutdown(self, grace: float = 30.0) -> None:
        """Stops accepting calls and waits up to `grace` seconds for those in flight."""
        self._server.stop(grace).wait()


def _servicer(model: ServedModel, max_pixels: int):
    """A `PredictionServiceServicer` for `model` (the base class exists only with the extra)."""
    grpc, predict_pb2, prediction_service_pb2_grpc = import_grpc()

    class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (the service's method name)
            start, code = time.perf_counter(), "OK"
            try:
                return _predict(model, request, predict_pb2.PredictResponse(), max_pixels)
            except ServingError as error:
                code = GRPC_CODES.get(error.status, "UNKNOWN")
                context.abort(getattr(grpc.StatusCode, code), str(error))
            except Exception:
                code = "UNKNOWN"  # gRPC answers UNKNOWN with the exception's text
                raise
            finally:
                logger.info("gRPC Predict %s %s %.1f ms", request.model_spec.name, code,
                            1000 * (time.perf_counter() - start))

    return PredictionServicer()


def _predict(model: ServedModel, request, response, max_pixels: int):
    """Fills `response` (a PredictResponse) for `request`; a `ServingError` for a bad one."""
    import tensorflow as tf

    spec = request.model_spec
    signature_name = spec.signature_name or DEFAULT_SIGNATURE
    served = model.get(spec.name, spec.version.value if spec.HasField("version") else None)
    inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
    outputs = served.predict(inputs, signature_name, max_pixels)
    wanted = list(request.output_filter) or sorted(outputs)
    unknown = sorted(set(wanted) - set(outputs))
    if unknown:
        raise ServingError(f"output_filter names {unknown}, not outputs of signature {signature_name!r}: "
                           f"{sorted(outputs)}")
    response.model_spec.name = model.name
    response.model_spec.version.value = served.version
    response.model_spec.signature_name = signature_name
    for name in wanted:
        response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
    return response
