"""The TF-Serving-compatible server and the client, end to end on tiny SavedModels.

The models are written here with `tf.saved_model.save` in TF Serving's layout
(`<base>/<version>/`), with the signatures an exported IQA model has: `serving_default`
(float images) and `serve_bytes` (encoded files). Their score is the mean absolute
difference / 255 (times the version's factor), their quality map the per-pixel one.
"""

import base64
import concurrent.futures
import io
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from iqa_keras.serving import Client, ModelServer, ServingError, load_model

RNG = np.random.default_rng(0)
FACTORS = {1: 2.0, 2: 1.0}  # version -> score factor; the latest (2) gives the plain difference


def _image_spec(name):
    return tf.TensorSpec([None, None, None, 3], tf.float32, name=name)


def _bytes_spec(name):
    return tf.TensorSpec([None], tf.string, name=name)


def _decode(contents):
    return tf.map_fn(
        lambda item: tf.cast(tf.io.decode_image(item, channels=3, expand_animations=False), tf.float32),
        contents, fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32),
    )


class FullReference(tf.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    @tf.function(input_signature=[_image_spec("reference"), _image_spec("distorted")])
    def images(self, reference, distorted):
        difference = tf.abs(reference - distorted) / 255.0 * self.factor
        return {"score": tf.reduce_mean(difference, axis=[1, 2, 3]),
                "quality_map": tf.reduce_mean(difference, axis=-1, keepdims=True)}

    @tf.function(input_signature=[_bytes_spec("reference_bytes"), _bytes_spec("distorted_bytes")])
    def files(self, reference_bytes, distorted_bytes):
        return self.images(_decode(reference_bytes), _decode(distorted_bytes))


class NoReference(tf.Module):
    """One input and one output: TF Serving's bare-value request and response forms."""

    @tf.function(input_signature=[_image_spec("image")])
    def images(self, image):
        return {"score": tf.reduce_mean(image, axis=[1, 2, 3]) / 255.0}


def _save(module, folder):
    signatures = {"serving_default": module.images}
    if hasattr(module, "files"):
        signatures["serve_bytes"] = module.files
    tf.saved_model.save(module, folder, signatures=signatures)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "siamese"
    for version, factor in FACTORS.items():
        _save(FullReference(factor), str(base / str(version)))
    (base / "notes").mkdir()  # not a version: ignored, as TF Serving does
    return str(base)


@pytest.fixture(scope="module")
def nr_model_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "blind"
    _save(NoReference(), str(base / "1"))
    return str(base)


@pytest.fixture(scope="module")
def server(model_dir):
    with ModelServer(model_dir, port=0).start() as running:
        yield running


@pytest.fixture(scope="module")
def nr_server(nr_model_dir):
    with ModelServer(nr_model_dir, port=0).start() as running:
        yield running


def _pair(height=6, width=7, count=None):
    shape = (height, width, 3) if count is None else (count, height, width, 3)
    return RNG.integers(0, 256, shape).astype(np.float32), RNG.integers(0, 256, shape).astype(np.float32)


def _mad(reference, distorted):
    axes = tuple(range(-3, 0))
    return np.mean(np.abs(reference - distorted), axis=axes) / 255.0


def _png(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def _http(method, url, body=None):
    """(status, parsed JSON) of a raw request; `body` a dict (sent as JSON) or bytes."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _raw_exchange(port, data: bytes) -> bytes:
    """Sends `data` on a plain socket and returns everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        return b"".join(iter(lambda: connection.recv(65536), b""))


# --- the client -------------------------------------------------------------------------


def test_client_scores_an_array_pair_with_the_latest_version(server):
    reference, distorted = _pair()
    scores = Client(server.url, "siamese").score(distorted, reference)
    assert scores.shape == (1,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, [_mad(reference, distorted)], rtol=1e-5)


def test_client_scores_a_batch_and_returns_maps(server):
    reference, distorted = _pair(count=3)
    scores, maps = Client(server.url, "siamese").score(distorted, reference, maps=True)
    np.testing.assert_allclose(scores, _mad(reference, distorted), rtol=1e-5)
    assert maps.shape == (3, 6, 7, 1)
    np.testing.assert_allclose(maps[..., 0], np.mean(np.abs(reference - distorted), axis=-1) / 255.0, rtol=1e-5)


def test_client_asks_for_a_version_by_number(server):
    reference, distorted = _pair()
    older = Client(server.url, "siamese", version=1).score(distorted, reference)
    np.testing.assert_allclose(older, [FACTORS[1] * _mad(reference, distorted)], rtol=1e-5)


def test_client_sends_files_and_bytes_to_serve_bytes(server, tmp_path):
    reference, distorted = _pair()
    (tmp_path / "reference.png").write_bytes(_png(reference))
    (tmp_path / "distorted.png").write_bytes(_png(distorted))
    client = Client(server.url, "siamese")
    expected = [_mad(reference, distorted)]
    from_files = client.score(tmp_path / "distorted.png", str(tmp_path / "reference.png"))
    from_bytes = client.score(_png(distorted), _png(reference))
    from_lists = client.score([_png(distorted)] * 2, [_png(reference)] * 2)
    np.testing.assert_allclose(from_files, expected, rtol=1e-5)
    np.testing.assert_allclose(from_bytes, expected, rtol=1e-5)
    np.testing.assert_allclose(from_lists, expected * 2, rtol=1e-5)


def test_client_scores_with_a_no_reference_model(nr_server):
    image = _pair(count=2)[0]
    scores = Client(nr_server.url, "blind").score(image)
    np.testing.assert_allclose(scores, image.mean(axis=(1, 2, 3)) / 255.0, rtol=1e-5)


def test_client_errors_carry_the_server_status_and_message(server, nr_server):
    reference, distorted = _pair()
    with pytest.raises(ServingError, match="Servable not found") as not_found:
        Client(server.url, "nobody").score(distorted, reference)
    assert not_found.value.status == 404
    with pytest.raises(ServingError, match="rejected the inputs") as bad_image:
        Client(server.url, "siamese").score(b"not an image", b"nor this")
    assert bad_image.value.status == 400
    with pytest.raises(ValueError, match="no output 'quality_map'"):
        Client(nr_server.url, "blind").score(reference, maps=True)


def test_client_refuses_mixed_kinds_and_bad_shapes(server):
    client = Client(server.url, "siamese")
    reference, distorted = _pair()
    with pytest.raises(ValueError, match="one kind"):
        client.score(distorted, _png(reference))
    with pytest.raises(ValueError, match="one kind"):
        client.score(_pair(count=2)[0], reference)
    with pytest.raises(ValueError, match=r"Received an array of shape \(6, 7\)"):
        client.score(distorted[..., 0], reference[..., 0])
    with pytest.raises(ValueError, match="must start with http"):
        Client("localhost:8501", "siamese")


def test_client_says_when_no_server_answers():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match="Cannot reach"):
        Client(f"http://127.0.0.1:{port}", "siamese", timeout=5).score(*_pair())


# --- the REST API, as TF Serving documents it --------------------------------------------


def test_row_format_gives_one_object_of_named_outputs_per_instance(server):
    reference, distorted = _pair(count=2)
    instances = [{"reference": r.tolist(), "distorted": d.tolist()} for r, d in zip(reference, distorted)]
    status, answer = _http("POST", f"{server.url}/v1/models/siamese:predict", {"instances": instances})
    assert status == 200 and len(answer["predictions"]) == 2
    assert sorted(answer["predictions"][0]) == ["quality_map", "score"]
    scores = [prediction["score"] for prediction in answer["predictions"]]
    np.testing.assert_allclose(scores, _mad(reference, distorted), rtol=1e-5)
    assert np.shape(answer["predictions"][1]["quality_map"]) == (6, 7, 1)


def test_columnar_format_gives_named_batched_outputs(server):
    reference, distorted = _pair(count=2)
    body = {"signature_name": "serving_default", "inputs": {"reference": reference.tolist(),
                                                            "distorted": distorted.tolist()}}
    status, answer = _http("POST", f"{server.url}/v1/models/siamese/versions/1:predict", body)
    assert status == 200
    np.testing.assert_allclose(answer["outputs"]["score"], FACTORS[1] * _mad(reference, distorted), rtol=1e-5)
    assert np.shape(answer["outputs"]["quality_map"]) == (2, 6, 7, 1)


def test_b64_values_feed_the_serve_bytes_signature(server):
    reference, distorted = _pair()
    body = {"signature_name": "serve_bytes",
            "instances": [{"reference_bytes": _b64(_png(reference)), "distorted_bytes": _b64(_png(distorted))}]}
    status, answer = _http("POST", f"{server.url}/v1/models/siamese:predict", body)
    assert status == 200
    np.testing.assert_allclose(answer["predictions"][0]["score"], _mad(reference, distorted), rtol=1e-5)


def test_single_input_and_output_use_bare_values(nr_server):
    image = _pair(count=2)[0]
    url = f"{nr_server.url}/v1/models/blind:predict"
    expected = image.mean(axis=(1, 2, 3)) / 255.0
    status, rows = _http("POST", url, {"instances": image.tolist()})
    assert status == 200 and all(isinstance(value, float) for value in rows["predictions"])
    np.testing.assert_allclose(rows["predictions"], expected, rtol=1e-5)
    status, columns = _http("POST", url, {"inputs": image.tolist()})
    assert status == 200
    np.testing.assert_allclose(columns["outputs"], expected, rtol=1e-5)


def test_model_status_lists_the_versions(server):
    status, answer = _http("GET", f"{server.url}/v1/models/siamese")
    assert status == 200
    assert [item["version"] for item in answer["model_version_status"]] == ["1", "2"]
    assert answer["model_version_status"][0]["state"] == "AVAILABLE"
    assert answer["model_version_status"][0]["status"] == {"error_code": "OK", "error_message": ""}
    status, one = _http("GET", f"{server.url}/v1/models/siamese/versions/1")
    assert status == 200 and [item["version"] for item in one["model_version_status"]] == ["1"]


def test_metadata_has_tf_serving_shape(server):
    status, answer = _http("GET", f"{server.url}/v1/models/siamese/metadata")
    assert status == 200
    assert answer["model_spec"] == {"name": "siamese", "signature_name": "", "version": "2"}
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serve_bytes"} <= set(signatures)
    reference = signatures["serving_default"]["inputs"]["reference"]
    assert reference["dtype"] == "DT_FLOAT"
    assert [dim["size"] for dim in reference["tensor_shape"]["dim"]] == ["-1", "-1", "-1", "3"]
    assert signatures["serve_bytes"]["inputs"]["distorted_bytes"]["dtype"] == "DT_STRING"
    assert sorted(signatures["serving_default"]["outputs"]) == ["quality_map", "score"]
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    status, older = _http("GET", f"{server.url}/v1/models/siamese/versions/1/metadata")
    assert status == 200 and older["model_spec"]["version"] == "1"


def test_health_endpoint(server):
    assert _http("GET", f"{server.url}/healthz") == (200, {"status": "ok"})


def test_each_request_is_logged_once(server, caplog):
    # A worker logs a request after answering it, so an earlier test's line may still
    # arrive here: count the lines of this test's own (unique) requests only.
    paths = ("/v1/models/logged-first", "/v1/models/logged-second")
    with caplog.at_level(logging.INFO, logger="iqa_keras.serving"):
        for path in paths:
            _http("GET", f"{server.url}{path}")

        def own_lines():
            messages = [record.getMessage() for record in caplog.records if record.name == "iqa_keras.serving"]
            return [message for message in messages if message.split(" ")[1] in paths]

        _wait_for(lambda: len(own_lines()) >= 2, "both requests to be logged")
    lines = own_lines()
    assert len(lines) == 2
    assert re.fullmatch(r"GET /v1/models/logged-first 404 \d+\.\d ms", lines[0])
    assert re.fullmatch(r"GET /v1/models/logged-second 404 \d+\.\d ms", lines[1])


# --- bad requests: 400 with a message that names the problem ------------------------------

_IMAGE = np.zeros((1, 2, 2, 3)).tolist()
_BAD_REQUESTS = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nests its JSON arrays or objects too deeply"),
    (b"[1, 2]", "must be a JSON object; received a list"),
    ({"instances": [], "inputs": {}}, "exactly one of 'instances' (row format) or 'inputs' (columnar format); "
                                      "received both"),
    ({"signature_name": "serving_default"}, "received neither"),
    ({"instances": [{}], "extra": 1}, "Unexpected keys ['extra']"),
    ({"signature_name": 3, "inputs": {}}, "'signature_name' must be a string"),
    ({"signature_name": "classify", "inputs": {}}, 'Serving signature name: "classify" not found'),
    ({"instances": []}, "'instances' must be a non-empty list; received an empty list"),
    ({"instances": [_IMAGE[0]]}, "Each instance must be an object of named inputs ['distorted', 'reference']"),
    ({"instances": [{"reference": _IMAGE[0], "distorted": _IMAGE[0]}, {"reference": _IMAGE[0]}]},
     "All instances must have the same inputs"),
    ({"inputs": {"reference": _IMAGE}}, "the request has ['reference'] (missing ['distorted'])"),
    ({"inputs": {"reference": _IMAGE, "distorted": _IMAGE, "mask": _IMAGE}}, "(unexpected ['mask'])"),
    ({"inputs": _IMAGE}, "'inputs' must be an object of named inputs ['distorted', 'reference']"),
    ({"inputs": {"reference": _IMAGE, "distorted": [[1, 2], [3]]}}, "Input 'distorted' must be float32 numbers"),
    ({"inputs": {"reference": _IMAGE, "distorted": [["a", "b"]]}}, "Input 'distorted' must be float32 numbers"),
    ({"inputs": {"reference": _IMAGE, "distorted": _b64(b"x")}}, "{\"b64\": ...} values are for string inputs"),
    ({"inputs": {"reference": _IMAGE, "distorted": np.zeros((1, 2, 2)).tolist()}},
     "Input 'distorted' must have shape [-1, -1, -1, 3] (-1: any size); received shape [1, 2, 2]"),
    ({"inputs": {"reference": _IMAGE, "distorted": np.zeros((1, 2, 2, 4)).tolist()}},
     "received shape [1, 2, 2, 4]"),
    ({"signature_name": "serve_bytes", "inputs": {"reference_bytes": [{"b64": "***"}], "distorted_bytes": ["x"]}},
     "Input 'reference_bytes' has invalid base64"),
    ({"signature_name": "serve_bytes", "inputs": {"reference_bytes": [3], "distorted_bytes": ["x"]}},
     "Input 'reference_bytes' is a string input: expected strings or {\"b64\": \"...\"} objects; received a number"),
    ({"signature_name": "serve_bytes", "inputs": {"reference_bytes": [["x"], "y"], "distorted_bytes": ["x", "y"]}},
     "Input 'reference_bytes' is ragged"),
    ({"signature_name": "serve_bytes", "inputs": {"reference_bytes": [_b64(b"GIF8 no image")],
                                                  "distorted_bytes": [_b64(b"no image")]}},
     "Signature 'serve_bytes' rejected the inputs"),
    ({"inputs": {"reference": _IMAGE, "distorted": np.zeros((1, 3, 2, 3)).tolist()}},
     "Signature 'serving_default' rejected the inputs: Incompatible shapes"),
]


