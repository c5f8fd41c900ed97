"""The `tf.distribute` strategy a run trains under, by name.

- `one`: one device, the first GPU or else the CPU (TensorFlow's default strategy).
- `mirrored`: synchronous data parallelism over the GPUs of this machine (over its
  logical CPU devices when it has no GPU).
- `multiworker`: synchronous data parallelism over several machines (or processes),
  described by the `TF_CONFIG` environment variable as `tf.distribute` expects it.
  Create it before any other TensorFlow work of the process.
- `auto`: `multiworker` when `TF_CONFIG` names more than one task, `mirrored` with more
  than one GPU, `one` otherwise.

The batch size of the data pipeline is the global one: each of N replicas takes 1/N of
every batch. Batch losses (PLCC, SRCC, ranking) are then computed per replica, over its
part of the batch.

Example:
>>> strategy = make_strategy("one")
>>> strategy.num_replicas_in_sync, is_chief(strategy)
(1, True)
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["STRATEGIES", "make_strategy", "is_chief"]

STRATEGIES = ("auto", "one", "mirrored", "multiworker")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy `name` stands for on this machine (see the module docstring).

    Example:
    >>> make_strategy("tpu")
    Traceback (most recent call last):
    ...
    ValueError: `strategy` must be one of ('auto', 'one', 'mirrored', 'multiworker'). Received: strategy='tpu'
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}")
    import tensorflow as tf

    if name == "multiworker" or (name == "auto" and _cluster_size() > 1):
        # Before anything initialises TensorFlow's devices: collectives are set up first.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one"
    if name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    # The default strategy, not OneDeviceStrategy: that one feeds `fit` through a
    # MultiDeviceIterator, whose destructor waits for its prefetch thread while holding the
    # GIL; when a pipeline's Python step (the Pillow decoder that names an unreadable file)
    # is then waiting for the GIL, the process hangs at exit after the error. The default
    # strategy places the model on the first GPU, or the CPU, alike.
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, but for the non-chief workers
    of a multi-worker cluster (the chief is task `chief`, or `worker` 0 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _cluster_size() -> int:
    """The number of tasks `TF_CONFIG` describes (0 when it is unset)."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values())
