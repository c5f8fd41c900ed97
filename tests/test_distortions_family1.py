"""Tests of KADID types 01-15 (blur, colour, compression, noise) and the colour spaces."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage.metrics import structural_similarity

from iqa_keras.data.distortions import blur, color, colorspace, compression, distort, noise

DISTORTIONS = {
    "gaussian_blur": blur.gaussian_blur,
    "lens_blur": blur.lens_blur,
    "motion_blur": blur.motion_blur,
    "color_diffusion": color.color_diffusion,
    "color_shift": color.color_shift,
    "color_quantization": color.color_quantization,
    "color_saturation_1": color.color_saturation_1,
    "color_saturation_2": color.color_saturation_2,
    "jpeg2000": compression.jpeg2000,
    "jpeg": compression.jpeg,
    "white_noise": noise.white_noise,
    "white_noise_color_component": noise.white_noise_color_component,
    "impulse_noise": noise.impulse_noise,
    "multiplicative_noise": noise.multiplicative_noise,
    "denoise": noise.denoise,
}
RANDOM = ("motion_blur", "color_shift", "white_noise", "white_noise_color_component",
          "impulse_noise", "multiplicative_noise", "denoise")


@pytest.fixture(scope="module")
def crops(photos):
    """The 4 real photos as [0, 1] floats, cropped to 96x128 to keep tests fast."""
    return [photo[:96, :128] / np.float32(255.0) for photo in photos]


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_output_shape_dtype_and_range(name, crops):
    for level in (1, 5):
        out = DISTORTIONS[name](crops[0], level, np.random.default_rng(0))
        assert out.shape == crops[0].shape
        assert out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_same_seed_gives_same_output(name, crops):
    first = DISTORTIONS[name](crops[1], 4, np.random.default_rng(7))
    second = DISTORTIONS[name](crops[1], 4, np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", RANDOM)
def test_different_seeds_give_different_outputs(name, crops):
    # Motion blur draws only an angle, so compare several seeds against the first.
    outputs = [DISTORTIONS[name](crops[1], 5, np.random.default_rng(seed)) for seed in range(4)]
    assert any(not np.array_equal(outputs[0], other) for other in outputs[1:])


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
@pytest.mark.parametrize("level", [0, 6, 2.5, "3", True])
def test_invalid_level_raises(name, level, crops):
    with pytest.raises(ValueError, match="`level` must be an integer in 1..5"):
        DISTORTIONS[name](crops[0], level, np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_invalid_image_raises(name):
    with pytest.raises(ValueError, match="`image`"):
        DISTORTIONS[name](np.zeros((8, 8)), 1, np.random.default_rng(0))


def _mse(reference, distorted):
    return float(np.mean((reference.astype(np.float64) - distorted) ** 2))


def _one_minus_ssim(reference, distorted):
    return 1.0 - structural_similarity(reference, distorted, channel_axis=2, data_range=1.0)


# Blur hardly changes MSE between close levels on smooth areas; 1 - SSIM is more telling.
SEVERITY = {name: _mse for name in DISTORTIONS}
SEVERITY.update(gaussian_blur=_one_minus_ssim, lens_blur=_one_minus_ssim,
                motion_blur=_one_minus_ssim, denoise=_one_minus_ssim)


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_severity_grows_with_level(name, crops):
    for image in crops:
        # The same seed at every level: the same angle, direction and noise pattern.
        errors = [
            SEVERITY[name](image, DISTORTIONS[name](image, level, np.random.default_rng(3)))
            for level in range(1, 6)
        ]
        assert all(a < b for a, b in zip(errors, errors[1:])), (name, errors)


def test_disk_kernel_matches_matlab_fspecial():
    # fspecial('disk', 2) printed by MATLAB.
    expected = np.array([
        [0.0000, 0.0170, 0.0381, 0.0170, 0.0000],
        [0.0170, 0.0784, 0.0796, 0.0784, 0.0170],
        [0.0381, 0.0796, 0.0796, 0.0796, 0.0381],
        [0.0170, 0.0784, 0.0796, 0.0784, 0.0170],
        [0.0000, 0.0170, 0.0381, 0.0170, 0.0000],
    ])
    np.testing.assert_allclose(blur.disk_kernel(2), expected, atol=5e-5)
    for radius in blur.LENS_BLUR_RADII:
        kernel = blur.disk_kernel(radius)
        assert kernel.shape == (2 * radius + 1,) * 2
        assert np.isclose(kernel.sum(), 1.0) and kernel.min() >= 0.0
        np.testing.assert_allclose(kernel, kernel.T)


def test_disk_kernel_rejects_a_non_positive_radius():
    with pytest.raises(ValueError, match="`radius` must be positive. Received: radius=0"):
        blur.disk_kernel(0)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 135, 179])
@pytest.mark.parametrize("length", [4, 10])
def test_motion_kernel_is_a_line_of_that_length_and_angle(length, angle):
    kernel = blur.motion_kernel(length, angle)
    assert np.isclose(kernel.sum(), 1.0)
    np.testing.assert_allclose(kernel, np.rot90(kernel, 2))  # point-symmetric
    rows, cols = np.indices(kernel.shape)
    x = cols - (kernel.shape[1] - 1) / 2
    y = (kernel.shape[0] - 1) / 2 - rows  # upwards, so angles are counter-clockwise
    points = np.stack([x.ravel(), y.ravel()])
    covariance = np.cov(points, aweights=kernel.ravel(), bias=True)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    # A uniform segment of length L has standard deviation L / sqrt(12) along itself.
    assert abs(np.sqrt(12 * eigenvalues[1]) - length) < 0.1 * length
    axis = eigenvectors[:, 1]
    measured = np.degrees(np.arctan2(axis[1], axis[0])) % 180
    assert min(abs(measured - angle), 180 - abs(measured - angle)) < 3


def test_motion_kernel_matches_matlab_at_right_angles():
    np.testing.assert_allclose(blur.motion_kernel(3, 0), np.full((1, 3), 1 / 3))
    np.testing.assert_allclose(blur.motion_kernel(2, 0), [[0.25, 0.5, 0.25]])
    np.testing.assert_allclose(blur.motion_kernel(3, 90), np.full((3, 1), 1 / 3))
    np.testing.assert_allclose(blur.motion_kernel(1, 37), [[1.0]])


def test_gaussian_blur_is_near_identity_at_level_1(crops):
    out = blur.gaussian_blur(crops[0], 1, np.random.default_rng(0))
    np.testing.assert_allclose(out, crops[0], atol=1e-6)


def test_lab_matches_scikit_image(crops):
    # scikit-image uses the rounded sRGB matrix; MATLAB derives it from the primaries.
    np.testing.assert_allclose(colorspace.rgb_to_lab(crops[1]), skcolor.rgb2lab(crops[1]),
                               atol=0.01)
    lab = skcolor.rgb2lab(crops[2])
    np.testing.assert_allclose(colorspace.lab_to_rgb(lab), crops[2], atol=1e-4)


def test_ycbcr_matches_matlab_bt601(crops):
    # scikit-image's rgb2ycbcr uses the same BT.601 matrix on a 0-255 scale.
    np.testing.assert_allclose(colorspace.rgb_to_ycbcr(crops[0]) * 255.0,
                               skcolor.rgb2ycbcr(crops[0]), atol=1e-3)
    round_trip = colorspace.ycbcr_to_rgb(colorspace.rgb_to_ycbcr(crops[0]))
    np.testing.assert_allclose(round_trip, crops[0], atol=1e-5)


def test_hsv_matches_scikit_image(crops):
    np.testing.assert_allclose(colorspace.rgb_to_hsv(crops[3]), skcolor.rgb2hsv(crops[3]),
                               atol=1e-5)
    np.testing.assert_allclose(colorspace.hsv_to_rgb(skcolor.rgb2hsv(crops[3])), crops[3],
                               atol=1e-5)


def test_colorspace_rejects_arrays_without_three_channels():
    with pytest.raises(ValueError, match="`lab` must be an array whose last axis has 3"):
        colorspace.lab_to_rgb(np.zeros((4, 4, 2)))


def test_color_saturation_1_at_zero_gives_gray(crops):
    out = color.color_saturation_1(crops[1], 4, np.random.default_rng(0))
    np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-6)


def test_color_shift_rejects_images_without_a_gradient():
    with pytest.raises(ValueError, match="at least 2x2 pixels for color_shift"):
        color.color_shift(np.zeros((1, 5, 3), np.float32), 1, np.random.default_rng(0))


def test_color_shift_moves_only_green(crops):
    out = color.color_shift(crops[0], 5, np.random.default_rng(0))
    np.testing.assert_array_equal(out[..., [0, 2]], crops[0][..., [0, 2]])
    assert not np.array_equal(out[..., 1], crops[0][..., 1])


@pytest.mark.parametrize("level", [1, 5])
def test_color_quantization_uses_at_most_that_many_colours(level, crops):
    out = color.color_quantization(crops[2], level, np.random.default_rng(0))
    colours = len(np.unique(out.reshape(-1, 3), axis=0))
    assert colours <= color.COLOR_QUANTIZATION_COLORS[level - 1]


@pytest.mark.parametrize("level", range(1, 6))
def test_jpeg2000_size_matches_the_ratio(level, photos):
    image = photos[0] / np.float32(255.0)
    ratio = compression.JPEG2000_RATIOS[level - 1]
    buffer = io.BytesIO()
    compression.to_pillow(image).save(buffer, format="JPEG2000", quality_mode="rates",
                                      quality_layers=[ratio], irreversible=True)
    achieved = image.size / len(buffer.getvalue())
    assert 0.85 * ratio <= achieved <= 1.15 * ratio


def test_jpeg_matches_pillow_at_that_quality(crops):
    buffer = io.BytesIO()
    compression.to_pillow(crops[1]).save(buffer, format="JPEG", quality=7)
    expected = np.asarray(Image.open(buffer), np.float32) / 255.0
    out = compression.jpeg(crops[1], 4, np.random.default_rng(0))
    np.testing.assert_array_equal(out, expected)


def test_white_noise_has_the_level_variance():
    image = np.full((128, 128, 3), 0.5, np.float32)
    for level, variance in enumerate(noise.WHITE_NOISE_VARIANCES, start=1):
        out = noise.white_noise(image, level, np.random.default_rng(level))
        assert abs(out.var() - variance) < 0.15 * variance


def test_impulse_noise_density_and_values():
    image = np.full((128, 128, 3), 0.5, np.float32)
    out = noise.impulse_noise(image, 5, np.random.default_rng(0))
    changed = out != 0.5
    assert abs(changed.mean() - 0.03) < 0.005
    assert set(np.unique(out[changed]).tolist()) == {0.0, 1.0}


def test_multiplicative_noise_scales_with_intensity():
    image = np.zeros((64, 64, 3), np.float32)
    image[:, 32:] = 0.8
    out = noise.multiplicative_noise(image, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, :32], 0.0)
    expected_std = 0.8 * np.sqrt(noise.MULTIPLICATIVE_NOISE_VARIANCES[4])
    assert abs(out[:, 32:].std() - expected_std) < 0.15 * expected_std


def test_white_noise_color_component_has_the_level_variance_in_ycbcr():
    image = np.full((128, 128, 3), 0.5, np.float32)
    variance = noise.WHITE_NOISE_COLOR_COMPONENT_VARIANCES[4]
    out = noise.white_noise_color_component(image, 5, np.random.default_rng(0))
    ycbcr_noise = colorspace.rgb_to_ycbcr(out) - colorspace.rgb_to_ycbcr(image)
    np.testing.assert_allclose(ycbcr_noise.reshape(-1, 3).var(axis=0), variance, rtol=0.1)
    # Noise added in YCbCr is coloured: red and blue share the luma noise.
    rgb_noise = (out - image).reshape(-1, 3)
    assert np.corrcoef(rgb_noise[:, 0], rgb_noise[:, 2])[0, 1] > 0.2


def test_denoise_removes_most_of_its_noise(crops):
    for level, variance in enumerate(noise.DENOISE_NOISE_VARIANCES, start=1):
        out = noise.denoise(crops[0], level, np.random.default_rng(0))
        assert _mse(crops[0], out) < 0.5 * variance


@pytest.mark.parametrize("level", [1, 3, 5])
def test_denoise_keeps_the_brightness_of_the_edges(level):
    flat = np.full((64, 64, 3), 0.7, np.float32)
    out = noise.denoise(flat, level, np.random.default_rng(0))
    edges = np.concatenate([out[:3].ravel(), out[-3:].ravel(), out[:, :3].ravel(), out[:, -3:].ravel()])
    assert abs(edges.mean() - out[16:-16, 16:-16].mean()) < 0.02


@pytest.mark.parametrize("name", ["gaussian_blur", "lens_blur", "motion_blur"])
def test_a_blur_leaves_a_flat_image_flat(name):
    # The filter's rounding errors must not be stretched to [0, 1] by the min-max step.
    flat = np.full((16, 16, 3), 0.5, np.float32)
    assert np.ptp(distort(flat, name, 3, seed=0)) < 1e-5
