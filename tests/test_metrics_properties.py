"""Properties every metric keeps: identity, symmetry, bounds, direction, dtypes, batching."""

import math

import numpy as np
import pytest

from iqa_keras import metrics

ALL = [info.name for info in metrics.available()]
SYMMETRIC = {"psnr", "ssim", "ms_ssim", "mse", "mae", "max_difference"}
# MS-SSIM needs 161 px a side; the others are checked on small crops.
SIZE = {"ms_ssim": 176}


def crop(image, name):
    size = SIZE.get(name, 48)
    return image[:size, :size]


def noisy(image, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.float32)


def value(name, reference, distorted, **kwargs):
    return float(metrics.get(name).function(reference, distorted, **kwargs))


@pytest.mark.parametrize("name", ALL)
def test_identity_gives_the_best_value(name, photos):
    reference = crop(photos[0], name)
    assert value(name, reference, reference) == metrics.get(name).best_value


@pytest.mark.parametrize("name", ALL)
def test_symmetry_holds_exactly_where_expected(name, photos):
    reference = crop(photos[1], name)
    distorted = noisy(reference, 20.0)
    forward, backward = value(name, reference, distorted), value(name, distorted, reference)
    if name in SYMMETRIC:
        assert forward == pytest.approx(backward, rel=1e-5)
    else:
        assert forward != pytest.approx(backward, rel=1e-3)


@pytest.mark.parametrize("name", ALL)
def test_values_lie_in_range_and_worsen_with_the_distortion(name, photos):
    info = metrics.get(name)
    reference = crop(photos[2], name)
    mild, strong = value(name, reference, noisy(reference, 5.0)), value(name, reference, noisy(reference, 40.0))
    low, high = info.value_range
    assert low <= strong and mild <= high
    if info.higher_is_better is None:
        assert abs(mild - info.best_value) < abs(strong - info.best_value)
    elif info.higher_is_better:
        assert mild > strong
    else:
        assert mild < strong


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "uint8"])
def test_dtype_is_kept_for_floats_and_float32_for_integers(name, dtype, photos):
    import keras

    reference = keras.ops.convert_to_tensor(crop(photos[3], name), dtype=dtype)
    distorted = keras.ops.convert_to_tensor(noisy(crop(photos[3], name), 10.0), dtype=dtype)
    result = metrics.get(name).function(reference, distorted)
    expected = "float32" if dtype == "uint8" else dtype
    assert keras.backend.standardize_dtype(result.dtype) == expected
    assert tuple(result.shape) == ()


@pytest.mark.parametrize("name", ALL)
def test_a_batch_gives_the_values_of_its_images(name, photos):
    references = np.stack([crop(image, name) for image in photos[:3]])
    distorted = np.stack([noisy(image, 10.0 * (i + 1), seed=i) for i, image in enumerate(references)])
    batch = np.asarray(metrics.get(name).function(references, distorted))
    singles = [value(name, r, d) for r, d in zip(references, distorted)]
    assert batch.shape == (3,)
    np.testing.assert_allclose(batch, singles, rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_uint8_input_equals_the_same_values_as_float(name, photos):
    reference = crop(photos[0], name).astype(np.uint8)
    distorted = noisy(reference, 10.0).astype(np.uint8)
    as_uint8 = value(name, reference, distorted)
    as_float = value(name, reference.astype(np.float32), distorted.astype(np.float32))
    assert as_uint8 == pytest.approx(as_float, rel=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_single_channel_images_are_accepted(name, photos):
    reference = crop(photos[1], name)[..., :1]
    distorted = noisy(reference, 10.0)
    gray, rgb = value(name, reference, distorted), value(name, reference, distorted, color="rgb")
    assert math.isfinite(gray) and gray == pytest.approx(rgb, rel=1e-6)
