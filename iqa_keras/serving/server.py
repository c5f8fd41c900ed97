"""A local server that speaks TensorFlow Serving's REST API, for one model base path.

Endpoints (as TF Serving's, plus a health check):

- `POST /v1/models/<name>[/versions/<n>]:predict`: see `iqa_keras.serving.json_api`;
- `GET /v1/models/<name>[/versions/<n>]`: model status;
- `GET /v1/models/<name>[/versions/<n>]/metadata`: the signature definitions;
- `GET /healthz`: `{"status": "ok"}` (not in TF Serving).

Errors are `{"error": "..."}` with status 400 (bad request, NaN pixels), 404 (unknown
model, version or path), 408 (a body that stopped arriving), 411 (no Content-Length), 413
(a body over `max_request_bytes`, refused before it is read; images over `max_pixels`),
503 (busy, with `Retry-After`) or 500.

Built to be exposed (`ServerLimits`): each connection has its own thread, and a whole
request (line, headers and body) must arrive within `request_timeout` seconds, so slow or
idle clients hold only their own connection, never an inference worker; at most
`max_connections` are handled at once (more are answered 503 at once). Predictions run on
`workers` long-lived threads, with at most `queue_size` more waiting (then 503 and
`Retry-After`). The standard library's HTTP server, not an event loop: inference blocks a
thread whichever stack is used, and a thread per connection with a deadline bounds what a
slow client holds without a new dependency. A body left unread (too large, or for an
unknown model) is dropped as it arrives, for a few seconds, so that the client reads the
answer instead of a broken connection; a client that hangs up is logged, without a
traceback. Each request is logged on the `iqa_keras.serving` logger: method, path,
status and milliseconds.

Example:
>>> import tempfile, numpy as np, tensorflow as tf
>>> from iqa_keras.serving import Client
>>> module = tf.Module()
>>> module.mean = tf.function(lambda image: {"score": tf.reduce_mean(image, axis=[1, 2, 3])},
...     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
>>> base = tempfile.mkdtemp()
>>> tf.saved_model.save(module, f"{base}/1", signatures={"serving_default": module.mean})
>>> with ModelServer(base, port=0, model_name="iqa", workers=1).start() as server:
...     Client(server.url, "iqa").score(np.full((8, 8, 3), 4.0))
array([4.], dtype=float32)
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from iqa_keras.serving import json_api
from iqa_keras.serving.limits import DEFAULT_MAX_REQUEST_BYTES, RETRY_AFTER_SECONDS, ServerLimits
from iqa_keras.serving.models import ServedModel, load_model
from iqa_keras.serving.protocol import ServingError

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ModelServer", "ServerLimits", "serve"]

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
        **limits: the fields of `ServerLimits` (`max_request_bytes`, `max_pixels`,
            `workers`, `queue_size`, `max_connections`, `request_timeout`).
    """

    def __init__(self, model_dir, port: int = 8501, host: str = "127.0.0.1", model_name: str | None = None,
                 **limits):
        self.limits = ServerLimits(**limits)
        self.model = load_model(model_dir, model_name)
        self._http = _HTTPServer((host, port), self.model, self.limits)
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
        """Connections being handled now."""
        return len(self._http.connections)

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
        if self._http.connections:
            logger.info("Finishing %d request(s) in flight", len(self._http.connections))
        self._http.server_close()  # closes the port, then waits for the connections taken
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()