@pytest.mark.parametrize("body, message", _BAD_REQUESTS, ids=[message[:40] for _, message in _BAD_REQUESTS])
def test_bad_requests_are_400_with_a_clear_message(server, body, message):
    status, answer = _http("POST", f"{server.url}/v1/models/siamese:predict", body)
    assert status == 400
    assert message in answer["error"]


@pytest.mark.parametrize("method, path, message", [
    ("POST", "/v1/models/nobody:predict", "Servable not found for request: Latest(nobody)"),
    ("POST", "/v1/models/siamese/versions/9:predict", "Servable not found for request: Specific(siamese, 9)"),
    ("GET", "/v1/models/nobody", "Servable not found for request: Latest(nobody)"),
    ("GET", "/v1/models/siamese/versions/9/metadata", "Specific(siamese, 9)"),
    ("GET", "/v1/models/siamese:predict", "Malformed request: GET /v1/models/siamese:predict"),
    ("POST", "/v1/models/siamese:classify", "Malformed request"),
    ("GET", "/v2/anything", "Malformed request"),
])
def test_unknown_models_versions_and_paths_are_404(server, method, path, message):
    body = {"inputs": {}} if method == "POST" else None
    status, answer = _http(method, server.url + path, body)
    assert status == 404
    assert message in answer["error"]


