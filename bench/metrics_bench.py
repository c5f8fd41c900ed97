"""Throughput of iqa_keras.metrics' PSNR, SSIM and MS-SSIM against scikit-image and tf.image.

Run: `python bench/metrics_bench.py [--repeats 5]` (TensorFlow backend, CPU or GPU).

All three implementations score the same 16 pairs of 384x512 RGB photos (float32,
0-255: real photos with noise, blur and JPEG distortions), all on RGB (per-channel SSIM,
mean over channels). Ours and tf.image are both timed as `tf.function`s (graph mode,
no XLA: on CPU, XLA runs these convolutions 20-60x slower, for both), after a warm-up
call that traces them; scikit-image scores one pair at a time (it has no batches).
Each figure is the best of `--repeats` timed runs, the contenders taking turns so that
they see the same load (the usual way to measure on a shared machine). The script
prints pairs per second, the ratios ours / scikit-image and ours / tf.image, and the
largest absolute difference between our values and each reference's.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402
from skimage import data as skimage_data  # noqa: E402
from skimage import metrics as skimage_metrics  # noqa: E402

from iqa_keras import metrics  # noqa: E402

HEIGHT, WIDTH, PAIRS = 384, 512, 16


def make_pairs(count: int = PAIRS):
    """`count` reference/distorted pairs of real photos, float32 0-255, 384x512x3."""
    photos = [skimage_data.astronaut(), skimage_data.coffee(), skimage_data.rocket(), skimage_data.chelsea()]
    rng = np.random.default_rng(0)
    references, distorted = [], []
    for index in range(count):
        image = Image.fromarray(photos[index % len(photos)]).resize((WIDTH, HEIGHT), Image.BICUBIC)
        kind = index % 3
        if kind == 0:
            noisy = np.asarray(image, np.float32) + rng.normal(0, 5 + index, (HEIGHT, WIDTH, 3))
            changed = np.clip(noisy, 0, 255)
        elif kind == 1:
            changed = np.asarray(image.filter(ImageFilter.GaussianBlur(1 + index % 4)), np.float32)
        else:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=5 + 3 * index)
            changed = np.asarray(Image.open(buffer), np.float32)
        references.append(np.asarray(image, np.float32))
        distorted.append(changed.astype(np.float32))
    return np.stack(references), np.stack(distorted)


def best_times(functions: dict, repeats: int, minimum_seconds: float = 0.2) -> dict:
    """Seconds per call of each function: the best of `repeats` timed runs.

    A warm-up call first traces tf.functions and fills caches; each timed run then calls
    a function often enough to last `minimum_seconds`, and the functions take turns, so
    that all of them see the same machine load.
    """
    calls = {}
    for name, function in functions.items():
        function()
        start = time.perf_counter()
        function()
        calls[name] = max(1, math.ceil(minimum_seconds / (time.perf_counter() - start)))
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                function()
            times[name].append((time.perf_counter() - start) / calls[name])
    return {name: min(measured) for name, measured in times.items()}


def compiled(function):
    return tf.function(function, reduce_retracing=True)


def implementations():
    """name -> (ours, tf.image, scikit-image on one pair), all on RGB 0-255."""
    return {
        "PSNR": (
            compiled(lambda r, d: metrics.psnr(r, d, data_range=255.0, color="rgb")),
            compiled(lambda r, d: tf.image.psnr(r, d, 255.0)),
            lambda r, d: skimage_metrics.peak_signal_noise_ratio(r, d, data_range=255.0),
        ),
        "SSIM": (
            compiled(lambda r, d: metrics.ssim(r, d, data_range=255.0, color="rgb")),
            compiled(lambda r, d: tf.image.ssim(r, d, 255.0)),
            lambda r, d: skimage_metrics.structural_similarity(
                r, d, data_range=255.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                use_sample_covariance=False,
            ),
        ),
        "MS-SSIM": (
            compiled(lambda r, d: metrics.ms_ssim(r, d, data_range=255.0, color="rgb")),
            compiled(lambda r, d: tf.image.ssim_multiscale(r, d, 255.0)),
            None,  # scikit-image has no MS-SSIM
        ),
    }


def run(repeats: int) -> None:
    references, distorted = make_pairs()
    reference_tensor, distorted_tensor = tf.constant(references), tf.constant(distorted)
    print(f"{PAIRS} pairs of {HEIGHT}x{WIDTH} RGB float32 0-255; ours and tf.image as tf.function "
          f"(graph, no XLA) after a warm-up; best of {repeats}; device: "
          f"{'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
          f"{os.cpu_count()} logical CPUs")
    header = (f"{'metric':8} {'batch':>5} {'ours/s':>9} {'tf.image/s':>11} {'skimage/s':>10} "
              f"{'ours/sk':>8} {'ours/tf':>8} {'max|ours-tf|':>13} {'max|ours-sk|':>13}")
    print(header)
    for name, (ours, tf_image, skimage_one) in implementations().items():
        ours_values = np.asarray(ours(reference_tensor, distorted_tensor))
        tf_values = np.asarray(tf_image(reference_tensor, distorted_tensor))
        sk_values = None
        if skimage_one is not None:
            sk_values = np.array([skimage_one(r, d) for r, d in zip(references, distorted)])
        for batch in (1, 16):
            chunks = [(reference_tensor[i:i + batch], distorted_tensor[i:i + batch]) for i in range(0, PAIRS, batch)]
            contenders = {
                "ours": lambda: [ours(r, d).numpy() for r, d in chunks],
                "tf": lambda: [tf_image(r, d).numpy() for r, d in chunks],
            }
            if skimage_one is not None:
                contenders["skimage"] = lambda: [skimage_one(r, d) for r, d in zip(references, distorted)]
            rates = {key: PAIRS / seconds for key, seconds in best_times(contenders, repeats).items()}
            if "skimage" in rates:
                sk_ratio = f"{rates['ours'] / rates['skimage']:7.2f}x"
                sk_rate, sk_difference = f"{rates['skimage']:10.1f}", f"{np.abs(ours_values - sk_values).max():13.2e}"
            else:
                sk_rate, sk_ratio, sk_difference = f"{'n/a':>10}", f"{'n/a':>8}", f"{'n/a':>13}"
            print(f"{name:8} {batch:5d} {rates['ours']:9.1f} {rates['tf']:11.1f} {sk_rate} {sk_ratio} "
                  f"{rates['ours'] / rates['tf']:7.2f}x {np.abs(ours_values - tf_values).max():13.2e} {sk_difference}")
    print("skimage scores one pair at a time at both batch sizes (no batching); MS-SSIM has no "
          "scikit-image reference.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (best is kept)")
    run(parser.parse_args().repeats)
