"""KADID-10k compression types: 09 jpeg2000, 10 jpeg, encoded and decoded with Pillow.

The image is rounded to 8 bits (as MATLAB's `imwrite` does with a double image),
encoded in memory, decoded and scaled back to [0, 1].

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
>>> compressed = jpeg(image, level=5, rng=np.random.default_rng(0))
>>> compressed.shape, compressed.dtype
((16, 16, 3), dtype('float32'))
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

from iqa_keras.data.distortions._validate import check_image, check_level

__all__ = [
    "JPEG2000_RATIOS",
    "JPEG_QUALITIES",
    "jpeg2000",
    "jpeg",
    "to_pillow",
    "from_pillow",
    "encode_decode",
]

JPEG2000_RATIOS = (16, 32, 45, 120, 400)
JPEG_QUALITIES = (43, 36, 24, 7, 4)


def to_pillow(image: np.ndarray) -> Image.Image:
    """Rounds a float RGB image in [0, 1] to an 8-bit Pillow image, as MATLAB's `im2uint8`.

    Example:
    >>> import numpy as np
    >>> to_pillow(np.full((2, 3, 3), 0.5, np.float32)).getpixel((0, 0))
    (128, 128, 128)
    """
    return Image.fromarray(np.round(np.asarray(image) * 255.0).astype(np.uint8), "RGB")


def from_pillow(image: Image.Image) -> np.ndarray:
    """Converts a Pillow image to a float32 RGB array in [0, 1].

    Example:
    >>> from PIL import Image
    >>> float(from_pillow(Image.new("RGB", (2, 2), (255, 0, 0))).max())
    1.0
    """
    return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)


def encode_decode(image: np.ndarray, file_format: str, **options) -> np.ndarray:
    """Encodes an image in memory with Pillow in `file_format`, then decodes it.

    Example:
    >>> import numpy as np
    >>> image = np.zeros((8, 8, 3), np.float32)
    >>> float(encode_decode(image, "PNG").max())
    0.0
    """
    buffer = io.BytesIO()
    to_pillow(image).save(buffer, format=file_format, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return from_pillow(decoded)


def jpeg2000(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 09: JPEG 2000 at compression ratio `JPEG2000_RATIOS[level - 1]` : 1.

    Mirrors KADIS `imcompressjp2k` (MATLAB `imwrite(..., 'jp2', 'CompressionRatio', r)`,
    lossy 9/7 wavelet), here through Pillow's OpenJPEG codec with one quality layer at
    that rate. Deterministic: `rng` is unused. On images of fewer than about 11,000
    pixels (smaller than 120x90) the codec cannot reach the top ratios, so that levels
    4 and 5 give the same image (measured: 100x100 and 112x84 do, 120x90 does not).

    Raises:
        RuntimeError: Pillow was built without OpenJPEG.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    >>> jpeg2000(image, 3, np.random.default_rng(0)).shape
    (32, 32, 3)
    """
    image = check_image(image)
    ratio = JPEG2000_RATIOS[check_level(level) - 1]
    if not features.check("jpg_2000"):
        raise RuntimeError(
            "The jpeg2000 distortion needs Pillow built with OpenJPEG "
            "(PIL.features.check('jpg_2000') is False)."
        )
    return encode_decode(
        image,
        "JPEG2000",
        quality_mode="rates",
        quality_layers=[ratio],
        irreversible=True,
    )


def jpeg(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 10: JPEG at quality `JPEG_QUALITIES[level - 1]` (IJG scale, 4:2:0 chroma).

    Mirrors KADIS `imcompressjpeg` (MATLAB `imwrite(..., 'jpg', 'Quality', q)`, which
    uses the same libjpeg quality scale as Pillow). Deterministic: `rng` is unused.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    >>> bool(np.abs(jpeg(image, 1, np.random.default_rng(0)) - image).mean() > 0.01)
    True
    """
    image = check_image(image)
    quality = JPEG_QUALITIES[check_level(level) - 1]
    return encode_decode(image, "JPEG", quality=quality, subsampling="4:2:0")