def test_request_size_is_bounded_before_the_body_is_read_into_memory(model_dir):
    with ModelServer(model_dir, port=0, max_request_bytes=1000).start() as small:
        reference, distorted = _pair(height=20, width=20)
        with pytest.raises(ServingError, match="exceeds this server's limit of 1000 bytes") as too_large:
            Client(small.url, "siamese").score(distorted, reference)
        assert too_large.value.status == 413
        # A body far larger than the socket buffers: the client gets to read the answer
        # (the server drops what it still sends) instead of a broken connection.
        large = np.random.default_rng(0).integers(0, 256, (1, 300, 300, 3)).astype(np.float32)
        for _ in range(3):
            with pytest.raises(ServingError, match="exceeds this server's limit") as too_large:
                Client(small.url, "siamese").score(large, large)
            assert too_large.value.status == 413
            with pytest.raises(ServingError, match="other") as unknown:  # refused before its body is read
                Client(small.url, "other").score(large, large)
            assert unknown.value.status == 404
        # Announcing a gigabyte and sending none of it gets the same answer at once.
        head = b"POST /v1/models/siamese:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
        assert _raw_exchange(small.port, head).startswith(b"HTTP/1.0 413")
        assert _raw_exchange(small.port, head.replace(b"Content-Length: 1000000000\r\n", b"")).startswith(
            b"HTTP/1.0 411")
        assert Client(small.url, "siamese").score(_png(distorted[:4, :4]), _png(reference[:4, :4])).shape == (1,)