def serve(model_dir, port: int = 8501, grpc_port: int | None = None, host: str = "127.0.0.1",
          model_name: str | None = None, **limits) -> None:
    """Serves a model over REST (and gRPC with `grpc_port`) until SIGINT or SIGTERM.

    Blocks; on either signal it stops accepting, finishes the requests in flight and
    returns. Call it from the main thread (signal handlers can only be set there); to
    serve from another thread, use `ModelServer(...).start()` and `shutdown()`.
    `**limits` are the fields of `ServerLimits`; gRPC takes `max_request_bytes`,
    `max_pixels` and `workers` of them.

    Raises:
        ValueError: no model versions in `model_dir`, or a limit out of range.
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
        rest = ModelServer(model_dir, port, host, model_name, **limits)
        servers.append(rest)
        if grpc_port is not None:
            servers.append(GrpcModelServer(rest.model, grpc_port, host, max_message_bytes=rest.limits.max_request_bytes,
                                           workers=rest.limits.workers, max_pixels=rest.limits.max_pixels))
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


class _Predictions:
    """`workers` long-lived threads run predictions, at most `queue_size` more wait; beyond
    that a 503. Long-lived, since TensorFlow's first call from a new thread costs more."""

    def __init__(self, workers: int, queue_size: int):
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="iqa-inference")
        self._slots = threading.BoundedSemaphore(workers + queue_size)

    def run(self, function, *args):
        if not self._slots.acquire(blocking=False):
            raise ServingError("The server is busy: every inference worker is taken and its queue is full; "
                               f"retry after {RETRY_AFTER_SECONDS} s", status=503)
        try:
            future = self._pool.submit(function, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class _HTTPServer(HTTPServer):
    """Handles each connection in its own thread, at most `max_connections` at once."""

    def __init__(self, address, model: ServedModel, limits: ServerLimits):
        self.model = model
        self.limits = limits
        self.predictions = _Predictions(limits.workers, limits.queue_size)
        self.connections: set[threading.Thread] = set()
        self._finished = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._process, args=(request, client_address), daemon=True)
        with self._finished:
            busy = len(self.connections) >= self.limits.max_connections
            if not busy:
                self.connections.add(thread)
        if busy:
            self._refuse(request)
        else:
            thread.start()

    def _process(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._finished:
                self.connections.discard(threading.current_thread())
                self._finished.notify_all()

    def _refuse(self, request) -> None:
        """Answers 503 without reading the request, from the accepting thread (short, bounded)."""
        body = json.dumps({"error": f"The server is handling its limit of {self.limits.max_connections} "
                                    f"connections; retry after {RETRY_AFTER_SECONDS} s"}).encode()
        head = (f"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "
                f"{RETRY_AFTER_SECONDS}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            request.settimeout(1.0)
            request.sendall(head + body)
        except OSError:
            pass
        logger.info("refused a connection: %d connections already", self.limits.max_connections)
        self.shutdown_request(request)

    def handle_error(self, request, client_address):
        """A client that hung up or timed out is a log line; anything else a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.info("connection from %s ended: %s", client_address[0], type(error).__name__)
        else:
            logger.exception("Error on a connection from %s", client_address[0])

    def server_close(self):
        """Closes the port, then waits for the connections taken and their predictions."""
        super().server_close()
        with self._finished:
            self._finished.wait_for(lambda: not self.connections)
        self.predictions.shutdown()


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each given what is left of one deadline (the whole request's)."""

    def __init__(self, connection: socket.socket, deadline: float):
        self._connection = connection
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request's deadline has passed")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "iqa-keras"
    body_read = False  # whether this request's body was read

    def setup(self):
        super().setup()
        self.rfile.close()  # the socket file the base class made: reads go through the deadline
        deadline = time.monotonic() + self.server.limits.request_timeout
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

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
        outputs = self.server.predictions.run(served.predict, inputs, request.signature_name,
                                              self.server.limits.max_pixels)
        return json_api.encode_outputs(outputs, request.row_format)

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
        limits = self.server.limits
        if int(length) > limits.max_request_bytes:
            raise ServingError(
                f"The request body of {length} bytes exceeds this server's limit of "
                f"{limits.max_request_bytes} bytes", status=413,
            )
        self.body_read = True
        try:
            body = self.rfile.read(int(length))
        except TimeoutError:
            self.close_connection = True
            raise ServingError(f"The request body stopped arriving: a whole request must arrive within "
                               f"{limits.request_timeout:g} s (request_timeout)", status=408) from None
        if len(body) < int(length):
            raise ServingError(f"The request body ended after {len(body)} of the {length} bytes of its "
                               "Content-Length")
        return body

    def _respond(self, handle) -> None:
        start = time.perf_counter()
        try:
            status, payload = 200, handle()
        except ServingError as error:
            status, payload = error.status, {"error": str(error)}
        except ConnectionError as error:  # the client hung up while sending: no one to answer
            self.close_connection = True
            logger.info("%s %s: the client hung up (%s)", self.command, self.path, type(error).__name__)
            return
        except Exception as error:  # a bug or a model failure: the client still gets JSON
            logger.exception("%s %s failed", self.command, self.path)
            status, payload = 500, {"error": f"Internal error: {type(error).__name__}: {error}"}
        body = json.dumps(payload).encode()
        self.connection.settimeout(self.server.limits.request_timeout)  # for a client that never reads
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 503:
                self.send_header("Retry-After", str(RETRY_AFTER_SECONDS))
            self.end_headers()
            self.wfile.write(body)
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            logger.info("%s %s %d %.1f ms, not delivered: %s", self.command, self.path, status,
                        1000 * (time.perf_counter() - start), type(error).__name__)
            return
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
            while length > 0 and time.monotonic() < deadline:
                self.rfile.raw.deadline = min(deadline, time.monotonic() + pause)
                chunk = self.rfile.read1(min(length, 2**20))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:  # the client gave up, paused, or the time is over
            pass

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        """Silences http.server's own stderr lines; `_respond` logs each request once."""
        logger.debug(format, *args)

