"""Speed, memory and FLOP rate of SiameseDifferenceIQA (default small encoder), TensorFlow backend.

Run: `python bench/fr_bench.py [--rounds 5] [--min-seconds 1.0]` (CPU or GPU).

Measures, on random 0-255 pairs held in memory:

- training: steps per second at batch 16 on 288x288 pairs, `model.train_on_batch` on
  one repeated batch, with `compile()`'s defaults (AdamW, MAE + PLCC loss, SRCC and
  PLCC metrics; Keras's "auto" XLA setting: off on CPU, on on a GPU), in float32 and in
  the mixed policy (mixed_bfloat16 on CPU; on a GPU, `resolve_precision("auto")`), and
  the mixed / float32 ratio;
- inference: pairs per second of a `tf.function` with fixed input shapes calling
  `model(inputs, training=False)` in float32, without and with `jit_compile=True`
  (XLA), at 288x288 (batch 16) and 512x384 (batches 1 and 16);
- FLOPs per pair, counted analytically from the shapes of the traced graph's Conv2D
  and MatMul ops (2 * Hout * Wout * k * k * Cin * Cout per convolution, 2 * M * K * N
  per matmul; activations, normalisations and differences are not counted);
- the hardware limit: one plain 3x3 Conv2D layer, batch 8, 128x128x256 -> 256 channels,
  timed the same way (a fixed-shape `tf.function`, no XLA); its analytic FLOPs divided
  by its time. Each inference row shows the FLOP rate it achieves and its share of
  the limit (the issue's target on CPU: at least 30% at 512x384);
- peak memory: for each configuration, in a fresh subprocess (so that peaks do not
  mask each other), how far the process's peak RSS rises above its peak after building
  the model, over a warm-up and three calls; on a GPU, the device's peak memory instead.

Contenders take turns, one timed block (at least `--min-seconds`, at least one call)
each per round, after a warm-up call each; figures are medians over `--rounds` rounds,
so that a machine shared with other work slows all of them alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # one tf.function per configuration: not a retracing problem

from iqa_keras.models import SiameseDifferenceIQA  # noqa: E402
from iqa_keras.training.precision import precision_policy, resolve_precision  # noqa: E402

TRAIN_SIZE = (288, 288)
INFERENCE = (((288, 288), 16), ((384, 512), 1), ((384, 512), 16))  # ((height, width), batch)
LIMIT_SHAPE, LIMIT_FILTERS = (8, 128, 128, 256), 256
TARGET_SHARE = 0.30
MEMORY_CALLS = 3


@dataclasses.dataclass(frozen=True)
class Config:
    """One thing to time: a training step or an inference call on one batch."""

    kind: str  # "train" or "infer"
    policy: str = "float32"
    size: tuple[int, int] = TRAIN_SIZE
    batch: int = 16
    xla: bool = False

    @property
    def label(self) -> str:
        if self.kind == "train":
            return f"train {self.policy}"
        return f"infer {self.size[1]}x{self.size[0]} b{self.batch}{' xla' if self.xla else ''}"


def configs(train_batch: int) -> list[Config]:
    mixed = resolve_precision("auto") if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    if mixed == "float32":  # a GPU without a mixed policy of its own: compare with bfloat16
        mixed = "mixed_bfloat16"
    trains = [Config("train", policy, batch=train_batch) for policy in ("float32", mixed)]
    infers = [
        Config("infer", size=size, batch=batch, xla=xla) for size, batch in INFERENCE for xla in (False, True)
    ]
    return trains + infers


def random_pairs(batch: int, size: tuple[int, int], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    shape = (batch, *size, 3)
    return {key: rng.uniform(0, 255, shape).astype("float32") for key in ("reference", "distorted")}


def build_model(policy: str = "float32") -> SiameseDifferenceIQA:
    with precision_policy(policy):
        model = SiameseDifferenceIQA()
    model.compile()
    return model


def inference_function(model, size, batch, xla):
    """A `tf.function` scoring one batch of `batch` pairs of `size`, shapes fixed."""
    spec = {key: tf.TensorSpec((batch, *size, 3), tf.float32) for key in ("reference", "distorted")}
    return tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec], jit_compile=xla)


def step_function(config: Config, models: dict):
    """A callable running one step of `config` and waiting for its result."""
    if config.policy not in models:
        models[config.policy] = build_model(config.policy)
    model = models[config.policy]
    if config.kind == "train":
        inputs = random_pairs(config.batch, config.size)
        scores = np.random.default_rng(1).uniform(0, 1, (config.batch, 1)).astype("float32")
        return lambda: model.train_on_batch(inputs, scores)
    function = inference_function(model, config.size, config.batch, config.xla)
    inputs = {key: tf.constant(value) for key, value in random_pairs(config.batch, config.size).items()}
    return lambda: function(inputs).numpy()


def limit_function():
    """The plain convolution of the hardware limit, and its FLOPs per call."""
    layer = keras.layers.Conv2D(LIMIT_FILTERS, 3, padding="same", dtype="float32")
    layer.build(LIMIT_SHAPE)
    function = tf.function(layer, input_signature=[tf.TensorSpec(LIMIT_SHAPE, tf.float32)])
    images = tf.random.uniform(LIMIT_SHAPE)
    batch, height, width, channels = LIMIT_SHAPE
    flops = 2 * batch * height * width * 9 * channels * LIMIT_FILTERS
    return (lambda: function(images).numpy()), flops


def flops_per_pair(model, size) -> int:
    """Multiply-add FLOPs of the Conv2D and MatMul ops of one pair's traced graph."""
    function = inference_function(model, size, 1, False)
    total = 0
    for op in function.get_concrete_function().graph.get_operations():
        if op.type == "Conv2D":  # filter (k, k, Cin, Cout), output (N, Ho, Wo, Cout)
            kernel, output = op.inputs[1].shape, op.outputs[0].shape
            total += 2 * output.num_elements() * kernel[0] * kernel[1] * kernel[2]
        elif op.type == "MatMul":  # (M, K) @ (K, N)
            total += 2 * op.outputs[0].shape.num_elements() * op.inputs[0].shape[-1]
    return total


