"""Golden values: our metrics against scikit-image, numpy, tf.image and the MATLAB steps."""

import io

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf
from PIL import Image, ImageFilter
from skimage import metrics as skimage_metrics

from iqa_keras import metrics
from iqa_keras.metrics.color import GRAY_WEIGHTS

DISTORTIONS = ("noise", "blur", "jpeg")


def distort(image: np.ndarray, kind: str) -> np.ndarray:
    """A realistic distortion of a float32 0-255 RGB image, float32 0-255 again."""
    if kind == "noise":
        noisy = image + np.random.default_rng(0).normal(0, 12, image.shape)
        return np.clip(noisy, 0, 255).astype(np.float32)
    pil_image = Image.fromarray(image.astype(np.uint8))
    if kind == "blur":
        return np.asarray(pil_image.filter(ImageFilter.GaussianBlur(2)), np.float32)
    buffer = io.BytesIO()
    pil_image.save(buffer, "JPEG", quality=10)
    return np.asarray(Image.open(buffer), np.float32)


def skimage_ssim(reference, distorted, data_range=255.0, **kwargs):
    return skimage_metrics.structural_similarity(
        np.float64(reference), np.float64(distorted), data_range=data_range,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, **kwargs,
    )


def to_gray(image):
    return image.astype(np.float64) @ np.array(GRAY_WEIGHTS)


@pytest.fixture(scope="module")
def pairs(photo):
    return {kind: (photo, distort(photo, kind)) for kind in DISTORTIONS}


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_psnr_mse_mae_equal_skimage_and_numpy(pairs, kind):
    reference, distorted = pairs[kind]
    difference = reference.astype(np.float64) - distorted
    expected_psnr = skimage_metrics.peak_signal_noise_ratio(np.float64(reference), np.float64(distorted), data_range=255)
    assert float(metrics.psnr(reference, distorted)) == pytest.approx(expected_psnr, abs=1e-4)
    assert float(metrics.mse(reference, distorted)) == pytest.approx(np.mean(difference**2), rel=1e-5)
    assert float(metrics.mae(reference, distorted)) == pytest.approx(np.mean(np.abs(difference)), rel=1e-5)


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_ssim_rgb_equals_skimage_channel_axis(pairs, kind):
    reference, distorted = pairs[kind]
    expected = skimage_ssim(reference, distorted, channel_axis=-1)
    assert float(metrics.ssim(reference, distorted, color="rgb")) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("kind", DISTORTIONS)
def test_ssim_gray_equals_skimage_on_matlab_rgb2gray(pairs, kind):
    reference, distorted = pairs[kind]
    expected = skimage_ssim(to_gray(reference), to_gray(distorted))
    assert float(metrics.ssim(reference, distorted)) == pytest.approx(expected, abs=1e-5)


def test_ssim_batch_of_photos_with_unit_data_range_equals_skimage(photos):
    references = np.stack(photos) / 255.0
    distorted = np.stack([distort(image, "jpeg") for image in photos]) / 255.0
    expected = [skimage_ssim(r, d, data_range=1.0, channel_axis=-1) for r, d in zip(references, distorted)]
    values = metrics.ssim(references.astype(np.float32), distorted.astype(np.float32), data_range=1.0, color="rgb")
    np.testing.assert_allclose(np.asarray(values), expected, atol=1e-5)


@pytest.mark.parametrize("size", [(512, 512), (171, 203)])
@pytest.mark.parametrize("color", ["rgb", "gray"])
def test_ms_ssim_equals_tf_image_ssim_multiscale(pairs, size, color):
    reference, distorted = (image[: size[0], : size[1]] for image in pairs["jpeg"])
    if color == "gray":
        reference, distorted = (to_gray(image)[..., None].astype(np.float32) for image in (reference, distorted))
    expected = float(tf.image.ssim_multiscale(reference, distorted, 255.0))
    assert float(metrics.ms_ssim(reference, distorted, color=color)) == pytest.approx(expected, abs=1e-4)


def matlab_ssim_with_downsampling(reference, distorted):
    """The steps of Wang's ssim.m (2011) in NumPy/SciPy, on one gray channel."""
    factor = max(1, int(np.floor(min(reference.shape) / 256 + 0.5)))  # MATLAB round
    if factor > 1:
        box = np.ones((factor, factor)) / factor**2
        # imfilter(..., 'symmetric', 'same') centres an f x f kernel at floor((f + 1) / 2)
        # (1-based); scipy centres it at f // 2 + origin (0-based), and its 'reflect'
        # mode is MATLAB's 'symmetric'.
        origin = (factor - 1) // 2 - factor // 2
        reference, distorted = (
            scipy.ndimage.correlate(image, box, mode="reflect", origin=origin)[::factor, ::factor]
            for image in (reference, distorted)
        )
    return skimage_ssim(reference, distorted)


# Factors 2 and 3: 640 / 256 = 2.5, which MATLAB rounds to 3 (Python's round() gives 2).
@pytest.mark.parametrize("size", [(512, 512), (640, 680)])
def test_ssim_downsample_equals_matlab_steps(size, photo):
    reference = np.asarray(Image.fromarray(photo.astype(np.uint8)).resize(size[::-1], Image.BICUBIC), np.float32)
    distorted = distort(reference, "blur")
    expected = matlab_ssim_with_downsampling(to_gray(reference), to_gray(distorted))
    value = float(metrics.ssim(reference, distorted, downsample=True))
    assert value == pytest.approx(expected, abs=1e-5)
    assert value != pytest.approx(float(metrics.ssim(reference, distorted)), abs=1e-3)


def test_errors_follow_their_definitions(photos):
    reference, distorted = np.float64(photos[1]), np.float64(distort(photos[1], "blur"))

    def laplacian(image):
        return image[2:, 1:-1] + image[:-2, 1:-1] + image[1:-1, 2:] + image[1:-1, :-2] - 4 * image[1:-1, 1:-1]

    expected = {
        "lmse": np.sum((laplacian(reference) - laplacian(distorted)) ** 2) / np.sum(laplacian(reference) ** 2),
        "nae": np.sum(np.abs(reference - distorted)) / np.sum(np.abs(reference)),
        "max_difference": np.max(np.abs(reference - distorted)),
        "structural_content": np.sum(reference**2) / np.sum(distorted**2),
    }
    for name, value in expected.items():
        ours = float(metrics.get(name).function(np.float32(reference), np.float32(distorted)))
        assert ours == pytest.approx(value, rel=1e-5), name
