"""Colour handling: MATLAB's rgb2ycbcr luma and rgb2gray, scaled with data_range."""

import numpy as np
import pytest
from skimage import color as skimage_color
from skimage import metrics as skimage_metrics

from iqa_keras import metrics
from iqa_keras.metrics.color import GRAY_WEIGHTS, prepare_pair


def converted(image, color, data_range=255.0):
    return np.asarray(prepare_pair(image, image, data_range, color).reference[0])


@pytest.mark.parametrize("data_range", [255.0, 1.0])
def test_y_spans_16_to_235_on_the_0_255_scale_scaled_with_data_range(data_range):
    black_and_white = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]], np.float32) * data_range
    luma = converted(black_and_white, "y", data_range)[..., 0]
    np.testing.assert_allclose(luma, [[16.0 / 255 * data_range, 235.0 / 255 * data_range]], rtol=1e-6)


def test_y_equals_skimage_rgb2ycbcr_which_follows_matlab(photo):
    expected = skimage_color.rgb2ycbcr(photo / 255.0)[..., 0]
    np.testing.assert_allclose(converted(photo, "y")[..., 0], expected, atol=1e-3)


def test_gray_uses_matlab_rgb2gray_weights(photo):
    # MATLAB: the first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]).
    ntsc_to_rgb = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
    np.testing.assert_allclose(GRAY_WEIGHTS, np.linalg.inv(ntsc_to_rgb)[0], rtol=1e-14)
    np.testing.assert_allclose(converted(photo, "gray")[..., 0], photo @ np.array(GRAY_WEIGHTS), atol=1e-3)


@pytest.mark.parametrize("color", ["y", "gray"])
def test_single_channel_images_are_taken_as_already_converted(color, photo):
    gray = photo[:32, :32, :1]
    np.testing.assert_array_equal(converted(gray, color), gray)


def test_rgb_keeps_every_channel(photo):
    np.testing.assert_array_equal(converted(photo[:8, :8], "rgb"), photo[:8, :8])


def test_psnr_on_y_equals_skimage_on_the_y_channel(photo):
    distorted = np.clip(photo + np.random.default_rng(0).normal(0, 8, photo.shape), 0, 255)
    reference_y, distorted_y = (skimage_color.rgb2ycbcr(image / 255.0)[..., 0] for image in (photo, distorted))
    expected = skimage_metrics.peak_signal_noise_ratio(reference_y, distorted_y, data_range=255)
    assert float(metrics.psnr(photo, distorted.astype(np.float32), color="y")) == pytest.approx(expected, abs=1e-4)


def test_the_metrics_document_their_default_colors():
    defaults = {info.name: info.default_color for info in metrics.available()}
    assert defaults == {
        "psnr": "rgb", "ssim": "gray", "ms_ssim": "gray", "mse": "rgb", "mae": "rgb",
        "lmse": "rgb", "nae": "rgb", "max_difference": "rgb", "structural_content": "rgb",
    }
    import inspect

    for info in metrics.available():
        assert inspect.signature(info.function).parameters["color"].default == info.default_color
