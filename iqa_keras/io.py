"""Reading images safely: every format Pillow knows, every mode, clear errors.

All readers in the toolkit go through `read_image`, so an image decodes to the same
array wherever it is scored. The convention is float32, HWC, values 0-255, RGB:

- grayscale (`L`, `I`, `I;16`, `F`) is replicated to three channels;
- 16-bit grayscale keeps its precision: it is scaled by 255/65535 into 0-255 floats
  (Pillow decodes 16-bit colour PNGs to 8 bits per channel);
- an alpha channel (`RGBA`, `LA`, `PA`) is dropped, as OpenCV and Pillow's own
  `convert("RGB")` do; the colour values under it are kept unchanged;
- palette (`P`) and other modes (`CMYK`, `YCbCr`, ...) are converted with Pillow;
- images over Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`) are
  refused with `ImageReadError`, as are unreadable or corrupt files;
- pixels are taken as stored: an EXIF orientation tag is not applied, as by the
  reference implementations of the metrics and by the graph decoder.

Example:
>>> import numpy as np, tempfile, os
>>> from PIL import Image
>>> path = os.path.join(tempfile.mkdtemp(), "gray.png")
>>> Image.fromarray(np.full((4, 6), 128, np.uint8)).save(path)
>>> image = read_image(path)
>>> image.shape, image.dtype, float(image.max())
((4, 6, 3), dtype('float32'), 128.0)
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image

__all__ = ["ImageReadError", "read_image", "read_pair", "check_same_size"]

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageReadError(ValueError):
    """An image file that cannot be read; the message names the file."""


def read_image(path: str | os.PathLike, mode: str = "rgb") -> np.ndarray:
    """Reads an image file into a float32 array with values 0-255.

    Args:
        path: the image file.
        mode: `"rgb"` for an HxWx3 array, `"gray"` for HxWx1 (ITU-R BT.601 luma,
            Pillow's `L` conversion, without rounding to integers).

    Raises:
        ImageReadError: the file is missing, unreadable, corrupt, too large or animated
            (which frame to score is the user's choice).
    """
    if mode not in ("rgb", "gray"):
        raise ValueError(f"`mode` must be 'rgb' or 'gray'. Received: mode={mode!r}")
    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, past MAX_IMAGE_PIXELS; treat the warning as
            # the error it announces so that no huge image is ever decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if getattr(image, "n_frames", 1) > 1:
                    raise ImageReadError(
                        f"Image {path} is animated ({image.n_frames} frames): iqa-keras scores still "
                        "images; save the frame to score as a still image"
                    )
                image.load()
                array = _to_rgb_float(image)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"Image file not found: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageReadError(
            f"Image {path} is too large to decode safely ({error}). Raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust this file."
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"Cannot read image {path}: {error}") from None
    if mode == "gray":
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        array = (array @ weights)[..., None]
    return array


def read_pair(
    reference: str | os.PathLike | None, distorted: str | os.PathLike, mode: str = "rgb"
) -> tuple[np.ndarray | None, np.ndarray]:
    """Reads a reference and a distorted image and checks that their sizes agree; with no
    reference (a no-reference measure), `(None, distorted image)`.

    Example:
    >>> import numpy as np, tempfile, os
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("ref.png", "dist.png"):
    ...     Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(os.path.join(folder, name))
    >>> ref, dist = read_pair(os.path.join(folder, "ref.png"), os.path.join(folder, "dist.png"))
    >>> ref.shape == dist.shape
    True
    """
    if reference is None:
        return None, read_image(distorted, mode)
    reference_image = read_image(reference, mode)
    distorted_image = read_image(distorted, mode)
    check_same_size(reference_image, distorted_image, reference, distorted)
    return reference_image, distorted_image


def check_same_size(reference_image, distorted_image, reference_name, distorted_name):
    """Raises a `ValueError` naming both files and sizes when two images differ in size."""
    if reference_image.shape[:2] != distorted_image.shape[:2]:
        (rh, rw), (dh, dw) = reference_image.shape[:2], distorted_image.shape[:2]
        raise ValueError(
            f"Reference and distorted images differ in size: reference "
            f"{os.fspath(reference_name)} is {rw}x{rh}, distorted "
            f"{os.fspath(distorted_name)} is {dw}x{dh} (width x height)."
        )


def _to_rgb_float(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if image.mode != "F":
            array = array * np.float32(255.0 / 65535.0)
        return np.repeat(array[..., None], 3, axis=-1)
    # Pillow's RGB conversion drops alpha and expands palettes and grayscale.
    return np.asarray(image.convert("RGB"), dtype=np.float32)
