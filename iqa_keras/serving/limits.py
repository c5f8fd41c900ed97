"""What one server accepts and holds at once: `ServerLimits`, and the defaults.

Standard library only, so that `iqa-keras serve --help` lists the limits without loading
TensorFlow.

Example:
>>> ServerLimits(workers=4).queue_size
16
>>> ServerLimits(workers=0)
Traceback (most recent call last):
...
ValueError: `workers` must be a positive integer. Received: workers=0
"""

from __future__ import annotations

import dataclasses

__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_MAX_REQUEST_BYTES", "RETRY_AFTER_SECONDS", "ServerLimits"]

DEFAULT_MAX_REQUEST_BYTES = 64 * 2**20
DEFAULT_MAX_PIXELS = 2 * 4096 * 4096  # a 4096x4096 pair
RETRY_AFTER_SECONDS = 1  # what a 503 answer asks the client to wait


def _limit(default, text: str):
    return dataclasses.field(default=default, metadata={"help": text})


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """The limits of a server; each field's `metadata["help"]` says what it bounds.

    `max_pixels` counts the pixels of all the images of one request together, read from
    the files' headers before anything is decoded; `request_timeout` runs from a
    connection's start until its whole request (line, headers, body) has arrived, and
    again for the client to read its answer.
    """

    max_request_bytes: int = _limit(DEFAULT_MAX_REQUEST_BYTES, "bytes of one request body (more: 413)")
    max_pixels: int = _limit(DEFAULT_MAX_PIXELS, "pixels of all the images of one request (more: 413)")
    workers: int = _limit(2, "predictions run at once")
    queue_size: int = _limit(16, "predictions that may wait for a worker (more: 503)")
    max_connections: int = _limit(64, "connections handled at once (more: 503)")
    request_timeout: float = _limit(30.0, "seconds for a whole request to arrive (then 408)")

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value, name = getattr(self, field.name), field.name
            if name == "request_timeout":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise ValueError(f"`{name}` must be a positive number of seconds. Received: {name}={value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "queue_size" else 1):
                kind = "a non-negative" if name == "queue_size" else "a positive"
                raise ValueError(f"`{name}` must be {kind} integer. Received: {name}={value!r}")
