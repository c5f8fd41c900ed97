"""Tests for iqa_keras.metrics.deep_features: classic metrics on encoder feature maps."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.ndimage

from iqa_keras import metrics
from iqa_keras.metrics import deep_features
from iqa_keras.metrics.deep_features import deep_feature_metric
from iqa_keras.models.encoders import build_encoder


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return build_encoder("small")


@pytest.fixture(scope="module")
def references(photos):
    """Two textured 64x64 crops of real photos, float32 0-255."""
    return np.stack([photo[100:164, 100:164] for photo in photos[:2]])


def _noisy(images, sigma, seed=0):
    return (images + np.random.default_rng(seed).normal(0, sigma, images.shape)).astype("float32")


@pytest.mark.parametrize(
    "metric, layers",
    [
        ("mse", None),
        ("mae", None),
        ("psnr", None),
        ("nae", None),
        ("max_difference", None),
        ("structural_content", None),
        ("lmse", None),
        ("ssim", (0, 1)),
    ],
)
def test_identical_images_give_the_best_value(metric, layers, encoder, references):
    values = np.asarray(deep_feature_metric(references, references, metric, encoder=encoder, layers=layers))
    np.testing.assert_allclose(values, [metrics.get(metric).best_value] * 2, atol=1e-5)


@pytest.mark.parametrize("metric", ["mse", "mae", "psnr", "nae"])
def test_strong_blur_scores_worse_than_light_noise(metric, encoder, references):
    # Holds by a wide margin (5x in MSE, 7 dB in PSNR) for every seed from 0 to 19.
    blurred = scipy.ndimage.gaussian_filter(references, (0, 3, 3, 0))
    noisy = _noisy(references, 2.0)
    blur_values = np.asarray(deep_feature_metric(references, blurred, metric, encoder=encoder))
    noise_values = np.asarray(deep_feature_metric(references, noisy, metric, encoder=encoder))
    if metrics.get(metric).higher_is_better:
        assert np.all(blur_values < noise_values)
    else:
        assert np.all(blur_values > noise_values)


def test_matches_a_numpy_computation_of_the_documented_pooling(encoder, references):
    distorted = _noisy(references, 10.0)
    expected = []
    for reference_map, distorted_map in zip(encoder.predict(references, verbose=0), encoder.predict(distorted, verbose=0)):
        low = reference_map.min(axis=(1, 2, 3), keepdims=True)
        span = reference_map.max(axis=(1, 2, 3), keepdims=True) - low
        expected.append((((reference_map - low) / span - (distorted_map - low) / span) ** 2).mean(axis=(1, 2, 3)))
    values = deep_feature_metric(references, distorted, "mse", encoder=encoder)
    np.testing.assert_allclose(values, np.mean(expected, axis=0), rtol=1e-4)


def test_layers_selects_scales_and_the_result_is_their_mean(encoder, references):
    distorted = _noisy(references, 10.0)
    per_layer = [np.asarray(deep_feature_metric(references, distorted, "mae", encoder=encoder, layers=[i])) for i in range(4)]
    assert len({float(values[0]) for values in per_layer}) == 4
    np.testing.assert_allclose(
        deep_feature_metric(references, distorted, "mae", encoder=encoder, layers=(1, 3)),
        (per_layer[1] + per_layer[3]) / 2,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        deep_feature_metric(references, distorted, "mae", encoder=encoder), np.mean(per_layer, axis=0), rtol=1e-5
    )


def test_batch_and_single_images(encoder, references):
    distorted = _noisy(references, 10.0)
    batch = deep_feature_metric(references, distorted, "psnr", encoder=encoder)
    singles = [deep_feature_metric(r, d, "psnr", encoder=encoder) for r, d in zip(references, distorted)]
    assert tuple(batch.shape) == (2,)
    assert all(tuple(single.shape) == () for single in singles)
    np.testing.assert_allclose(batch, singles, rtol=1e-5)


def test_dtype_follows_the_metrics_convention(encoder, references):
    assert deep_feature_metric(references.astype("uint8"), references.astype("uint8"), encoder=encoder).dtype == "float32"
    assert deep_feature_metric(references.astype("float16"), references.astype("float16"), encoder=encoder).dtype == "float16"


def test_mixed_precision_encoder():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        encoder = build_encoder("small")
    finally:
        keras.config.set_dtype_policy(previous)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    assert encoder(images)[0].dtype == "float16"
    values = deep_feature_metric(images, _noisy(images, 20.0), "mse", encoder=encoder)
    assert values.dtype == "float32"
    assert np.all(np.isfinite(values)) and np.all(np.asarray(values) > 0)


def test_window_metric_on_too_small_maps_names_the_layer(encoder, references):
    with pytest.raises(ValueError, match=r"Metric 'ssim' cannot compare the feature maps of layer 2 \(8x8 pixels\)"):
        deep_feature_metric(references, references, "ssim", encoder=encoder)


def test_unknown_metric(encoder, references):
    with pytest.raises(ValueError, match="Unknown metric 'lpips'"):
        deep_feature_metric(references, references, "lpips", encoder=encoder)


@pytest.mark.parametrize("layers", [[4], [], [0, 0], "0", (True,), [-1], 2])
def test_invalid_layers(layers, encoder, references):
    with pytest.raises(ValueError, match=r"`layers` must be None or distinct indices .*Received: layers="):
        deep_feature_metric(references, references, encoder=encoder, layers=layers)


@pytest.mark.parametrize("bad_encoder", ["vgg16", keras.layers.Dense(1)])
def test_invalid_encoder(bad_encoder, references):
    with pytest.raises(ValueError, match=r"`encoder` must be None or a functional keras.Model .*Received: encoder="):
        deep_feature_metric(references, references, encoder=bad_encoder)


def test_images_must_be_rgb(encoder):
    gray = np.zeros((2, 32, 32, 1), "float32")
    with pytest.raises(ValueError, match=r"must be RGB images \(3 channels\). Received: reference.shape=\(2, 32, 32, 1\)"):
        deep_feature_metric(gray, gray, encoder=encoder)


def test_shape_mismatch(encoder, references):
    with pytest.raises(ValueError, match="must have the same shape"):
        deep_feature_metric(references, references[:1], encoder=encoder)


def test_default_encoder_needs_the_cached_imagenet_vgg16(tmp_path, monkeypatch, references):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    deep_features._imagenet_vgg16.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"put vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5 in "):
        deep_feature_metric(references, references)


@pytest.mark.slow
def test_on_jax():
    script = textwrap.dedent(
        """
        import numpy as np
        import keras
        from iqa_keras.metrics.deep_features import deep_feature_metric
        from iqa_keras.models.encoders import build_encoder
        assert keras.backend.backend() == "jax"
        keras.utils.set_random_seed(0)
        encoder = build_encoder("small")
        images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
        print(np.asarray(deep_feature_metric(images, images, "mse", encoder=encoder)).tolist())
        print(np.asarray(deep_feature_metric(images, images * 0.5, "mse", encoder=encoder)).tolist())
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    identical, darker = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert identical == [0.0, 0.0]
    assert all(value > 0.0 for value in darker)
