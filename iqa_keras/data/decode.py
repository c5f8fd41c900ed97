"""Decoding encoded images inside a TensorFlow graph, as `iqa_keras.io.read_image` does.

Graph ops only (no `py_function`), so that a SavedModel signature can decode the bytes a
client sends: PNG, JPEG, BMP (8, 24 or 32 bits per pixel), GIF (first frame) and WebP
become float32 HxWx3 with values 0-255; grayscale is replicated, alpha dropped, palettes
expanded, 16-bit grayscale PNG scaled by 255/65535, JPEG decoded with the accurate integer
DCT as Pillow does. Anything else fails with a message saying which formats are read.
Images whose header declares more pixels than Pillow's decompression-bomb limit
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


def decode_image_bytes(contents, name: str | None = None) -> tf.Tensor:
    """Decodes one encoded image (a scalar string) to float32 (H, W, 3), values 0-255.

    `name` (e.g. the request field) begins the message of a failure.
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    prefix = f"{name}: " if name else ""
    # Checked first, so that nothing reads past the end of a short or foreign file.
    known = tf.debugging.assert_equal(
        _is_supported(contents), True, message=f"{prefix}not an image this decoder reads ({_FORMATS})"
    )
    with tf.control_dependencies([known]):
        contents = tf.identity(contents)
    not_a_bomb = tf.debugging.assert_less_equal(
        _declared_pixels(contents),
        tf.constant(Image.MAX_IMAGE_PIXELS, tf.int64),
        message=f"{prefix}image too large to decode safely: more pixels than PIL.Image.MAX_IMAGE_PIXELS "
        f"({Image.MAX_IMAGE_PIXELS})",
    )
    with tf.control_dependencies([not_a_bomb]):
        contents = tf.identity(contents)
    is_gray16_png = tf.logical_and(
        _starts_with(contents, _PNG_SIGNATURE),
        tf.equal(tf.strings.substr(contents, 24, 2), _GRAY16_PNG_DEPTH_AND_TYPE),
    )
    is_palette_bmp = tf.logical_and(_starts_with(contents, b"BM"), tf.equal(_bmp_bits_per_pixel(contents), 8))

    def gray16():
        gray = tf.cast(tf.io.decode_png(contents, channels=1, dtype=tf.uint16), tf.float32)
        return tf.tile(gray * tf.constant(255.0 / 65535.0, tf.float32), [1, 1, 3])

    def jpeg():
        # TensorFlow's default (fast) integer DCT differs from Pillow by up to 12 grey levels.
        image = tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.cast(image, tf.float32)

    def palette_bmp():
        # TensorFlow reads the palette indices as grey levels; look them up in the palette
        # (after the headers: blue, green, red, unused per entry; 256 entries unless told).
        indices = tf.cast(tf.io.decode_bmp(contents, channels=0)[..., 0], tf.int32)
        colours = _unsigned(contents, 46, 4, big_endian=False)
        colours = tf.where(colours == 0, tf.constant(256, tf.int64), colours)
        table = tf.strings.substr(contents, 14 + _unsigned(contents, 14, 4, big_endian=False), 4 * colours)
        table = tf.reshape(tf.io.decode_raw(table, tf.uint8), [-1, 4])[:, 2::-1]
        return tf.cast(tf.gather(table, indices), tf.float32)

    def others():
        image = tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False)
        return tf.cast(image, tf.float32)

    image = tf.case(
        [(is_gray16_png, gray16), (tf.io.is_jpeg(contents), jpeg), (is_palette_bmp, palette_bmp)],
        default=others,
        exclusive=False,
    )
    image.set_shape([None, None, 3])
    return image


_FORMATS = "PNG, JPEG, BMP of 8, 24 or 32 bits per pixel, GIF, WebP"


def _starts_with(contents, prefix: bytes) -> tf.Tensor:
    return tf.equal(tf.strings.substr(contents, 0, len(prefix)), prefix)


