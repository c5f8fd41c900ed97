"""What servers and clients agree on: the signature names and the one error type.

Example:
>>> error = ServingError("Servable not found for request: Latest(iqa)", status=404)
>>> error.status, str(error), DEFAULT_SIGNATURE, BYTES_SIGNATURE
(404, 'Servable not found for request: Latest(iqa)', 'serving_default', 'serve_bytes')
"""

from __future__ import annotations

__all__ = ["BYTES_SIGNATURE", "DEFAULT_SIGNATURE", "ServingError"]

DEFAULT_SIGNATURE = "serving_default"  # float images 0-255, NHWC
BYTES_SIGNATURE = "serve_bytes"  # encoded images (PNG, JPEG, ...), one string per example


class ServingError(Exception):
    """A request that failed; `status` is the HTTP status (400 bad request, 404 not found, ...).

    The server raises it for the client's mistakes and answers `{"error": message}` with
    `status`; the client raises it with the status and message the server sent back.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
