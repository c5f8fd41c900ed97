"""Speed and memory of HallucinatedIQA, TensorFlow backend.

Run: `python bench/nr_bench.py [--rounds 5] [--min-seconds 1.0] [--model nr-default]`, or
`python bench/nr_bench.py --quick` (fewer rounds, batch 4 training, batch 1 inference:
a couple of minutes on a 2-core CPU). CPU or GPU. The model has the default parts, or
with `--model` (a bundled name or `.keras` path) the architecture of that model's parts,
built afresh in each policy (weights do not change the speed).

Measures, on random 0-255 images held in memory:

- training: steps per second of `model.train_on_batch(({"distorted", "reference"}),
  scores)`, which updates all three parts (generator, discriminator, regressor) in one
  step, at batch 16 on 256x256 crops (`--train-batch`, `--train-size`), on one repeated
  batch, with `compile()`'s defaults, in float32 and in the mixed policy
  (mixed_bfloat16 on CPU; on a GPU, `resolve_precision("auto")`), and the
  mixed / float32 ratio;
- inference: images per second at 512x384 (batches `--infer-batches`) of a
  fixed-shape `tf.function` calling `model({"distorted": images}, training=False)`, in
  both policies, and of the same for `model.generator(images, training=False)` alone
  (its "hallucination" and "features" both fetched) on the same inputs; the
  generator's share of the whole model's inference time is the model's rate over the
  generator's, taken per round (the two run back to back), median over the rounds;
- peak memory: for each configuration, in a fresh subprocess (so that peaks do not
  mask each other), how far the process's peak RSS rises above its peak after building
  the model, over a warm-up and three calls; on a GPU, the device's peak memory instead.

One model is built per policy (the policy set while building it, restored after) and
serves its training and inference rows. Contenders take turns, one timed block (at
least `--min-seconds`, at least one call) each per round, after a warm-up call each;
figures are medians over `--rounds` rounds, so that a machine shared with other work
slows all of them alike. Timing and memory helpers come from `fr_bench.py`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fr_bench import calls_per_second, random_pairs, step_peak_memory_gb  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import iqa_keras  # noqa: E402
from iqa_keras.models import HallucinatedIQA  # noqa: E402
from iqa_keras.training.precision import precision_policy, resolve_precision  # noqa: E402

INFER_SIZE = (384, 512)  # (height, width)
QUICK = {"rounds": 3, "min_seconds": 0.5, "train_batch": 4, "infer_batches": [1]}


@dataclasses.dataclass(frozen=True)
class Config:
    """One thing to time: a training step, or an inference call of the model or its generator."""

    kind: str  # "train", "infer" (the whole model) or "generator"
    policy: str
    size: tuple[int, int]
    batch: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.policy} b{self.batch}"


def mixed_policy() -> str:
    """mixed_bfloat16 on CPU; on a GPU, its own mixed policy (bfloat16 if it has none)."""
    if not tf.config.list_physical_devices("GPU"):
        return "mixed_bfloat16"
    mixed = resolve_precision("auto")
    return "mixed_bfloat16" if mixed == "float32" else mixed


def configs(args) -> list[Config]:
    policies = ("float32", mixed_policy())
    trains = [Config("train", policy, tuple(args.train_size), args.train_batch) for policy in policies]
    infers = [
        Config(kind, policy, INFER_SIZE, batch)
        for batch in args.infer_batches
        for policy in policies
        for kind in ("infer", "generator")  # back to back: the share is taken per round
    ]
    return trains + infers


def build_model(policy: str, like: HallucinatedIQA | None = None) -> HallucinatedIQA:
    """The default model, or one with the architecture of `like`'s parts, in `policy`."""
    with precision_policy(policy):
        if like is None:
            model = HallucinatedIQA()
        else:
            model = HallucinatedIQA(**{part: type(getattr(like, part))(**constructor_arguments(getattr(like, part)))
                                       for part in ("generator", "discriminator", "regressor")})
    model.compile()
    return model


def constructor_arguments(part: keras.Model) -> dict:
    return {key: value for key, value in part.get_config().items() if key not in ("name", "dtype", "trainable")}


def step_function(config: Config, models: dict):
    """A callable running one step of `config` and waiting for its result."""
    if config.policy not in models:
        models[config.policy] = build_model(config.policy, models.get("like"))
    model = models[config.policy]
    pairs = random_pairs(config.batch, config.size)
    if config.kind == "train":
        scores = np.random.default_rng(1).uniform(0, 1, (config.batch, 1)).astype("float32")
        return lambda: model.train_on_batch(pairs, scores)
    spec = tf.TensorSpec((config.batch, *config.size, 3), tf.float32)
    if config.kind == "infer":
        function = tf.function(lambda images: model({"distorted": images}, training=False), input_signature=[spec])
    else:
        function = tf.function(lambda images: model.generator(images, training=False), input_signature=[spec])
    images = tf.constant(pairs["distorted"])
    return lambda: tf.nest.map_structure(lambda tensor: tensor.numpy(), function(images))


def size_arguments(args) -> list[str]:
    return [
        "--train-batch", str(args.train_batch),
        "--train-size", *map(str, args.train_size),
        "--infer-batches", *map(str, args.infer_batches),
        *(["--model", args.model] if args.model else []),
    ]  # fmt: skip