def test_concurrent_requests_all_get_their_own_answers(server):
    client = Client(server.url, "siamese")
    pairs = [_pair(height=16, width=16) for _ in range(40)]

    def score(index):
        reference, distorted = pairs[index]
        return client.score(distorted, reference)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        scores = list(pool.map(score, range(len(pairs))))
    np.testing.assert_allclose(scores, [_mad(r, d) for r, d in pairs], rtol=1e-5)


# --- hostile clients and limits ----------------------------------------------------------------


def _predict_head(port_body_length: int, extra: str = "") -> bytes:
    return (f"POST /v1/models/siamese:predict HTTP/1.1\r\nHost: x\r\n{extra}"
            f"Content-Length: {port_body_length}\r\n\r\n").encode()


def _pair_body(height=6, width=7):
    reference, distorted = _pair(height, width)
    return reference, distorted, json.dumps(
        {"inputs": {"reference": [reference.tolist()], "distorted": [distorted.tolist()]}}).encode()


def test_slow_clients_hold_only_their_own_connections(model_dir):
    """16 sockets trickling half a header do not stall the others (who would wait for the
    30 s deadline otherwise), and a deadline closes such a socket."""
    with ModelServer(model_dir, port=0, request_timeout=30.0).start() as running:
        slow = [socket.create_connection(("127.0.0.1", running.port), timeout=60) for _ in range(16)]
        try:
            for connection in slow:
                connection.sendall(b"POST /v1/models/siamese:predict HTTP/1.1\r\nHost:")
            _wait_for(lambda: running.active_requests == 16, "the server to take the slow sockets")
            client = Client(running.url, "siamese")
            started = time.monotonic()
            for _ in range(8):
                reference, distorted = _pair()
                np.testing.assert_allclose(client.score(distorted, reference), [_mad(reference, distorted)], rtol=1e-5)
            assert time.monotonic() - started < 15  # well before the slow sockets' deadline
        finally:
            for connection in slow:
                connection.close()
    with ModelServer(model_dir, port=0, request_timeout=1.0).start() as running:
        with socket.create_connection(("127.0.0.1", running.port), timeout=60) as connection:
            connection.sendall(b"POST /v1/models/siamese:predict HTTP/1.1\r\nHost:")
            assert connection.recv(65536) == b""  # closed by the server at the deadline


