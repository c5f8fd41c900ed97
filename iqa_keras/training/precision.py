"""The precision a run computes in: a Keras dtype policy, set for a block and restored after.

`auto` picks `mixed_bfloat16` on GPUs that compute in bfloat16 natively (compute
capability 8.0 or more: A100, H100, ...), `mixed_float16` on older GPUs and `float32` on
a machine without a GPU. Any policy may be asked for explicitly; `mixed_bfloat16` also
runs on CPUs. Mixed policies keep the variables in float32 and compute in the low
precision; models of this package return float32 outputs under any policy. Under
`mixed_float16`, `Model.compile` wraps the optimizer in a `LossScaleOptimizer` itself.

Example:
>>> import keras
>>> with precision_policy("mixed_bfloat16") as name:
...     name, keras.config.dtype_policy().compute_dtype
('mixed_bfloat16', 'bfloat16')
>>> keras.config.dtype_policy().name
'float32'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

__all__ = ["PRECISIONS", "resolve_precision", "precision_policy"]

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# The first compute capability (Ampere) with native bfloat16 matrix units.
_BFLOAT16_COMPUTE_CAPABILITY = (8, 0)


def resolve_precision(precision: str = "auto") -> str:
    """The dtype policy name `precision` stands for on this machine.

    Example:
    >>> resolve_precision("float32")
    'float32'
    >>> resolve_precision("half")
    Traceback (most recent call last):
    ...
    ValueError: `precision` must be one of ('auto', 'float32', 'mixed_bfloat16', 'mixed_float16'). Received: precision='half'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision != "auto":
        return precision
    capabilities = _gpu_compute_capabilities()
    if not capabilities:
        return "float32"
    if min(capabilities) >= _BFLOAT16_COMPUTE_CAPABILITY:
        return "mixed_bfloat16"
    return "mixed_float16"


@contextlib.contextmanager
def precision_policy(precision: str = "auto") -> Iterator[str]:
    """Sets Keras's global dtype policy for the block, restoring the previous one after.

    Models built inside the block take the policy; they keep it after the block ends.

    Yields:
        The policy name in force (`resolve_precision(precision)`).
    """
    name = resolve_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)


def _gpu_compute_capabilities() -> list[tuple[int, int]]:
    """The (major, minor) compute capability of each visible GPU; empty without one."""
    if keras.backend.backend() == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        # JAX gives it as a string ("9.0"); a GPU that gives none is treated as an older one.
        return [
            tuple(int(part) for part in str(getattr(gpu, "compute_capability", "0.0")).split(".")[:2])
            for gpu in gpus
        ]
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        # A GPU that reports none (not CUDA) is treated as an older one.
        capabilities.append(tuple(capability) if capability else (0, 0))
    return capabilities
