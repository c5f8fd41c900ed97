"""Decoding encoded images inside a TensorFlow graph, as `iqa_keras.io.read_image` does.

Graph ops only (no `py_function`), so that a SavedModel signature can decode the bytes a
client sends: PNG, JPEG, BMP and GIF (first frame) become float32 HxWx3 with values
0-255; grayscale is replicated, alpha dropped, palettes expanded, 16-bit grayscale PNG
scaled by 255/65535, JPEG decoded with the accurate integer DCT as Pillow does. Images
whose header declares more pixels than Pillow's decompression-bomb limit
(`PIL.Image.MAX_IMAGE_PIXELS`, as `read_image` refuses them) fail before anything is
decoded, so a tiny crafted file cannot make a server allocate gigabytes.

Example:
>>> import io, numpy as np
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.fromarray(np.full((4, 6), 128, np.uint8)).save(buffer, format="PNG")
>>> image = decode_image_bytes(buffer.getvalue())
>>> tuple(image.shape), image.dtype.name, float(image[0, 0, 2])
((4, 6, 3), 'float32', 128.0)
"""

from __future__ import annotations

import tensorflow as tf
from PIL import Image

__all__ = ["decode_image_bytes", "decode_image_batch"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR bit depth 16 and colour type 0: the only PNG that Pillow keeps at 16 bits.
_GRAY16_PNG_DEPTH_AND_TYPE = b"\x10\x00"


def decode_image_bytes(contents) -> tf.Tensor:
    """Decodes one encoded image (a scalar string) to float32 (H, W, 3), values 0-255."""
    contents = tf.convert_to_tensor(contents, tf.string)
    not_a_bomb = tf.debugging.assert_less_equal(
        _declared_pixels(contents),
        tf.constant(Image.MAX_IMAGE_PIXELS, tf.int64),
        message=f"image too large to decode safely: more pixels than PIL.Image.MAX_IMAGE_PIXELS "
        f"({Image.MAX_IMAGE_PIXELS})",
    )
    with tf.control_dependencies([not_a_bomb]):
        contents = tf.identity(contents)
    is_gray16_png = tf.logical_and(
        tf.equal(tf.strings.substr(contents, 0, 8), _PNG_SIGNATURE),
        tf.equal(tf.strings.substr(contents, 24, 2), _GRAY16_PNG_DEPTH_AND_TYPE),
    )

    def gray16():
        gray = tf.cast(tf.io.decode_png(contents, channels=1, dtype=tf.uint16), tf.float32)
        return tf.tile(gray * tf.constant(255.0 / 65535.0, tf.float32), [1, 1, 3])

    def jpeg():
        # TensorFlow's default (fast) integer DCT differs from Pillow by up to 12 grey levels.
        image = tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.cast(image, tf.float32)

    def png_bmp_gif():
        image = tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False)
        return tf.cast(image, tf.float32)

    image = tf.case(
        [(is_gray16_png, gray16), (tf.io.is_jpeg(contents), jpeg)], default=png_bmp_gif, exclusive=False
    )
    image.set_shape([None, None, 3])
    return image


def _declared_pixels(contents) -> tf.Tensor:
    """Width x height as the file's header declares them (0 for formats not recognised)."""

    def unsigned(offset, size, big_endian):
        digits = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, offset, size), tf.uint8), tf.int64)
        weights = tf.constant([256**i for i in range(size)][:: -1 if big_endian else 1], tf.int64)
        return tf.reduce_sum(digits * weights)

    def png():  # IHDR: width and height, 4 bytes each, big-endian
        return unsigned(16, 4, True) * unsigned(20, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.int64)
        return shape[0] * shape[1]

    def bmp():  # BITMAPINFOHEADER: 4-byte little-endian sizes; a negative height is top-down
        height = unsigned(22, 4, False)
        return unsigned(18, 4, False) * tf.where(height >= 2**31, 2**32 - height, height)

    def gif():  # logical screen: 2-byte little-endian sizes
        return unsigned(6, 2, False) * unsigned(8, 2, False)

    starts_with = lambda prefix: tf.equal(tf.strings.substr(contents, 0, len(prefix)), prefix)  # noqa: E731
    return tf.case(
        [
            (starts_with(_PNG_SIGNATURE), png),
            (tf.io.is_jpeg(contents), jpeg),
            (starts_with(b"BM"), bmp),
            (starts_with(b"GIF8"), gif),
        ],
        default=lambda: tf.constant(0, tf.int64),
        exclusive=False,
    )


def decode_image_batch(contents) -> tf.Tensor:
    """Decodes a batch of encoded images, strings (N,), to float32 (N, H, W, 3).

    All images of a batch must have the same height and width (they are stacked).

    Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(buffer, format="BMP")
    >>> decode_image_batch([buffer.getvalue()] * 2).shape
    TensorShape([2, 5, 7, 3])
    """
    return tf.map_fn(
        decode_image_bytes,
        tf.convert_to_tensor(contents, tf.string),
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32),
    )
