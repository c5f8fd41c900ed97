"""Decoding encoded images inside a TensorFlow graph, as `iqa_keras.io.read_image` does.

Graph ops only (no `py_function`), so that a SavedModel signature can decode the bytes a
client sends: PNG, JPEG, BMP (8, 24 or 32 bits per pixel) and still WebP become float32
HxWx3 with values 0-255; grayscale is replicated, alpha dropped, palettes expanded, 16-bit
grayscale PNG scaled by 255/65535, JPEG decoded with the accurate integer DCT as Pillow
does. Anything else (GIF, whose frames TensorFlow sizes unchecked and whose transparency
it blackens, animated WebP, TIFF, ...) fails with a message saying which formats are read.
Images whose header declares more pixels than Pillow's decompression-bomb limit
(`PIL.Image.MAX_IMAGE_PIXELS`, as `read_image` refuses them) fail before anything is
decoded, so a tiny crafted file cannot make a server allocate gigabytes.

PNG and JPEG, the formats of most IQA databases, take the shortest way through the
checks; the other formats, and bytes of none, are sorted out in the default branches
(inside tf.data every op and branch costs time, whatever its size).

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
_FORMATS = "PNG, JPEG, BMP of 8, 24 or 32 bits per pixel, still WebP"
_NOT_READ = -1  # `_declared_pixels` of bytes this decoder does not read


def decode_image_bytes(contents, name: str | None = None) -> tf.Tensor:
    """Decodes one encoded image (a scalar string) to float32 (H, W, 3), values 0-255.

    `name` (e.g. the request field) begins the message of a failure.
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    prefix = f"{name}: " if name else ""
    is_png, is_jpeg = _starts_with(contents, _PNG_SIGNATURE), tf.io.is_jpeg(contents)  # safe on any bytes
    pixels = _declared_pixels(contents, is_png, is_jpeg)
    checks = [
        tf.debugging.assert_none_equal(
            pixels, tf.constant(_NOT_READ, tf.int64), message=f"{prefix}not an image this decoder reads ({_FORMATS})"
        ),
        tf.debugging.assert_less_equal(
            pixels,
            tf.constant(Image.MAX_IMAGE_PIXELS, tf.int64),
            message=f"{prefix}image too large to decode safely: more pixels than PIL.Image.MAX_IMAGE_PIXELS "
            f"({Image.MAX_IMAGE_PIXELS})",
        ),
    ]
    with tf.control_dependencies(checks):  # before anything reads past a short header
        contents = tf.identity(contents)
    is_gray16_png = tf.logical_and(is_png, tf.equal(tf.strings.substr(contents, 24, 2), _GRAY16_PNG_DEPTH_AND_TYPE))

    def gray16():
        gray = tf.cast(tf.io.decode_png(contents, channels=1, dtype=tf.uint16), tf.float32)
        return tf.tile(gray * tf.constant(255.0 / 65535.0, tf.float32), [1, 1, 3])

    def jpeg():
        # TensorFlow's default (fast) integer DCT differs from Pillow by up to 12 grey levels.
        return tf.cast(tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_ACCURATE"), tf.float32)

    def png():
        return tf.cast(tf.io.decode_png(contents, channels=3), tf.float32)

    def others():  # BMP and WebP
        def bmp():
            return tf.cast(tf.io.decode_bmp(contents, channels=3), tf.float32)

        def webp():  # RGB or RGBA as stored; the alpha channel dropped
            return tf.cast(tf.io.decode_image(contents, channels=0, expand_animations=False)[..., :3], tf.float32)

        is_palette_bmp = tf.logical_and(_starts_with(contents, b"BM"), tf.equal(_bmp_bits_per_pixel(contents), 8))
        return tf.case(
            [(is_palette_bmp, lambda: _palette_bmp(contents)), (_starts_with(contents, b"RIFF"), webp)],
            default=bmp,
            exclusive=False,
        )

    image = tf.case(
        [(is_gray16_png, gray16), (is_jpeg, jpeg), (is_png, png)], default=others, exclusive=False
    )
    image.set_shape([None, None, 3])
    return image


def _palette_bmp(contents) -> tf.Tensor:
    """A BMP of 8 bits per pixel: TensorFlow reads its palette indices as grey levels, so
    look them up in the palette (after the headers: blue, green, red, unused per entry;
    256 entries unless the header says fewer)."""
    indices = tf.cast(tf.io.decode_bmp(contents, channels=0)[..., 0], tf.int32)
    colours = _unsigned(contents, 46, 4, big_endian=False)
    colours = tf.where(colours == 0, tf.constant(256, tf.int64), colours)
    table = tf.strings.substr(contents, 14 + _unsigned(contents, 14, 4, big_endian=False), 4 * colours)
    table = tf.reshape(tf.io.decode_raw(table, tf.uint8), [-1, 4])[:, 2::-1]
    return tf.cast(tf.gather(table, indices), tf.float32)


def _starts_with(contents, prefix: bytes) -> tf.Tensor:
    return tf.equal(tf.strings.substr(contents, 0, len(prefix)), prefix)


def _unsigned(contents, offset, size, big_endian) -> tf.Tensor:
    """The `size`-byte unsigned integer at `offset` (int64)."""
    digits = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, offset, size), tf.uint8), tf.int64)
    weights = tf.constant([256**i for i in range(size)][:: -1 if big_endian else 1], tf.int64)
    return tf.reduce_sum(digits * weights)


