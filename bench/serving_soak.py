"""The local server under hostile load: slow-loris sockets, well-behaved clients, huge images.

Run: `python bench/serving_soak.py [--model fr-default] [--requests 50] [--big 4096]`
(CPU; loopback only; bounded in requests and time, stops by itself; a few minutes).

The model (a bundled name or a .keras file) is exported with `export_saved_model` (the
command's tiling in its graph) and served by `iqa-keras serve` in a subprocess, default
limits, so that its peak memory (VmHWM of /proc) is the server's alone. Then:

1. 8 well-behaved clients send `--requests` requests each (a 256x192 PNG pair through
   `serve_bytes`), first alone, then while 16 slow-loris sockets trickle half a header,
   one byte every 2 s, each reopened when the server's request deadline closes it.
   Printed: errors (target 0 for the well-behaved clients) and p50/p95 latency, side by
   side.
2. 4 concurrent requests of a `--big` x `--big` JPEG pair: their scores (equal to
   `iqa_keras.score`'s, tiled alike, printed for the first) and the server's peak memory
   (target: under 3 GB).
3. `GET /v1/models/NAME` answers at the end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from iqa_keras.serving import Client  # noqa: E402

CLIENTS, SLOW_SOCKETS, BIG_REQUESTS = 8, 16, 4
MEMORY_TARGET_GB = 3.0


def jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def photo(width: int, height: int) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC))


def start_server(model_dir: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "iqa_keras.cli", "serve", model_dir, "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    for line in process.stderr:
        match = re.search(r"at (http://\S+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # drain the log
            return process, match[1]
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the server did not start")


def peak_memory_gb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kilobytes = int(re.search(r"VmHWM:\s+(\d+) kB", status.read())[1])
    return kilobytes / 2**20


def well_behaved_load(url: str, name: str, pair: tuple[bytes, bytes], requests: int) -> tuple[list[float], int]:
    """Latencies (s) of CLIENTS clients sending `requests` each, and the errors."""
    client = Client(url, name, timeout=120)

    def one_client(_):
        latencies, errors = [], 0
        for _ in range(requests):
            start = time.perf_counter()
            try:
                client.score(pair[1], pair[0])
                latencies.append(time.perf_counter() - start)
            except Exception:  # counted, not raised: the figure is the error count
                errors += 1
        return latencies, errors

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one_client, range(CLIENTS)))
    return [value for latencies, _ in results for value in latencies], sum(errors for _, errors in results)


class SlowLoris:
    """SLOW_SOCKETS sockets trickling a request header, reopened when the server closes one."""

    def __init__(self, port: int):
        self.port, self.stop, self.reopened = port, threading.Event(), 0
        self.threads = [threading.Thread(target=self._trickle, daemon=True) for _ in range(SLOW_SOCKETS)]

    def _trickle(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
                    connection.sendall(b"POST /v1/models/x:predict HTTP/1.1\r\nHost: x\r\n")
                    while not self.stop.wait(2.0):
                        connection.sendall(b"X")
            except OSError:
                self.reopened += 1

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def percentile(values, q) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fr-default", help="a bundled name or .keras file (full-reference)")
    parser.add_argument("--requests", type=int, default=50, help="requests per well-behaved client")
    parser.add_argument("--big", type=int, default=4096, help="side of the large pairs")
    args = parser.parse_args(argv)

    import iqa_keras
    from iqa_keras.export import export_saved_model

    folder = tempfile.mkdtemp(prefix="serving-soak-")
    name = "soak"
    model = iqa_keras.load(args.model, compile=False)
    export_saved_model(model, os.path.join(folder, name))
    process, url = start_server(os.path.join(folder, name))
    try:
        small = photo(256, 192)
        pair = png(small), png(np.clip(small.astype(np.int16) + 12, 0, 255).astype(np.uint8))
        well_behaved_load(url, name, pair, 2)  # warm-up
        alone, alone_errors = well_behaved_load(url, name, pair, args.requests)
        with SlowLoris(int(url.rsplit(":", 1)[1])) as loris:
            loaded, loaded_errors = well_behaved_load(url, name, pair, args.requests)
        print(f"{CLIENTS} clients x {args.requests} requests (256x192 PNG pairs), {args.model}:")
        print(f"  {'':<28} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8}")
        print(f"  {'alone':<28} {alone_errors:>7} {percentile(alone, 50):8.1f} {percentile(alone, 95):8.1f}")
        print(f"  {f'with {SLOW_SOCKETS} slow-loris sockets':<28} {loaded_errors:>7} "
              f"{percentile(loaded, 50):8.1f} {percentile(loaded, 95):8.1f}   (sockets reopened: {loris.reopened})")
        print(f"  p50 ratio loaded/alone: {percentile(loaded, 50) / percentile(alone, 50):.2f}; target errors: 0")

        big = photo(args.big, args.big)
        big_pair = jpeg(big, 95), jpeg(big, 30)
        before = peak_memory_gb(process.pid)
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(BIG_REQUESTS) as pool:
            scores = list(pool.map(lambda _: float(Client(url, name, timeout=600).score(big_pair[1], big_pair[0])[0]),
                                   range(BIG_REQUESTS)))
        seconds = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as files:
            paths = []
            for index, content in enumerate(big_pair):
                paths.append(os.path.join(files, f"{index}.jpg"))
                with open(paths[-1], "wb") as file:
                    file.write(content)
            command = iqa_keras.score(paths[1], reference=paths[0], model=args.model)
        peak = peak_memory_gb(process.pid)
        print(f"{BIG_REQUESTS} concurrent {args.big}x{args.big} JPEG pairs: {seconds:.1f} s; served score "
              f"{scores[0]:.6f} (all equal: {len(set(scores)) == 1}), iqa_keras.score {float(command):.6f}")
        print(f"  server peak memory {peak:.2f} GB (before the large pairs {before:.2f} GB); "
              f"target under {MEMORY_TARGET_GB:g} GB: {'met' if peak < MEMORY_TARGET_GB else 'missed'}")
        print(f"GET /v1/models/{name} at the end: {_status(url, name)}")
    finally:
        process.terminate()
        process.wait(timeout=60)


def _status(url: str, name: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/v1/models/{name}", timeout=30) as response:
        return f"{response.status} {response.read().decode()}"


if __name__ == "__main__":
    main()
