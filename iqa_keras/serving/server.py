"""A local server that speaks TensorFlow Serving's REST API, for one model base path.

Endpoints (as TF Serving's, plus a health check):

- `POST /v1/models/<name>[/versions/<n>]:predict`: see `iqa_keras.serving.json_api`;
- `GET /v1/models/<name>[/versions/<n>]`: model status;
- `GET /v1/models/<name>[/versions/<n>]/metadata`: the signature definitions;
- `GET /healthz`: `{"status": "ok"}` (not in TF Serving).

Errors are `{"error": "..."}` with status 400 (bad request), 404 (unknown model, version
or path), 411 (no Content-Length), 413 (body over `max_request_bytes`, refused before it
is read) or 500. A body left unread (too large, or for an unknown model) is then dropped
as it arrives, for a few seconds, so that the client reads the answer instead of a broken
connection. Requests run in a pool of `workers` threads (the model is thread-safe)
and each is logged on the `iqa_keras.serving` logger: method, path, status and milliseconds.

Example:
>>> import tempfile, numpy as np, tensorflow as tf
>>> from iqa_keras.serving import Client
>>> module = tf.Module()
>>> module.mean = tf.function(lambda image: {"score": tf.reduce_mean(image, axis=[1, 2, 3])},
...     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
>>> base = tempfile.mkdtemp()
>>> tf.saved_model.save(module, f"{base}/1", signatures={"serving_default": module.mean})
>>> with ModelServer(base, port=0, model_name="iqa").start() as server:
...     Client(server.url, "iqa").score(np.full((8, 8, 3), 4.0))
array([4.], dtype=float32)
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from iqa_keras.serving import json_api
from iqa_keras.serving.models import ServedModel, load_model
from iqa_keras.serving.protocol import ServingError

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ModelServer", "serve"]

DEFAULT_MAX_REQUEST_BYTES = 64 * 2**20
logger = logging.getLogger("iqa_keras.serving")

_MODEL_PATH = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<action>/metadata|:predict)?")


class ModelServer:
    """The REST server for the versions under `model_dir` (TF Serving's base path layout).

    `port=0` binds a free port (see `port` and `url`). Run it with `start()` (background
    threads) or `serve_forever()` (blocking); `shutdown()` stops accepting connections,
    lets the requests in flight finish, and closes the port. Also a context manager.

    Args:
        model_dir: `<model_dir>/<version>/saved_model.pb`; every version is served.
        port, host: where to listen.
        model_name: the name in request URLs; default: the folder's name.
        max_request_bytes: larger request bodies are refused with 413, never held in memory.
        workers: connections handled at once; more wait their turn in a queue.
    """

    def __init__(self, model_dir, port: int = 8501, host: str = "127.0.0.1", model_name: str | None = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, workers: int = 8):
        if max_request_bytes < 1:
            raise ValueError(f"`max_request_bytes` must be positive. Received: max_request_bytes={max_request_bytes}")
        if workers < 1:
            raise ValueError(f"`workers` must be positive. Received: workers={workers}")
        self.model = load_model(model_dir, model_name)
        self._http = _HTTPServer((host, port), _Handler, workers)
        self._http.model = self.model
        self._http.max_request_bytes = max_request_bytes
        self._serving = threading.Event()
        self._thread = None

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._http.server_address[0]}:{self.port}"

    @property
    def active_requests(self) -> int:
        """Connections being handled now (not counting those queued)."""
        return self._http.active

    def serve_forever(self) -> None:
        """Handles requests until `shutdown()` is called from another thread."""
        self._serving.set()
        self._http.serve_forever()

    def start(self) -> ModelServer:
        """Handles requests in a background thread; returns the server."""
        self._thread = threading.Thread(target=self.serve_forever, name=f"serve-{self.model.name}", daemon=True)
        self._thread.start()
        self._serving.wait()
        return self

    def shutdown(self) -> None:
        """Stops accepting, waits for the requests in flight, closes the port. Idempotent."""
        if self._serving.is_set():
            self._http.shutdown()
            self._serving.clear()
        if self._http.active:
            logger.info("Finishing %d request(s) in flight", self._http.active)
        self._http.server_close()  # closes the port, then waits for the connections taken
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()


def serve(model_dir, port: int = 8501, grpc_port: int | None = None, host: str = "127.0.0.1",
          model_name: str | None = None, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
    """Serves a model over REST (and gRPC with `grpc_port`) until SIGINT or SIGTERM.

    Blocks; on either signal it stops accepting, finishes the requests in flight and
    returns. Call it from the main thread (signal handlers can only be set there); to
    serve from another thread, use `ModelServer(...).start()` and `shutdown()`.

    Raises:
        ValueError: no model versions in `model_dir`.
        ImportError: `grpc_port` without the `serving` extra (tensorflow-serving-api, grpcio).
        OSError: the port is taken.
    """
    if grpc_port is not None:
        from iqa_keras.serving.grpc_server import GrpcModelServer, import_grpc

        import_grpc()  # without the extra, fail before loading anything

    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    servers = []
    try:
        rest = ModelServer(model_dir, port, host, model_name, max_request_bytes)
        servers.append(rest)
        if grpc_port is not None:
            servers.append(GrpcModelServer(rest.model, grpc_port, host, max_message_bytes=max_request_bytes))
        for server in servers:
            server.start()
            logger.info("Serving model %r, versions %s, at %s", rest.model.name, list(rest.model.versions), server.url)
        while not stop.wait(1.0):
            pass
        logger.info("Shutting down")
    finally:
        for server in servers:
            server.shutdown()
        for number, handler in previous.items():
            signal.signal(number, handler)


class _HTTPServer(HTTPServer):
    """Handles each connection in a pool of long-lived threads.

    Not a thread per connection (ThreadingHTTPServer): TensorFlow calls from a thread's
    first use cost milliseconds more, and the pool bounds the requests run at once.
    """

    model: ServedModel
    max_request_bytes: int

    def __init__(self, address, handler, workers: int):
        self.active = 0
        self._active_lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="iqa-serving")
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        self._pool.submit(self._process, request, client_address)

    def _process(self, request, client_address):
        with self._active_lock:
            self.active += 1
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._active_lock:
                self.active -= 1

    def server_close(self):
        """Closes the port, then waits for the connections taken (in flight or queued)."""
        super().server_close()
        self._pool.shutdown(wait=True)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 60  # seconds a silent client may hold a connection
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "iqa-keras"
    body_read = False  # whether this request's body was read

    def do_GET(self):
        self._respond(self._get)

    def do_POST(self):
        self._respond(self._post)

    def _get(self) -> dict:
        if self.path == "/healthz":
            return {"status": "ok"}
        name, version, action = self._route(expected_actions=(None, "/metadata"))
        if action == "/metadata":
            return self.server.model.metadata(name, version)
        return self.server.model.status(name, version)

    def _post(self) -> dict:
        name, version, _ = self._route(expected_actions=(":predict",))
        served = self.server.model.get(name, version)
        request = json_api.parse_predict_request(self._body())
        inputs = request.arrays(served.input_specs(request.signature_name))
        return json_api.encode_outputs(served.predict(inputs, request.signature_name), request.row_format)

    def _route(self, expected_actions) -> tuple[str, int | None, str | None]:
        match = _MODEL_PATH.fullmatch(self.path)
        if match is None or match["action"] not in expected_actions:
            raise ServingError(f"Malformed request: {self.command} {self.path}", status=404)
        return match["name"], None if match["version"] is None else int(match["version"]), match["action"]

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ServingError("A Content-Length header is required", status=411)
        if not length.isdigit():
            raise ServingError(f"Content-Length must be a number of bytes; received {length!r}")
        if int(length) > self.server.max_request_bytes:
            raise ServingError(
                f"The request body of {length} bytes exceeds this server's limit of "
                f"{self.server.max_request_bytes} bytes", status=413,
            )
        self.body_read = True
        return self.rfile.read(int(length))

    def _respond(self, handle) -> None:
        start = time.perf_counter()
        try:
            status, payload = 200, handle()
        except ServingError as error:
            status, payload = error.status, {"error": str(error)}
        except Exception as error:  # a bug or a model failure: the client still gets JSON
            logger.exception("%s %s failed", self.command, self.path)
            status, payload = 500, {"error": f"Internal error: {type(error).__name__}: {error}"}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        logger.info("%s %s %d %.1f ms", self.command, self.path, status, 1000 * (time.perf_counter() - start))
        length = self.headers.get("Content-Length", "")
        if self.command == "POST" and not self.body_read and length.isdigit():
            self._drop_unread_body(int(length))

    def _drop_unread_body(self, length: int, seconds: float = 5.0, pause: float = 1.0) -> None:
        """After answering a request whose body it did not read (refused, or for an unknown
        model): ends the answer, then reads and drops the body the client is still
        sending, for `seconds` at most and until the client pauses for `pause`, so that
        the client gets to read the answer instead of a broken connection."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            while length > 0 and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(min(left, pause))
                chunk = self.rfile.read1(min(length, 2**20))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:  # the client gave up, paused, or the time is over
            pass

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        """Silences http.server's own stderr lines; `_respond` logs each request once."""
        logger.debug(format, *args)