def _bmp_bits_per_pixel(contents) -> tf.Tensor:
    return _unsigned(contents, 28, 2, big_endian=False)


def _declared_pixels(contents, is_png, is_jpeg) -> tf.Tensor:
    """Width x height as the file's header declares them; `_NOT_READ` for bytes of another
    format, or too short for their header. `is_png`, `is_jpeg`: the caller's tests of the
    format, computed once for the header and the decoder."""

    def unsigned(offset, size, big_endian=False):
        return _unsigned(contents, offset, size, big_endian)

    def png():  # IHDR: width and height, 4 bytes each, big-endian
        return unsigned(16, 4, True) * unsigned(20, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.int64)
        return shape[0] * shape[1]

    def bmp():  # BITMAPINFOHEADER: 4-byte little-endian sizes; a negative height is top-down
        height = unsigned(22, 4)
        pixels = unsigned(18, 4) * tf.where(height >= 2**31, 2**32 - height, height)
        depth_read = tf.reduce_any(tf.equal(_bmp_bits_per_pixel(contents), tf.constant([8, 24, 32], tf.int64)))
        return tf.where(depth_read, pixels, _NOT_READ)

    def riff():  # a still WebP, its first chunk extended (VP8X), lossless (VP8L) or lossy (VP8)
        chunk = tf.strings.substr(contents, 12, 4)
        lossless = unsigned(21, 4)
        pixels = tf.where(
            tf.equal(chunk, b"VP8X"),
            (unsigned(24, 3) + 1) * (unsigned(27, 3) + 1),
            tf.where(
                tf.equal(chunk, b"VP8L"),
                (lossless % 2**14 + 1) * (lossless // 2**14 % 2**14 + 1),
                unsigned(26, 2) % 2**14 * (unsigned(28, 2) % 2**14),
            ),
        )
        # An animation (VP8X flag 0x02) is refused: TensorFlow 2.21 corrupts memory decoding one.
        animated = tf.logical_and(tf.equal(chunk, b"VP8X"), tf.equal(unsigned(20, 1) // 2 % 2, 1))
        webp = tf.logical_and(tf.equal(tf.strings.substr(contents, 8, 4), b"WEBP"), tf.logical_not(animated))
        return tf.where(webp, pixels, _NOT_READ)

    def others():  # formats rarer in IQA databases, and bytes of none
        return tf.case(
            [(_starts_with(contents, b"BM"), bmp), (_starts_with(contents, b"RIFF"), riff)],
            default=lambda: tf.constant(_NOT_READ, tf.int64),
            exclusive=False,
        )

    long_enough = tf.strings.length(contents) >= 32  # every field read here lies within
    return tf.case(
        [
            (tf.logical_and(long_enough, is_png), png),
            (tf.logical_and(long_enough, is_jpeg), jpeg),
            (tf.logical_not(long_enough), lambda: tf.constant(_NOT_READ, tf.int64)),
        ],
        default=others,
        exclusive=False,
    )


def decode_image_batch(contents, name: str | None = None) -> tf.Tensor:
    """Decodes a batch of encoded images, strings (N,), to float32 (N, H, W, 3).

    All images of a batch must have the same height and width (they are stacked); one
    that differs from the first fails with both sizes. `name` (e.g. the request field)
    begins the message of a failure.

    Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(buffer, format="BMP")
    >>> decode_image_batch([buffer.getvalue()] * 2).shape
    TensorShape([2, 5, 7, 3])
    """
    return _decode_batch(tf.convert_to_tensor(contents, tf.string), name)


@tf.function(autograph=False, reduce_retracing=True)  # eagerly, a failed loop would log a stray warning
def _decode_batch(contents, name):
    prefix = f"{name}: " if name else ""

    def decode(index, decoded, first_size):
        image = decode_image_bytes(contents[index], name)
        size = tf.shape(image)[:2]
        first_size = tf.where(index == 0, size, first_size)
        same = tf.debugging.Assert(
            tf.reduce_all(tf.equal(size, first_size)),
            [f"{prefix}all images of a batch must have the same height and width; image", index,
             "is (height, width)", size, "but image 0 is", first_size],
        )
        with tf.control_dependencies([same]):
            return index + 1, decoded.write(index, image), first_size

    count = tf.shape(contents)[0]
    with tf.control_dependencies([tf.debugging.assert_positive(count, f"{prefix}a batch needs at least one image")]):
        count = tf.identity(count)
    decoded = tf.TensorArray(tf.float32, size=count, element_shape=[None, None, 3], infer_shape=False)
    _, decoded, _ = tf.while_loop(
        lambda index, *_: index < count, decode, [0, decoded, tf.zeros([2], tf.int32)]
    )
    return tf.ensure_shape(decoded.stack(), [None, None, None, 3])
