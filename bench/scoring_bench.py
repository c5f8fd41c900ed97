"""Scoring a folder vs the measure's own rate: how much of a model's speed the command keeps.

Run: `python bench/scoring_bench.py [--pairs 12] [--rounds 3] [--format png|jpeg]` (CPU or GPU).

For `fr-default`, `nr-default` and SSIM, on `--pairs` pairs of 512x384 PNG (or JPEG,
quality 95) files (smooth random images with noise, written to a temporary folder),
side by side in one run:

- the measure alone: pairs per second on the images already decoded in memory; for a
  learned model the compiled `predict_on_batch` of its score at its best batch size (1
  or 4: on a CPU a bigger batch is not always faster), for SSIM its function eager and
  compiled (`tf.function`, as `scoring.measure` makes it);
- the folder path: `iqa_keras.scoring.score_files` over the files with the function
  `iqa_keras.scoring.measure` makes, what `iqa-keras score` and `evaluate` run
  (decoding included, overlapped with the measure);
- their ratio (the target: at least 0.80).

Contenders take turns, one pass each per round after a warm-up pass; figures are medians
over `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import iqa_keras  # noqa: E402
from iqa_keras import metrics, scoring  # noqa: E402

HEIGHT, WIDTH = 384, 512
TARGET = 0.80
BATCHES = (1, 4)


def write_pairs(folder: str, count: int, extension: str = "png") -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    pairs = []
    for index in range(count):
        coarse = rng.uniform(0, 255, (HEIGHT // 16, WIDTH // 16, 3)).astype(np.uint8)
        reference = np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.BICUBIC), np.float32)
        distorted = np.clip(reference + rng.normal(0, 5 + index, reference.shape), 0, 255)
        paths = tuple(os.path.join(folder, f"{kind}{index:03d}.{extension}") for kind in ("reference", "distorted"))
        for path, image in zip(paths, (reference, distorted)):
            Image.fromarray(image.astype(np.uint8)).save(path, quality=95)
        pairs.append(paths)
    return pairs


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def in_memory_passes(name: str, images: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """The measure alone, one pass over the decoded images per call, for each batch size."""
    if name == "ssim":
        eager = metrics.get("ssim").function
        compiled, _, _ = scoring.measure(metric="ssim")  # what the folder path runs
        return {
            "eager": lambda: [eager(r, d, data_range=255.0) for r, d in images],
            "compiled": lambda: [compiled(d, r) for r, d in images],
        }
    model = iqa_keras.load(name, compile=False)
    full_reference = isinstance(model.input, dict) and "reference" in model.input
    passes = {}
    for batch in BATCHES:
        stacks = [
            (np.stack([r for r, _ in images[i : i + batch]]), np.stack([d for _, d in images[i : i + batch]]))
            for i in range(0, len(images) - batch + 1, batch)
        ]
        inputs = [{"reference": r, "distorted": d} if full_reference else {"distorted": d} for r, d in stacks]
        passes[f"batch {batch}"] = lambda inputs=inputs: [model.predict_on_batch(x) for x in inputs]
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--format", choices=("png", "jpeg"), default="png")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pairs = write_pairs(folder, arguments.pairs, arguments.format)
        images = [iqa_keras.io.read_pair(reference, distorted) for reference, distorted in pairs]
        print(f"{arguments.pairs} pairs of {WIDTH}x{HEIGHT} {arguments.format.upper()} files, "
              f"medians of {arguments.rounds} rounds")
        for name in ("fr-default", "nr-default", "ssim"):
            if name == "ssim":
                function, _, label = scoring.measure(metric="ssim")
                folder_pairs = pairs
            else:
                function, full_reference, label = scoring.measure(model=name)
                folder_pairs = pairs if full_reference else [(None, distorted) for _, distorted in pairs]
            contenders = in_memory_passes(name, images)
            contenders["folder"] = lambda: list(scoring.score_files(folder_pairs, function, label))
            times = {key: [] for key in contenders}
            for run in contenders.values():  # warm-up: tracing, first allocations
                run()
            for _ in range(arguments.rounds):
                for key, run in contenders.items():
                    times[key].append(timed(run))
            rates = {key: arguments.pairs / statistics.median(values) for key, values in times.items()}
            # a batch size that does not divide the pairs scores fewer per pass
            for batch in BATCHES:
                key = f"batch {batch}"
                if key in rates:
                    rates[key] *= (arguments.pairs - arguments.pairs % batch) / arguments.pairs
            folder_rate = rates.pop("folder")
            best = max(rates, key=rates.get)
            figures = ", ".join(f"{key} {rate:.2f}" for key, rate in rates.items())
            ratio = folder_rate / rates[best]
            print(f"{name:<11} in memory ({figures}) pairs/s; folder {folder_rate:.2f} pairs/s; "
                  f"folder / best ({best}) = {ratio:.2f} (target >= {TARGET:.2f}: {'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
