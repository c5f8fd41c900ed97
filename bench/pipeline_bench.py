"""How fast the full-reference training pipeline feeds pairs, next to the decode limit.

Measures, over the pristine photos beside the repository (`../shared/pristine/` from the
repository root, or the folder given as argument):

- raw decode rate: `tf.io.decode_png` of the same files, as many at once as the pipeline
  decodes, nothing else (the ceiling: a training pair decodes two images);
- pipeline rate: `training_dataset` pairs per second (decode, 288x288 aligned crops,
  flips and rotations, batches of 16), each photo serving as its own reference and
  distorted image, so that a pair costs exactly two decodes;
- their ratio (target: at least 70% of the decode limit);
- the model step rate: training pairs per second of the default `SiameseDifferenceIQA`
  (float32, `compile()`'s defaults, `train_on_batch` on one repeated in-memory batch of
  16 pairs of 288x288, one step per round after a warm-up step, after the pipeline's
  rounds), and the pipeline rate / model step rate (target: at least 2x, so that the
  model never waits for data).

The two alternate, one pass each per round, and the figures are medians over rounds,
so that a machine shared with other work slows both alike.

Usage: python bench/pipeline_bench.py [FOLDER] [--rounds 5] [--parallel N]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from iqa_keras.data.pipeline import PipelineConfig, training_dataset  # noqa: E402
from iqa_keras.data.records import Record, Scale  # noqa: E402
from iqa_keras.models import SiameseDifferenceIQA  # noqa: E402

DEFAULT_FOLDER = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "pristine"
TARGET_RATIO = 0.70
MODEL_TARGET_RATIO = 2.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", default=str(DEFAULT_FOLDER), help="folder of PNG photos (searched recursively)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the photos, alternating")
    parser.add_argument("--parallel", type=int, default=os.cpu_count(), help="images decoded at once")
    args = parser.parse_args()

    folder = pathlib.Path(args.folder)
    if not folder.is_dir():
        sys.exit(f"Photo folder {folder} not found: pass a folder of PNG photos as the first argument.")
    paths = sorted(str(path) for path in folder.rglob("*.png"))
    if not paths:
        sys.exit(f"No PNG photos under {folder}.")
    print(f"{len(paths)} PNG photos under {folder}; {args.parallel} decodes at once; {args.rounds} rounds")

    records = [Record(path, 3.0, Scale(1.0, 5.0, True), reference=path) for path in paths]
    config = PipelineConfig(batch_size=16, crop_size=288, augment=True, num_parallel_calls=args.parallel)
    datasets = {"decode": raw_decode(paths, args.parallel), "pipeline": training_dataset(records, config)}
    for dataset in datasets.values():  # warm-up: traces functions, fills the page cache
        count_per_second(dataset)
    rates = {name: [] for name in datasets}
    for _ in range(args.rounds):
        for name, dataset in datasets.items():
            rates[name].append(count_per_second(dataset))
    decode_rate = statistics.median(rates["decode"]) / 2  # images -> pairs
    pipeline_rate = statistics.median(rates["pipeline"])
    ratios = [pairs / (images / 2) for pairs, images in zip(rates["pipeline"], rates["decode"])]

    print(f"raw decode limit (tf.io.decode_png, 2 per pair): {decode_rate:8.1f} pairs/s")
    print(f"training pipeline (crop 288, augment, batch 16): {pipeline_rate:8.1f} pairs/s")
    verdict = "meets" if pipeline_rate >= TARGET_RATIO * decode_rate else "misses"
    print(
        f"ratio: {pipeline_rate / decode_rate:.0%} of the decode limit ({verdict} the "
        f"{TARGET_RATIO:.0%} target); per round: {', '.join(f'{ratio:.0%}' for ratio in ratios)}"
    )
    model_rate = model_pairs_per_second(config.batch_size, config.crop_size, args.rounds)
    print(
        f"model step rate (SiameseDifferenceIQA, float32, train_on_batch): "
        f"{model_rate / config.batch_size:8.2f} steps/s = {model_rate:.1f} pairs/s"
    )
    verdict = "meets" if pipeline_rate >= MODEL_TARGET_RATIO * model_rate else "misses"
    print(
        f"pipeline / model step rate: {pipeline_rate / model_rate:.1f}x ({verdict} the "
        f"{MODEL_TARGET_RATIO:g}x target that keeps the model from waiting for data)"
    )


def model_pairs_per_second(batch_size, crop_size, rounds):
    """Training pairs per second of the default model on one repeated batch, median of `rounds` steps."""
    model = SiameseDifferenceIQA()
    model.compile()
    rng = np.random.default_rng(0)
    shape = (batch_size, *crop_size, 3)  # crop_size: (height, width)
    inputs = {key: rng.uniform(0, 255, shape).astype("float32") for key in ("reference", "distorted")}
    scores = rng.uniform(0, 1, (batch_size, 1)).astype("float32")
    model.train_on_batch(inputs, scores)  # warm-up: traces the training step
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.train_on_batch(inputs, scores)
        rates.append(batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def raw_decode(paths, parallel):
    """Decoded images and nothing else, one batch per image for counting."""
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    dataset = dataset.map(
        lambda path: tf.io.decode_png(tf.io.read_file(path), channels=3),
        num_parallel_calls=parallel,
        deterministic=False,
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.map(lambda image: tf.expand_dims(image, 0)).prefetch(2).with_options(options)


def count_per_second(dataset):
    """Images (or pairs) per second over one full pass."""
    count = 0
    start = time.perf_counter()
    for batch in dataset:
        first = batch[0] if isinstance(batch, tuple) else batch
        count += int(tf.nest.flatten(first)[0].shape[0])
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
