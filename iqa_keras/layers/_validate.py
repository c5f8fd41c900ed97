"""Argument checks shared by the layers and models: each error names the argument."""

from __future__ import annotations


def check_int(name, value, minimum=1):
    """Raises ValueError unless `value` is an int (not a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")


def check_kernel_size(kernel_size):
    """Raises ValueError unless `kernel_size` is an odd int of at least 1."""
    check_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"`kernel_size` must be odd, so that the output stays centred. "
            f"Received: kernel_size={kernel_size!r}"
        )


def known_channels(input_shape, layer_name):
    """The number of channels of an NHWC input, which must be known to build."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise ValueError(
            f"{layer_name} expects 4-D inputs (batch, height, width, channels) with a known "
            f"number of channels. Received: input_shape={input_shape}"
        )
    return input_shape[-1]