def calls_per_second(function, min_seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls / elapsed


def peak_rss() -> int:
    """The process's peak resident memory, in bytes.

    VmHWM on Linux: `ru_maxrss` would not do there, since Linux carries the parent's
    peak over into a child across fork and exec, which would mask the child's own peak.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except OSError:  # not Linux: ru_maxrss, in bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory_gb(index: int, train_batch: int) -> float:
    """The peak memory of configuration `index`, measured in a fresh subprocess."""
    command = [sys.executable, __file__, "--train-batch", str(train_batch), "--peak-memory-of", str(index)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def step_peak_memory_gb(step) -> float:
    """Peak memory growth over a few calls of `step`, in GB: the GPU's when there is one."""
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if on_gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    before = peak_rss()
    for _ in range(1 + MEMORY_CALLS):
        step()
    grown = tf.config.experimental.get_memory_info("GPU:0")["peak"] if on_gpu else peak_rss() - before
    return grown / 1e9


def child_peak_memory(index: int, train_batch: int) -> None:
    """Prints the peak memory growth of one configuration, in GB (run in a subprocess)."""
    print(step_peak_memory_gb(step_function(configs(train_batch)[index], {})))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, contenders taking turns")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="shortest timed block per contender")
    parser.add_argument("--train-batch", type=int, default=16, help="pairs per training step")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--peak-memory-of", type=int, help=argparse.SUPPRESS)  # internal: subprocess mode
    args = parser.parse_args()
    if args.peak_memory_of is not None:
        child_peak_memory(args.peak_memory_of, args.train_batch)
        return

    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    all_configs = configs(args.train_batch)
    models = {}
    contenders = {config.label: step_function(config, models) for config in all_configs}
    contenders["limit"], limit_flops = limit_function()
    flops = {size: flops_per_pair(models["float32"], size) for size, _ in INFERENCE}
    print(f"SiameseDifferenceIQA (small encoder) on {device}; {args.rounds} rounds, "
          f"blocks of >= {args.min_seconds} s; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    for function in contenders.values():  # warm-up: traces, compiles, allocates
        function()
    rates = {label: [] for label in contenders}
    for _ in range(args.rounds):
        for label, function in contenders.items():
            rates[label].append(calls_per_second(function, args.min_seconds))
    rate = {label: statistics.median(values) for label, values in rates.items()}
    memory = {}
    if not args.no_memory:
        memory = {
            config.label: peak_memory_gb(index, args.train_batch) for index, config in enumerate(all_configs)
        }
    memory_name = "GPU peak GB" if device == "GPU" else "peak RSS +GB"

    def memory_of(label):
        return f"{memory[label]:12.2f}" if label in memory else f"{'-':>12}"

    trains = [config for config in all_configs if config.kind == "train"]
    print(f"\ntraining: train_on_batch, batch {args.train_batch}, {TRAIN_SIZE[1]}x{TRAIN_SIZE[0]} pairs")
    print(f"{'policy':<16}{'steps/s':>9}{'pairs/s':>9}{memory_name:>14}")
    for config in trains:
        steps = rate[config.label]
        print(f"{config.policy:<16}{steps:9.3f}{steps * config.batch:9.1f}  {memory_of(config.label)}")
    base, mixed = (rates[config.label] for config in trains)
    ratios = [m / f for m, f in zip(mixed, base)]
    print(f"{trains[1].policy} / float32 steps: {rate[trains[1].label] / rate[trains[0].label]:.2f}x "
          f"(per round: {', '.join(f'{ratio:.2f}' for ratio in ratios)})")

    limit = rate["limit"] * limit_flops
    batch, height, width, channels = LIMIT_SHAPE
    print(f"\nhardware limit: Conv2D 3x3, batch {batch}, {width}x{height}x{channels} -> {LIMIT_FILTERS} "
          f"({limit_flops / 1e9:.1f} GFLOP per call, tf.function): {limit / 1e9:.1f} GFLOP/s")
    print("\ninference: fixed-shape tf.function, model(inputs, training=False), float32")
    header = ("size", "batch", "XLA", "pairs/s", "GFLOP/pair", "GFLOP/s", "% limit", memory_name)
    print("".join(f"{name:>{width}}" for name, width in zip(header, (7, 8, 5, 9, 12, 9, 9, 14))))
    shares = {}
    for config in (config for config in all_configs if config.kind == "infer"):
        pairs = rate[config.label] * config.batch
        achieved = pairs * flops[config.size]
        shares[config.label] = achieved / limit
        print(
            f"{config.size[1]:>3}x{config.size[0]:<3}{config.batch:>8}{'yes' if config.xla else 'no':>5}"
            f"{pairs:9.1f}{flops[config.size] / 1e9:12.3f}{achieved / 1e9:9.1f}"
            f"{shares[config.label]:9.0%}  {memory_of(config.label)}"
        )
    if device != "GPU":
        for config in all_configs:
            if config.kind == "infer" and config.size == (384, 512):
                share = shares[config.label]
                verdict = "meets" if share >= TARGET_SHARE else f"misses by {TARGET_SHARE - share:.0%} points"
                print(f"target: {config.label} at >= {TARGET_SHARE:.0%} of the limit: {share:.0%}, {verdict}")

if __name__ == "__main__":
    main()