def test_a_body_that_stops_arriving_gets_408_and_a_short_one_400(model_dir, caplog):
    reference, distorted, body = _pair_body()
    with ModelServer(model_dir, port=0, request_timeout=1.0).start() as running:
        with socket.create_connection(("127.0.0.1", running.port), timeout=30) as connection:
            connection.sendall(_predict_head(len(body)) + body[:50])
            started = time.monotonic()
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.0 408")
        assert b"within 1 s (request_timeout)" in answer
        assert time.monotonic() - started < 10
        with socket.create_connection(("127.0.0.1", running.port), timeout=30) as connection:
            connection.sendall(_predict_head(len(body)) + body[:50])
            connection.shutdown(socket.SHUT_WR)  # the client is done sending: the body is short
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.0 400")
        assert f"ended after 50 of the {len(body)} bytes".encode() in answer
    assert not [record for record in caplog.records if record.exc_info]


def test_clients_that_hang_up_leave_a_log_line_not_a_traceback(model_dir, caplog):
    reference, distorted, body = _pair_body()
    with caplog.at_level(logging.INFO, logger="iqa_keras.serving"):
        with ModelServer(model_dir, port=0).start() as running:
            for _ in range(3):
                connection = socket.create_connection(("127.0.0.1", running.port), timeout=30)
                connection.sendall(_predict_head(len(body)) + body[:50])
                # Close with a reset (linger 0): the server's next read fails.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                connection.close()
            _wait_for(lambda: running.active_requests == 0, "the server to drop the connections")
            assert Client(running.url, "siamese").score(distorted, reference).shape == (1,)
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]
    assert any("hung up" in record.getMessage() or "ended" in record.getMessage() for record in caplog.records)


