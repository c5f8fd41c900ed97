"""Reading images: every mode converts as documented, every bad file names itself."""

import re

import numpy as np
import pytest
from PIL import Image

from iqa_keras import io


def _save(tmp_path, name, array, **options):
    path = tmp_path / name
    Image.fromarray(array).save(path, **options)
    return path


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def test_rgb_png_is_float32_0_255_hwc(tmp_path, rgb):
    image = io.read_image(_save(tmp_path, "a.png", rgb))
    assert image.dtype == np.float32 and image.shape == (5, 7, 3)
    np.testing.assert_array_equal(image, rgb.astype(np.float32))


def test_grayscale_is_replicated_to_three_channels(tmp_path, rgb):
    gray = rgb[..., 0]
    image = io.read_image(_save(tmp_path, "g.png", gray))
    assert image.shape == (5, 7, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_rgba_drops_alpha_and_keeps_colours(tmp_path, rgb):
    alpha = np.zeros((5, 7, 1), np.uint8)  # fully transparent: colours must survive anyway
    image = io.read_image(_save(tmp_path, "a.png", np.concatenate([rgb, alpha], -1)))
    np.testing.assert_array_equal(image, rgb.astype(np.float32))


def test_palette_is_expanded_to_its_colours(tmp_path, rgb):
    palette_image = Image.fromarray(rgb).quantize(colors=16)
    path = tmp_path / "p.png"
    palette_image.save(path)
    expected = np.asarray(palette_image.convert("RGB"), np.float32)
    np.testing.assert_array_equal(io.read_image(path), expected)


def test_sixteen_bit_png_keeps_precision(tmp_path):
    values = np.array([[0, 257, 65535, 1000]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    image = io.read_image(path)
    np.testing.assert_allclose(image[0, :, 0], values[0] * 255.0 / 65535.0, rtol=1e-6)
    assert image[0, 3, 0] != np.round(image[0, 3, 0])  # not truncated to 8 bits


def test_gray_mode_uses_bt601_luma(tmp_path):
    pixel = np.array([[[255, 0, 0]]], np.uint8)
    assert io.read_image(_save(tmp_path, "r.png", pixel), mode="gray")[0, 0, 0] == pytest.approx(0.299 * 255)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(io.ImageReadError, match="not found: .*nothere.png"):
        io.read_image(tmp_path / "nothere.png")


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"this is not an image")
    with pytest.raises(io.ImageReadError, match="corrupt.png"):
        io.read_image(path)


def test_truncated_file_names_the_file(tmp_path, rgb):
    data = (_save(tmp_path, "full.jpg", np.tile(rgb, (20, 20, 1)), quality=90)).read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageReadError, match="truncated.jpg"):
        io.read_image(path)


def test_decompression_bomb_is_refused(tmp_path, rgb, monkeypatch):
    path = _save(tmp_path, "big.png", rgb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 35 pixels is "too large" now
    with pytest.raises(io.ImageReadError, match="big.png.*too large.*MAX_IMAGE_PIXELS"):
        io.read_image(path)


def test_bad_mode_is_rejected(tmp_path, rgb):
    with pytest.raises(ValueError, match="mode='cmyk'"):
        io.read_image(_save(tmp_path, "a.png", rgb), mode="cmyk")


def test_pair_of_different_sizes_names_both_files_and_sizes(tmp_path, rgb):
    small = _save(tmp_path, "small.png", rgb)
    large = _save(tmp_path, "large.png", np.zeros((6, 9, 3), np.uint8))
    with pytest.raises(ValueError, match=r"small.png is 7x5.*large.png is 9x6"):
        io.read_pair(small, large)


@pytest.mark.parametrize("format", ["GIF", "WEBP"])
def test_an_animated_image_is_refused_naming_the_file_and_a_still_one_read(tmp_path, rgb, format):
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    path = tmp_path / f"clip.{format.lower()}"
    frames[0].save(path, format=format, save_all=True, append_images=frames[1:])
    with pytest.raises(io.ImageReadError, match=rf"^Image {re.escape(str(path))} is animated \(2 frames\)"):
        io.read_image(path)
    frames[0].save(tmp_path / f"still.{format.lower()}", format=format)
    assert io.read_image(tmp_path / f"still.{format.lower()}").shape == rgb.shape
