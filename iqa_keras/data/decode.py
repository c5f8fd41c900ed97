"""Decoding encoded images inside a TensorFlow graph, as `iqa_keras.io.read_image` does.

Graph ops only (no `py_function`), so that a SavedModel signature can decode the bytes a
client sends: PNG, JPEG, BMP and GIF (first frame) become float32 HxWx3 with values
0-255; grayscale is replicated, alpha dropped, palettes expanded, 16-bit grayscale PNG
scaled by 255/65535, JPEG decoded with the accurate integer DCT as Pillow does.

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

__all__ = ["decode_image_bytes", "decode_image_batch"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR bit depth 16 and colour type 0: the only PNG that Pillow keeps at 16 bits.
_GRAY16_PNG_DEPTH_AND_TYPE = b"\x10\x00"


def decode_image_bytes(contents) -> tf.Tensor:
    """Decodes one encoded image (a scalar string) to float32 (H, W, 3), values 0-255."""
    contents = tf.convert_to_tensor(contents, tf.string)
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