def test_a_full_queue_is_503_with_retry_after(model_dir):
    with ModelServer(model_dir, port=0, workers=1, queue_size=0).start() as running:
        served = running.model.latest
        release, entered = threading.Event(), threading.Event()
        real_predict = served.predict

        def blocking_predict(*arguments):
            entered.set()
            release.wait(30)
            return real_predict(*arguments)

        served.predict = blocking_predict
        try:
            reference, distorted = _pair()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                first = pool.submit(Client(running.url, "siamese").score, distorted, reference)
                assert entered.wait(30)
                request = urllib.request.Request(
                    running.url + "/v1/models/siamese:predict", method="POST",
                    data=json.dumps({"inputs": {"reference": [reference.tolist()],
                                                "distorted": [distorted.tolist()]}}).encode())
                with pytest.raises(urllib.error.HTTPError) as busy:
                    urllib.request.urlopen(request, timeout=30)
                assert busy.value.code == 503
                assert busy.value.headers["Retry-After"] == "1"
                assert "busy" in json.loads(busy.value.read())["error"]
                release.set()
                np.testing.assert_allclose(first.result(timeout=30), [_mad(reference, distorted)], rtol=1e-5)
        finally:
            release.set()
            served.predict = real_predict


def test_connections_past_the_limit_are_503_at_once(model_dir):
    with ModelServer(model_dir, port=0, max_connections=2).start() as running:
        held = [socket.create_connection(("127.0.0.1", running.port), timeout=30) for _ in range(2)]
        try:
            _wait_for(lambda: running.active_requests == 2, "the server to take two connections")
            answer = _raw_exchange(running.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.0 503")
            assert b"Retry-After: 1" in answer and b"limit of 2 connections" in answer
        finally:
            for connection in held:
                connection.close()
        _wait_for(lambda: running.active_requests == 0, "the held connections to end")
        assert _http("GET", running.url + "/healthz") == (200, {"status": "ok"})


def test_the_pixel_budget_is_413_before_decoding(model_dir):
    with ModelServer(model_dir, port=0, max_pixels=100).start() as running:
        client = Client(running.url, "siamese")
        reference, distorted = _pair(height=5, width=10)  # 2 x 50 pixels: within the budget
        assert client.score(distorted, reference).shape == (1,)
        for too_large in (_pair(height=6, width=10), tuple(map(_png, _pair(height=6, width=10)))):
            with pytest.raises(ServingError, match="over this server's budget of 100 pixels") as refused:
                client.score(too_large[1], too_large[0])
            assert refused.value.status == 413


def test_nan_and_infinite_pixels_are_400(server):
    reference, distorted = _pair()
    for value in (np.nan, np.inf):
        broken = distorted.copy()
        broken[0, 0, 0] = value
        with pytest.raises(ServingError, match="'distorted' holds NaN or infinite values") as refused:
            Client(server.url, "siamese").score(broken, reference)
        assert refused.value.status == 400


# --- shutdown -------------------------------------------------------------------------------


def _wait_for(condition, what, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _refuses(port) -> bool:
    """True once the port takes no connection: refused, or reset while its socket closes."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def test_shutdown_finishes_the_request_in_flight_then_refuses(model_dir):
    running = ModelServer(model_dir, port=0).start()
    reference, distorted = _pair()
    body = json.dumps({"inputs": {"reference": [reference.tolist()], "distorted": [distorted.tolist()]}}).encode()
    head = f"POST /v1/models/siamese:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as connection:
        connection.sendall(head + body[:100])  # the request is in flight, its body half sent
        _wait_for(lambda: running.active_requests == 1, "the server to take the request")
        stopping = threading.Thread(target=running.shutdown)
        stopping.start()
        _wait_for(lambda: _refuses(running.port), "the port to close")
        assert stopping.is_alive()  # still waiting for the request in flight
        connection.sendall(body[100:])
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert answer.startswith(b"HTTP/1.0 200")
    score = json.loads(answer.split(b"\r\n\r\n", 1)[1])["outputs"]["score"]
    np.testing.assert_allclose(score, [_mad(reference, distorted)], rtol=1e-5)


def test_serve_exits_0_on_sigterm(model_dir):
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(message)s'); "
            "from iqa_keras.serving import serve; serve(sys.argv[1], port=0)")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen([sys.executable, "-c", code, model_dir], stderr=subprocess.PIPE, text=True,
                               env=environment)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    try:
        url, seen = None, []
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline and process.poll() is None:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            match = re.search(r"Serving model 'siamese', versions \[1, 2\], at (http://\S+)", seen[-1])
            url = match and match[1]
        assert url is not None, "".join(seen)
        assert _http("GET", f"{url}/healthz") == (200, {"status": "ok"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = []
    while not lines.empty():
        output.append(lines.get())
    assert any(re.match(r"GET /healthz 200 ", line) for line in output)
    assert any(line.startswith("Shutting down") for line in output)


# --- pieces ---------------------------------------------------------------------------------


def test_load_model_needs_tf_serving_layout(tmp_path):
    with pytest.raises(ValueError, match=r"expected TF Serving's layout <model_dir>/<version number>/saved_model.pb"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        load_model(tmp_path / "missing")


def test_string_outputs_named_bytes_go_back_as_b64():
    from iqa_keras.serving.json_api import encode_outputs

    outputs = {"label": np.array([b"good", b"bad"], dtype=object),
               "thumbnail_bytes": np.array([b"\x00", b"\x01"], dtype=object)}  # as TF returns strings
    assert encode_outputs(outputs, row_format=True) == {"predictions": [
        {"label": "good", "thumbnail_bytes": {"b64": "AA=="}},
        {"label": "bad", "thumbnail_bytes": {"b64": "AQ=="}},
    ]}
    with pytest.raises(ServingError, match="batch sizes differ"):
        encode_outputs({"score": np.zeros(2), "total": np.zeros(())}, row_format=True)


def test_grpc_predict_round_trip(server):
    pytest.importorskip("tensorflow_serving")
    from iqa_keras.serving import GrpcModelServer

    grpc_server = GrpcModelServer(server.model, port=0).start()
    try:
        client = Client(grpc_server.url, "siamese")
        reference, distorted = _pair(count=2)
        scores, maps = client.score(distorted, reference, maps=True)
        np.testing.assert_allclose(scores, _mad(reference, distorted), rtol=1e-5)
        assert maps.shape == (2, 6, 7, 1)
        from_bytes = Client(grpc_server.url, "siamese", version=1).score(_png(distorted[0]), _png(reference[0]))
        np.testing.assert_allclose(from_bytes, [FACTORS[1] * _mad(reference[0], distorted[0])], rtol=1e-5)
        with pytest.raises(ServingError, match="NOT_FOUND.*Servable not found") as not_found:
            Client(grpc_server.url, "nobody").score(distorted, reference)
        assert not_found.value.status == 404
        with pytest.raises(ServingError, match="INVALID_ARGUMENT.*must have shape") as bad_shape:
            client.score(distorted[..., :2], reference[..., :2])
        assert bad_shape.value.status == 400
        with pytest.raises(OSError, match=f"Cannot listen for gRPC on 127.0.0.1:{grpc_server.port}"):
            GrpcModelServer(server.model, port=grpc_server.port)  # taken by the first: not shared
    finally:
        grpc_server.shutdown()


def test_an_exported_keras_model_serves_end_to_end(tmp_path):
    export = pytest.importorskip("iqa_keras.export")
    from iqa_keras.models import SiameseDifferenceIQA

    model = SiameseDifferenceIQA(encoder_options={"filters": (4, 4, 8, 8)}, fusion_filters=4,
                                 num_residual_blocks=0, output_keys=("score", "quality_map"))
    export.export_saved_model(model, tmp_path / "fr", version=3)
    reference, distorted = _pair(height=32, width=32, count=2)
    expected = model({"reference": reference, "distorted": distorted})
    with ModelServer(tmp_path / "fr", port=0).start() as running:
        client = Client(running.url, "fr")
        scores, maps = client.score(distorted, reference, maps=True)
        from_bytes = client.score([_png(image) for image in distorted], [_png(image) for image in reference])
        with pytest.raises(ServingError, match=r"distorted_bytes: all images of a batch must have the same "
                           r"height and width; image 1 is \(height, width\) 16 32 but image 0 is 32 32"):
            client.score([_png(distorted[0]), _png(distorted[1, :16])], [_png(image) for image in reference])
    np.testing.assert_allclose(scores, np.ravel(expected["score"]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(from_bytes, scores, rtol=1e-4, atol=1e-6)
    assert maps.shape == tuple(expected["quality_map"].shape)


def test_an_exported_model_refuses_images_below_its_minimum_size_with_400(tmp_path):
    from iqa_keras import export
    from iqa_keras.models import SiameseDifferenceIQA

    export.export_saved_model(SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0), tmp_path / "fr")
    with ModelServer(str(tmp_path / "fr"), port=0).start() as running:
        client = Client(running.url, "fr")
        reference, distorted = _pair(height=1, width=1)
        with pytest.raises(ServingError, match=r"rejected the inputs: The images are smaller than the minimum of "
                                               r"16x16 pixels of this model \(the stride") as refused:
            client.score(distorted, reference)
        assert refused.value.status == 400 and "Condition" not in str(refused.value)
        assert client.score(*_pair(height=16, width=20)).shape == (1,)
