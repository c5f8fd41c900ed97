"""Tests of the parts of HallucinatedIQA: generator, patch discriminator, regressor."""

import json

import keras
import numpy as np
import pytest

from iqa_keras.models.hallucination_generator import HallucinationGenerator
from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
from iqa_keras.models.patch_discriminator import PatchDiscriminator


def images(height, width, batch_size=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch_size, height, width, 3)).astype("float32")


def perturb(model, seed=0):
    """Random weights everywhere (the generator's head starts at zero)."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])


def regressor_inputs(height, width, feature_size, channels=16, seed=0):
    return {
        "distorted": images(height, width, seed=seed),
        "discrepancy": images(height, width, seed=seed + 1) / 10,
        "features": np.random.default_rng(seed).normal(size=(2, *feature_size, channels)).astype("float32"),
    }


def assert_round_trip(model, inputs, tmp_path):
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / "part.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())
    restored = loaded.predict(inputs, verbose=0)
    for actual, wanted in zip(keras.tree.flatten(restored), keras.tree.flatten(expected)):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-5)


# --- HallucinationGenerator -----------------------------------------------------------


@pytest.mark.parametrize("size, feature_size", [((32, 32), (8, 8)), ((36, 44), (9, 11)), ((33, 35), (9, 9))])
def test_generator_keeps_any_size_and_exposes_bottleneck_features(size, feature_size):
    generator = HallucinationGenerator(filters=8, num_downsamples=2, num_residual_blocks=1)
    perturb(generator)
    outputs = generator(images(*size))
    assert tuple(outputs["hallucination"].shape) == (2, *size, 3)
    assert tuple(outputs["features"].shape) == (2, *feature_size, generator.feature_channels)
    assert generator.feature_channels == 32
    hallucination = np.asarray(outputs["hallucination"])
    assert hallucination.min() >= 0.0 and hallucination.max() <= 255.0


def test_generator_starts_as_the_identity_and_clips_to_the_pixel_range():
    generator = HallucinationGenerator(filters=8, num_residual_blocks=1)
    distorted = images(32, 32)
    np.testing.assert_allclose(generator(distorted)["hallucination"], distorted, atol=1e-4)
    head = generator.get_layer("correction")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.full((3,), 1.0, "float32")])
    # +255 everywhere: every pixel saturates at 255.
    np.testing.assert_allclose(generator(distorted)["hallucination"], 255.0)


def test_generator_clipping_passes_gradients_straight_through():
    import tensorflow as tf

    generator = HallucinationGenerator(filters=8, num_downsamples=1, num_residual_blocks=0)
    head = generator.get_layer("correction")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.full((3,), 1.0, "float32")])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(generator(images(16, 16))["hallucination"])
    gradient = tape.gradient(loss, head.bias)
    assert np.all(np.asarray(gradient) > 0)  # clipped values, yet the bias still learns


def test_generator_round_trip(tmp_path):
    generator = HallucinationGenerator(filters=8, num_downsamples=1, num_residual_blocks=2, name="g")
    perturb(generator)
    assert_round_trip(generator, images(36, 44), tmp_path)
    assert set(generator.get_config()) == {
        "name", "trainable", "dtype", "filters", "num_downsamples", "num_residual_blocks"
    }  # fmt: skip


def test_generator_outputs_float32_under_mixed_bfloat16(mixed_bfloat16):
    generator = HallucinationGenerator(filters=8, num_residual_blocks=1)
    assert generator.get_layer("encoder_0_convolution").compute_dtype == "bfloat16"
    outputs = generator(images(32, 32))
    for value in outputs.values():
        assert keras.backend.standardize_dtype(value.dtype) == "float32"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"filters": 0}, "filters=0"),
        ({"num_downsamples": -1}, "num_downsamples=-1"),
        ({"num_residual_blocks": 1.5}, "num_residual_blocks=1.5"),
    ],
)
def test_generator_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        HallucinationGenerator(**arguments)


# --- PatchDiscriminator ---------------------------------------------------------------


@pytest.mark.parametrize("conditional", [True, False])
def test_discriminator_gives_float32_patch_logits_of_any_size(conditional):
    discriminator = PatchDiscriminator(filters=8, num_downsamples=2, conditional=conditional)
    inputs = {"image": images(36, 44)}
    if conditional:
        inputs["distorted"] = images(36, 44, seed=1)
    assert sorted(discriminator.input) == sorted(inputs)
    outputs = discriminator(inputs)
    assert tuple(outputs["logits"].shape) == (2, 9, 11, 1)
    assert keras.backend.standardize_dtype(outputs["logits"].dtype) == "float32"
    assert [f.shape[-1] for f in outputs["features"]] == [8, 16, 32]


def test_conditional_discriminator_looks_at_the_distorted_image():
    discriminator = PatchDiscriminator(filters=8, num_downsamples=2)
    image = images(32, 32)
    first = discriminator({"image": image, "distorted": images(32, 32, seed=1)})["logits"]
    second = discriminator({"image": image, "distorted": images(32, 32, seed=2)})["logits"]
    assert not np.allclose(first, second)


def test_discriminator_is_spectrally_normalised():
    keras.utils.set_random_seed(0)  # how fast the power iteration converges depends on its start
    discriminator = PatchDiscriminator(filters=8, num_downsamples=2)
    wrappers = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrappers) == 4
    # A training call divides each kernel by its largest singular value (power iteration).
    inputs = {"image": images(32, 32), "distorted": images(32, 32, seed=1)}
    for _ in range(50):
        discriminator(inputs, training=True)
    kernel = np.asarray(wrappers[1].kernel).reshape(-1, wrappers[1].kernel.shape[-1])
    assert np.linalg.norm(kernel, 2) == pytest.approx(1.0, rel=0.02)


def test_discriminator_round_trip(tmp_path):
    discriminator = PatchDiscriminator(filters=8, num_downsamples=2, conditional=False)
    assert_round_trip(discriminator, {"image": images(32, 40)}, tmp_path)
    assert set(discriminator.get_config()) == {
        "name", "trainable", "dtype", "filters", "num_downsamples", "conditional"
    }  # fmt: skip


def test_discriminator_logits_are_float32_under_mixed_bfloat16(mixed_bfloat16):
    discriminator = PatchDiscriminator(filters=8, num_downsamples=2)
    logits = discriminator({"image": images(32, 32), "distorted": images(32, 32)})["logits"]
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"filters": -8}, "filters=-8"),
        ({"num_downsamples": 0}, "num_downsamples=0"),
        ({"conditional": "yes"}, "conditional='yes'"),
    ],
)
def test_discriminator_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        PatchDiscriminator(**arguments)


# --- HallucinationGuidedRegressor -----------------------------------------------------


@pytest.mark.parametrize("size, map_size", [((32, 32), (8, 8)), ((36, 44), (9, 11))])
def test_regressor_score_is_the_attention_weighted_mean_of_its_quality_map(size, map_size):
    regressor = HallucinationGuidedRegressor(feature_channels=16, filters=8, num_residual_blocks=1)
    outputs = regressor(regressor_inputs(*size, feature_size=(5, 7)))
    outputs = {key: np.asarray(value, "float64") for key, value in outputs.items()}
    assert outputs["score"].shape == (2, 1)
    assert outputs["quality_map"].shape == outputs["attention_map"].shape == (2, *map_size, 1)
    quality, weights = outputs["quality_map"], outputs["attention_map"]
    pooled = (quality * weights).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    np.testing.assert_allclose(outputs["score"], pooled, rtol=1e-5, atol=1e-6)


def test_regressor_uses_the_discrepancy_and_the_features():
    regressor = HallucinationGuidedRegressor(feature_channels=16, filters=8)
    inputs = regressor_inputs(32, 32, feature_size=(8, 8))
    score = np.asarray(regressor(inputs)["score"])
    for key in ("discrepancy", "features"):
        changed = {**inputs, key: inputs[key] * 2 + 1}
        assert not np.allclose(regressor(changed)["score"], score, atol=1e-6), key


def test_regressor_round_trip(tmp_path):
    regressor = HallucinationGuidedRegressor(
        feature_channels=16, filters=8, num_downsamples=1, attention_reduction=2, dropout=0.1
    )
    assert_round_trip(regressor, regressor_inputs(36, 44, feature_size=(9, 11)), tmp_path)
    assert set(regressor.get_config()) == {
        "name", "trainable", "dtype", "feature_channels", "filters", "num_downsamples",
        "num_residual_blocks", "attention_reduction", "dropout", "normalize_features",
    }  # fmt: skip


def test_regressor_is_blind_to_the_scale_of_the_generator_features():
    """Adversarial training lets the generator's features drift to thousands; the
    regressor normalises them, so its score does not move with their scale."""
    regressor = HallucinationGuidedRegressor(feature_channels=16, filters=8)
    inputs = regressor_inputs(32, 32, feature_size=(8, 8))
    scaled = {**inputs, "features": inputs["features"] * 1000.0}
    np.testing.assert_allclose(regressor(scaled)["score"], regressor(inputs)["score"], rtol=2e-3)
    plain = HallucinationGuidedRegressor(feature_channels=16, filters=8, normalize_features=False)
    assert not np.allclose(plain(scaled)["score"], plain(inputs)["score"], rtol=2e-3)


def test_regressor_configs_saved_before_feature_normalisation_load_without_it():
    config = HallucinationGuidedRegressor(feature_channels=16, filters=8).get_config()
    del config["normalize_features"]
    assert HallucinationGuidedRegressor.from_config(config).normalize_features is False


def test_regressor_outputs_float32_under_mixed_bfloat16(mixed_bfloat16):
    regressor = HallucinationGuidedRegressor(feature_channels=16, filters=8)
    outputs = regressor(regressor_inputs(32, 32, feature_size=(8, 8)))
    for value in outputs.values():
        assert keras.backend.standardize_dtype(value.dtype) == "float32"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"feature_channels": 0}, "feature_channels=0"),
        ({"filters": "8"}, "filters='8'"),
        ({"num_downsamples": -1}, "num_downsamples=-1"),
        ({"num_residual_blocks": True}, "num_residual_blocks=True"),
        ({"attention_reduction": 0}, "attention_reduction=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_regressor_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        HallucinationGuidedRegressor(**{"feature_channels": 16, **arguments})
