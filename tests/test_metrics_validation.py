"""Every error message of iqa_keras.metrics: what was expected, what was received."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from iqa_keras import metrics

ALL = [info.name for info in metrics.available()]


def images(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("name", ALL)
def test_mismatched_shapes_name_both_shapes(name):
    with pytest.raises(ValueError, match=r"reference.shape=\(170, 180, 3\), distorted.shape=\(170, 181, 3\)"):
        metrics.get(name).function(images(170, 180, 3), images(170, 181, 3))


@pytest.mark.parametrize("name", ALL)
def test_a_batch_against_a_single_image_is_a_shape_mismatch(name):
    with pytest.raises(ValueError, match=r"same shape.*\(1, 170, 170, 3\).*\(170, 170, 3\)"):
        metrics.get(name).function(images(1, 170, 170, 3), images(170, 170, 3))


@pytest.mark.parametrize("name", ALL)
def test_a_rank_other_than_3_or_4_is_refused(name):
    with pytest.raises(ValueError, match=r"one image \(height, width, channels\).*Received: reference.shape=\(170, 170\)"):
        metrics.get(name).function(images(170, 170), images(170, 170))


@pytest.mark.parametrize("name", ALL)
def test_an_unknown_color_lists_the_known_ones(name):
    with pytest.raises(ValueError, match=r"`color` must be one of 'rgb', 'y', 'gray'. Received: color='ycbcr'"):
        metrics.get(name).function(images(170, 170, 3), images(170, 170, 3), color="ycbcr")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("data_range", [0.0, -1.0, float("nan"), float("inf")])
def test_a_data_range_that_is_not_positive_and_finite_is_refused(name, data_range):
    with pytest.raises(ValueError, match=rf"`data_range` must be a finite positive number.*Received: data_range={data_range}"):
        metrics.get(name).function(images(170, 170, 3), images(170, 170, 3), data_range=data_range)


@pytest.mark.parametrize("data_range", ["255", None, True])
def test_a_data_range_that_is_not_a_number_is_a_type_error(data_range):
    with pytest.raises(TypeError, match=r"`data_range` must be a number.*Received: data_range="):
        metrics.psnr(images(8, 8, 3), images(8, 8, 3), data_range=data_range)


@pytest.mark.parametrize("color", ["y", "gray"])
def test_color_conversion_needs_one_or_three_channels(color):
    with pytest.raises(ValueError, match=rf"`color='{color}'` converts RGB images.*Received: 4 channels"):
        metrics.mse(images(8, 8, 4), images(8, 8, 4), color=color)


@pytest.mark.parametrize(
    "function, size, minimum",
    [(metrics.ssim, (10, 40), 11), (metrics.ms_ssim, (160, 200), 161), (metrics.lmse, (40, 2), 3)],
)
def test_too_small_images_give_their_size_and_the_minimum(function, size, minimum):
    with pytest.raises(ValueError, match=rf"at least {minimum}x{minimum} pixels. Received: {size[0]}x{size[1]}"):
        function(images(*size, 3), images(*size, 3))


@pytest.mark.parametrize(
    "call",
    [
        lambda r, d: metrics.ssim(r, d, downsample=True),
        lambda r, d: metrics.ms_ssim(r, d),
    ],
    ids=["ssim_downsample", "ms_ssim"],
)
def test_downsampling_an_image_of_unknown_size_is_refused(call):
    signature = [tf.TensorSpec((None, None, None, 3), tf.float32)] * 2
    with pytest.raises(ValueError, match=r"needs images of known height and width. Received: shape=\(None, None, None"):
        tf.function(call, input_signature=signature).get_concrete_function()


def test_an_unknown_metric_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown metric 'PSNR'. Available: psnr, ssim, ms_ssim"):
        metrics.get("PSNR")


def test_float_images_within_0_1_measured_as_0_255_are_warned_about():
    rng = np.random.default_rng(0)
    reference = rng.random((16, 16, 3))
    distorted = np.clip(reference + rng.normal(0, 0.05, reference.shape), 0, 1)
    with pytest.warns(UserWarning, match=r"values within \[0, 1\], but data_range=255.0: .* pass data_range=1.0"):
        metrics.psnr(reference, distorted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.psnr(reference, distorted, data_range=1.0)
        metrics.psnr(np.zeros((8, 8, 3)), np.ones((8, 8, 3)))  # 0-255 images that happen to be dark
        metrics.psnr(tf.constant(reference), tf.constant(distorted))  # tensors are not inspected
