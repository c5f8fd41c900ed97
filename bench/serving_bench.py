"""Latency and throughput of one full-reference model from Keras to the local REST server.

Run: `python bench/serving_bench.py [--requests 40]` (CPU or GPU).

The model is `SiameseDifferenceIQA()` with its default (small) configuration, untrained
(speed does not depend on the weights), exported with `export_saved_model`. Pairs are
real photos at 512x384 with noise, blur and JPEG distortions (`metrics_bench.make_pairs`).
One pair per call; each figure is over `--requests` calls after a warm-up, the
single-caller contenders taking turns call by call so that they see the same load:

(a) Keras: `model.predict_on_batch` on float32 arrays;
(b) SavedModel: `tf.saved_model.load(...).signatures["serving_default"]` on tensors;
(c) REST: `Client.score` on PNG bytes (`serve_bytes`, b64 in JSON) against a
    `ModelServer` (what `iqa-keras serve` runs) in this process, first with one client,
    then with 4 concurrent clients (latency and throughput);
decode only: what the server must do before the model for such a request (parse the
    JSON, undo the base64, decode both PNGs with the export's own `decode_image_batch`);
    and, for reference, the `serve_bytes` signature called directly (decode + model).

Printed: p50 and p99 latency (p99 of a few dozen calls is close to their maximum),
throughput, and the ratios the targets are about: (b)/(a) at p50 (target within 10%),
and what (c) adds at p50 beyond (b) and decoding (target under 5 ms). Also, for scale,
the decode cost of the same pair sent as JSON numbers to `serving_default`.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import io
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from metrics_bench import make_pairs  # noqa: E402  (beside this script)
from PIL import Image  # noqa: E402

from iqa_keras.export import decode_image_batch, export_saved_model  # noqa: E402
from iqa_keras.models import SiameseDifferenceIQA  # noqa: E402
from iqa_keras.serving import Client, ModelServer  # noqa: E402

CLIENTS = 4


def latencies(functions: dict, calls: int) -> dict[str, np.ndarray]:
    """Milliseconds of each of `calls` calls of each function, after a warm-up call.

    The functions take turns, one call each, so that they all see the same machine load.
    """
    times = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(calls):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: np.array(measured) for name, measured in times.items()}


def concurrent_latencies(function, calls: int, clients: int) -> tuple[np.ndarray, float]:
    """Milliseconds of each call when `clients` threads call at once, and calls per second."""
    function()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        times = list(pool.map(lambda _: latencies({"": function}, calls // clients)[""], range(clients)))
    return np.concatenate(times), clients * (calls // clients) / (time.perf_counter() - start)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def row(name: str, times: np.ndarray, per_second: float | None = None) -> str:
    rate = 1000 / np.mean(times) if per_second is None else per_second
    return f"{name:44} {np.percentile(times, 50):8.1f} {np.percentile(times, 99):8.1f} {rate:8.1f}"


def run(calls: int) -> None:
    references, distorted = (np.clip(np.round(images), 0, 255) for images in make_pairs(8))  # as PNG keeps them
    pairs = [(references[i:i + 1], distorted[i:i + 1]) for i in range(len(references))]
    files = [(png(r[0]), png(d[0])) for r, d in pairs]
    model = SiameseDifferenceIQA()
    model_dir = os.path.join(tempfile.mkdtemp(), "siamese")
    export_saved_model(model, model_dir, version=1)
    signature = tf.saved_model.load(os.path.join(model_dir, "1")).signatures["serving_default"]
    tensors = [(tf.constant(r), tf.constant(d)) for r, d in pairs]
    decode = tf.function(decode_image_batch, input_signature=[tf.TensorSpec([None], tf.string)])
    counter = iter(range(10**9))

    def keras_call():
        r, d = pairs[next(counter) % len(pairs)]
        return model.predict_on_batch({"reference": r, "distorted": d})

    def signature_call():
        r, d = tensors[next(counter) % len(tensors)]
        return signature(reference=r, distorted=d)["score"].numpy()

    bodies = [json.dumps({"signature_name": "serve_bytes", "instances": [
        {"reference_bytes": {"b64": base64.b64encode(r).decode()},
         "distorted_bytes": {"b64": base64.b64encode(d).decode()}}]}).encode() for r, d in files]

    serve_bytes = tf.saved_model.load(os.path.join(model_dir, "1")).signatures["serve_bytes"]
    file_tensors = [(tf.constant([r]), tf.constant([d])) for r, d in files]

    def serve_bytes_call():
        r, d = file_tensors[next(counter) % len(file_tensors)]
        return serve_bytes(reference_bytes=r, distorted_bytes=d)["score"].numpy()

    def decode_only():
        request = json.loads(bodies[next(counter) % len(bodies)])["instances"][0]
        for name in ("reference_bytes", "distorted_bytes"):
            decode(tf.constant([base64.b64decode(request[name]["b64"])])).numpy()

    number_body = json.dumps({"instances": [{"reference": np.round(pairs[0][0][0]).tolist(),
                                             "distorted": np.round(pairs[0][1][0]).tolist()}]}).encode()

    def decode_numbers():
        request = json.loads(number_body)["instances"]
        for name in ("reference", "distorted"):
            np.asarray([instance[name] for instance in request], np.float32)

    with ModelServer(model_dir, port=0).start() as server:
        client = Client(server.url, "siamese")

        def rest_call():
            r, d = files[next(counter) % len(files)]
            return client.score(d, r)

        expected = signature(reference=tensors[0][0], distorted=tensors[0][1])["score"].numpy()
        np.testing.assert_allclose(client.score(files[0][1], files[0][0]), expected, rtol=1e-4, atol=1e-6)
        print(f"SiameseDifferenceIQA() ({model.count_params()} weights), one 512x384 pair per call, "
              f"{calls} calls each; device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
              f"{os.cpu_count()} logical CPUs; PNG pair: {sum(map(len, files[0])) / 1024:.0f} KiB")
        print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'pairs/s':>8}")
        times = latencies({"a": keras_call, "b": signature_call, "decode": decode_only, "bytes": serve_bytes_call,
                           "c": rest_call}, calls)
        keras_times, signature_times, decode_times, bytes_times, rest_times = times.values()
        rest_concurrent, rest_rate = concurrent_latencies(rest_call, calls, CLIENTS)
        number_times = latencies({"": decode_numbers}, 3)[""]
        print(row("(a) Keras predict_on_batch", keras_times))
        print(row("(b) SavedModel serving_default", signature_times))
        print(row("decode only (JSON + b64 + 2 PNG)", decode_times))
        print(row("SavedModel serve_bytes (PNG decode in graph)", bytes_times))
        print(row("(c) REST serve_bytes, 1 client", rest_times))
        print(row(f"(c) REST serve_bytes, {CLIENTS} concurrent clients", rest_concurrent, rest_rate))
        print(row("for scale: decode of JSON numbers (3 calls)", number_times))
        p50 = {name: float(np.percentile(measured, 50)) for name, measured in times.items()}
        added = p50["c"] - p50["b"] - p50["decode"]
        print(f"(b)/(a) at p50: {p50['b'] / p50['a']:.3f} (target: within 10%)")
        print(f"(c) 1 client at p50 beyond (b) and decoding: {added:+.1f} ms (target: under 5 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="calls per measurement (default: 40)")
    run(parser.parse_args().requests)


if __name__ == "__main__":
    main()