def peak_memory_gb(index: int, args) -> float:
    """The peak memory of configuration `index`, measured in a fresh subprocess."""
    command = [sys.executable, __file__, *size_arguments(args), "--peak-memory-of", str(index)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def child_peak_memory(index: int, args) -> None:
    """Prints the peak memory growth of one configuration, in GB (run in a subprocess)."""
    print(step_peak_memory_gb(step_function(configs(args)[index], models_like(args))))


def models_like(args) -> dict:
    """The cache of built models, holding the `--model` to imitate (if any) as "like"."""
    return {"like": iqa_keras.load(args.model)} if args.model else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, contenders taking turns")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="shortest timed block per contender")
    parser.add_argument("--train-batch", type=int, default=16, help="image pairs per training step")
    parser.add_argument("--train-size", type=int, nargs=2, default=[256, 256], metavar=("H", "W"),
                        help="training crop size")
    parser.add_argument("--infer-batches", type=int, nargs="+", default=[1, 8],
                        help="inference batch sizes at 512x384")
    parser.add_argument("--model", help="time the architecture of this HallucinatedIQA (bundled name or .keras path)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--quick", action="store_true",
                        help=f"defaults for a short run: {QUICK} (explicit options still win)")
    parser.add_argument("--peak-memory-of", type=int, help=argparse.SUPPRESS)  # internal: subprocess mode
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    if args.peak_memory_of is not None:
        child_peak_memory(args.peak_memory_of, args)
        return

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    device = "GPU" if on_gpu else f"CPU ({os.cpu_count()} cores)"
    all_configs = configs(args)
    models = models_like(args)
    contenders = {config.label: step_function(config, models) for config in all_configs}
    print(f"HallucinatedIQA ({args.model or 'default parts'}) on {device}; {args.rounds} rounds, blocks of >= "
          f"{args.min_seconds} s; TensorFlow {tf.__version__}, Keras {keras.__version__}"
          f"{' (--quick)' if args.quick else ''}", flush=True)
    for function in contenders.values():  # warm-up: traces, allocates
        function()
    rates = {label: [] for label in contenders}
    for _ in range(args.rounds):
        for label, function in contenders.items():
            rates[label].append(calls_per_second(function, args.min_seconds))
    rate = {label: statistics.median(values) for label, values in rates.items()}
    memory = {}
    if not args.no_memory:
        memory = {config.label: peak_memory_gb(index, args) for index, config in enumerate(all_configs)}
    memory_name = "GPU peak GB" if on_gpu else "peak RSS +GB"

    def memory_of(label):
        return f"{memory[label]:.2f}" if label in memory else "-"

    def per_round(numerators, denominators):
        ratios = [n / d for n, d in zip(numerators, denominators)]
        return statistics.median(ratios), ", ".join(f"{ratio:.2f}" for ratio in ratios)

    trains = [config for config in all_configs if config.kind == "train"]
    height, width = args.train_size
    print(f"\ntraining: train_on_batch (generator + discriminator + regressor), "
          f"batch {args.train_batch}, {width}x{height} crops")
    print(f"{'policy':<16}{'steps/s':>9}{'images/s':>10}{memory_name:>14}")
    for config in trains:
        steps = rate[config.label]
        print(f"{config.policy:<16}{steps:9.3f}{steps * config.batch:10.2f}{memory_of(config.label):>14}")
    base, mixed = trains
    ratio, rounds = per_round(rates[mixed.label], rates[base.label])
    print(f"{mixed.policy} / float32 steps: {ratio:.2f}x (per round: {rounds})")

    print(f"\ninference at {INFER_SIZE[1]}x{INFER_SIZE[0]}: fixed-shape tf.function, training=False; "
          f"generator share = model rate / generator rate, per round")
    header = ("policy", "batch", "model img/s", "gen img/s", "gen share", f"model {memory_name}",
              f"gen {memory_name}")
    widths = (16, 6, 13, 11, 11, 20, 18)
    print(f"{header[0]:<{widths[0]}}" + "".join(f"{name:>{w}}" for name, w in zip(header[1:], widths[1:])))
    infers = [config for config in all_configs if config.kind == "infer"]
    for config in infers:
        generator = dataclasses.replace(config, kind="generator")
        share, _ = per_round(rates[config.label], rates[generator.label])
        cells = (
            f"{rate[config.label] * config.batch:.2f}",
            f"{rate[generator.label] * config.batch:.2f}",
            f"{share:.0%}",
            memory_of(config.label),
            memory_of(generator.label),
        )
        print(f"{config.policy:<{widths[0]}}{config.batch:>{widths[1]}}"
              + "".join(f"{cell:>{w}}" for cell, w in zip(cells, widths[2:])))
    for batch in args.infer_batches:
        base, mixed = (config for config in infers if config.batch == batch)
        ratio, rounds = per_round(rates[mixed.label], rates[base.label])
        print(f"{mixed.policy} / float32 model images/s, batch {batch}: {ratio:.2f}x (per round: {rounds})")


if __name__ == "__main__":
    main()