def _is_webp(contents) -> tf.Tensor:
    return tf.logical_and(_starts_with(contents, b"RIFF"), tf.equal(tf.strings.substr(contents, 8, 4), b"WEBP"))


def _unsigned(contents, offset, size, big_endian) -> tf.Tensor:
    """The `size`-byte unsigned integer at `offset` (int64)."""
    digits = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, offset, size), tf.uint8), tf.int64)
    weights = tf.constant([256**i for i in range(size)][:: -1 if big_endian else 1], tf.int64)
    return tf.reduce_sum(digits * weights)


def _bmp_bits_per_pixel(contents) -> tf.Tensor:
    return _unsigned(contents, 28, 2, big_endian=False)


def _is_supported(contents) -> tf.Tensor:
    """Whether the bytes are long enough for their headers and of a format decoded here."""

    def of_known_format():
        bmp = tf.cond(
            _starts_with(contents, b"BM"),
            lambda: tf.reduce_any(tf.equal(_bmp_bits_per_pixel(contents), tf.constant([8, 24, 32], tf.int64))),
            lambda: tf.constant(False),
        )
        others = [_starts_with(contents, _PNG_SIGNATURE), tf.io.is_jpeg(contents),
                  _starts_with(contents, b"GIF8"), _is_webp(contents)]
        return tf.reduce_any(tf.stack([bmp, *others]))

    return tf.cond(tf.strings.length(contents) >= 32, of_known_format, lambda: tf.constant(False))


def _declared_pixels(contents) -> tf.Tensor:
    """Width x height as the file's header declares them."""

    def unsigned(offset, size, big_endian=False):
        return _unsigned(contents, offset, size, big_endian)

    def png():  # IHDR: width and height, 4 bytes each, big-endian
        return unsigned(16, 4, True) * unsigned(20, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.int64)
        return shape[0] * shape[1]

    def bmp():  # BITMAPINFOHEADER: 4-byte little-endian sizes; a negative height is top-down
        height = unsigned(22, 4)
        return unsigned(18, 4) * tf.where(height >= 2**31, 2**32 - height, height)

    def gif():  # logical screen: 2-byte little-endian sizes
        return unsigned(6, 2) * unsigned(8, 2)

    def webp():  # the first chunk's header: extended (VP8X), lossless (VP8L) or lossy (VP8)
        chunk = tf.strings.substr(contents, 12, 4)
        lossless_bits = unsigned(21, 4)
        return tf.case(
            [
                (tf.equal(chunk, b"VP8X"), lambda: (unsigned(24, 3) + 1) * (unsigned(27, 3) + 1)),
                (
                    tf.equal(chunk, b"VP8L"),
                    lambda: (lossless_bits % 2**14 + 1) * (lossless_bits // 2**14 % 2**14 + 1),
                ),
            ],
            default=lambda: unsigned(26, 2) % 2**14 * (unsigned(28, 2) % 2**14),
            exclusive=True,
        )

    return tf.case(
        [
            (_starts_with(contents, _PNG_SIGNATURE), png),
            (tf.io.is_jpeg(contents), jpeg),
            (_starts_with(contents, b"BM"), bmp),
            (_starts_with(contents, b"GIF8"), gif),
            (_is_webp(contents), webp),
        ],
        default=lambda: tf.constant(0, tf.int64),
        exclusive=False,
    )


def decode_image_batch(contents, name: str | None = None) -> tf.Tensor:
    """Decodes a batch of encoded images, strings (N,), to float32 (N, H, W, 3).

    All images of a batch must have the same height and width (they are stacked).
    `name` (e.g. the request field) begins the message of a failure.

    Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(buffer, format="BMP")
    >>> decode_image_batch([buffer.getvalue()] * 2).shape
    TensorShape([2, 5, 7, 3])
    """
    return tf.map_fn(
        lambda one: decode_image_bytes(one, name),
        tf.convert_to_tensor(contents, tf.string),
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32),
    )
