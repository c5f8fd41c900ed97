"""Tests of iqa_keras.models.hallucinated_iqa.HallucinatedIQA."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from iqa_keras.losses import CombinedLoss, MeanAbsoluteError
from iqa_keras.models import build_encoder
from iqa_keras.models.hallucinated_iqa import HallucinatedIQA
from iqa_keras.models.hallucination_generator import HallucinationGenerator
from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
from iqa_keras.models.patch_discriminator import PatchDiscriminator

ALL_OUTPUTS = ("score", "hallucination", "discrepancy", "quality_map", "attention_map")


def tiny_model(**arguments):
    generator = HallucinationGenerator(filters=8, num_downsamples=2, num_residual_blocks=1)
    parts = {
        "generator": generator,
        "discriminator": PatchDiscriminator(filters=8, num_downsamples=2),
        "regressor": HallucinationGuidedRegressor(generator.feature_channels, filters=8, num_residual_blocks=1),
    }
    return HallucinatedIQA(**{**parts, **arguments})


def synthetic_task(count=16, size=32, seed=0):
    """Smooth random references; distorted = noise of known strength; score = 1 - strength."""
    rng = np.random.default_rng(seed)
    reference = ndimage.gaussian_filter(rng.uniform(0, 255, (count, size, size, 3)), (0, 3, 3, 0))
    reference = 255 * (reference - reference.min()) / (reference.max() - reference.min())
    strength = np.linspace(0.05, 1.0, count)
    rng.shuffle(strength)
    noise = rng.normal(size=reference.shape) * (50 * strength)[:, None, None, None]
    distorted = np.clip(reference + noise, 0, 255)
    inputs = {"distorted": distorted.astype("float32"), "reference": reference.astype("float32")}
    return inputs, (1 - strength)[:, None].astype("float32")


def weights_of(model):
    return [np.array(w) for w in model.weights]


def changed(before, model):
    return any(not np.array_equal(b, np.asarray(a)) for b, a in zip(before, model.weights))


def test_inference_needs_only_the_distorted_image():
    model = tiny_model(output_keys=ALL_OUTPUTS)
    distorted = synthetic_task(2, size=36)[0]["distorted"][:, :, :36]
    distorted = np.concatenate([distorted, distorted[:, :, :8]], axis=2)  # 36 x 44
    outputs = model.predict({"distorted": distorted}, verbose=0)
    assert outputs["score"].shape == (2, 1)
    assert outputs["hallucination"].shape == outputs["discrepancy"].shape == (2, 36, 44, 3)
    assert outputs["quality_map"].shape == outputs["attention_map"].shape == (2, 36, 44, 1)
    np.testing.assert_allclose(outputs["discrepancy"], np.abs(distorted - outputs["hallucination"]), atol=1e-3)
    for value in outputs.values():
        assert value.dtype == np.float32
    assert tuple(tiny_model()({"distorted": distorted}).shape) == (2, 1)


def test_feature_resolution_maps_pool_into_the_score():
    model = tiny_model(output_keys=("score", "quality_map", "attention_map"), map_resolution="feature")
    outputs = {k: np.asarray(v, "float64") for k, v in model({"distorted": synthetic_task(2)[0]["distorted"]}).items()}
    assert outputs["quality_map"].shape == (2, 8, 8, 1)
    quality, weights = outputs["quality_map"], outputs["attention_map"]
    pooled = (quality * weights).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    np.testing.assert_allclose(outputs["score"], pooled, rtol=1e-5, atol=1e-6)


def test_one_train_step_updates_all_three_parts():
    model = tiny_model()
    model.compile(run_eagerly=True)
    inputs, scores = synthetic_task(4)
    before = {part: weights_of(getattr(model, part)) for part in ("generator", "discriminator", "regressor")}
    logs = model.train_on_batch(inputs, scores, return_dict=True)
    for part, weights in before.items():
        assert changed(weights, getattr(model, part)), part
    assert {"generator_l1", "generator_perceptual", "generator_adversarial", "discriminator_loss"} <= set(logs)
    assert all(np.isfinite(value) for value in logs.values())


@pytest.mark.parametrize("freeze", ["generator_not_trainable", "batch_without_reference"])
def test_only_the_regressor_learns_with_a_frozen_generator_or_without_reference(freeze):
    model = tiny_model()
    inputs, scores = synthetic_task(4)
    if freeze == "generator_not_trainable":
        model.generator.trainable = False
    else:
        inputs = {"distorted": inputs["distorted"]}
    model.compile(run_eagerly=True)
    before = {part: weights_of(getattr(model, part)) for part in ("generator", "discriminator", "regressor")}
    logs = model.train_on_batch(inputs, scores, return_dict=True)
    assert not changed(before["generator"], model.generator)
    assert not changed(before["discriminator"], model.discriminator)
    assert changed(before["regressor"], model.regressor)
    assert set(logs) == {"regressor_loss", "srcc", "plcc"}


def test_for_no_reference_data_copies_the_weights_and_freezes_the_generator():
    pretrained = tiny_model(output_keys=("score", "hallucination"))
    model = HallucinatedIQA.for_no_reference_data(pretrained)
    distorted = {"distorted": synthetic_task(2)[0]["distorted"]}
    for key in ("score", "hallucination"):
        np.testing.assert_allclose(model(distorted)[key], pretrained(distorted)[key], rtol=1e-6, atol=1e-6)
    assert model.generator is not pretrained.generator
    assert not model.generator.trainable and not model.discriminator.trainable
    fresh = HallucinationGuidedRegressor(pretrained.generator.feature_channels, filters=4)
    assert HallucinatedIQA.for_no_reference_data(pretrained, regressor=fresh).regressor is fresh


def test_quality_aware_discriminator_counts_accurate_hallucinations_as_real():
    model = tiny_model()
    model.discriminator.trainable = False  # inference-mode calls: no spectral-norm update
    inputs, scores = synthetic_task(4)
    distorted, reference = (keras.ops.convert_to_tensor(inputs[key]) for key in ("distorted", "reference"))
    generated = model.generator(distorted)
    logits = model.discriminator(
        {"image": np.concatenate([reference, generated["hallucination"]]), "distorted": np.concatenate([distorted] * 2)}
    )["logits"]
    real, fake = np.asarray(logits[:4]), np.asarray(logits[4:])
    predicted = model._regress(distorted, generated, training=False)
    losses = {}
    for quality_aware, threshold in ((False, 0.1), (True, 2.0)):  # 2.0: every prediction is accurate
        model.compile(quality_aware=quality_aware, quality_threshold=threshold)
        gan_losses = model._gan_losses(distorted, reference, generated, predicted, scores)
        losses[quality_aware] = float(gan_losses["discriminator_loss"])
    np.testing.assert_allclose(losses[False], np.mean(np.maximum(0, 1 - np.concatenate([real, -fake]))), rtol=1e-5)
    np.testing.assert_allclose(losses[True], np.mean(np.maximum(0, 1 - np.concatenate([real, fake]))), rtol=1e-5)


def test_keras_round_trip_keeps_outputs_and_compile_settings(tmp_path):
    model = tiny_model(output_keys=ALL_OUTPUTS, map_resolution="feature")
    model.compile(
        regressor_loss=MeanAbsoluteError(),
        loss_weights={"adversarial": 0.05},
        adversarial_loss="non_saturating",
        quality_aware=True,
        quality_threshold=0.2,
        run_eagerly=True,
    )
    inputs, scores = synthetic_task(4)
    model.train_on_batch(inputs, scores)
    expected = model.predict({"distorted": inputs["distorted"]}, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is HallucinatedIQA
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())
    restored = loaded.predict({"distorted": inputs["distorted"]}, verbose=0)
    for key in ALL_OUTPUTS:
        np.testing.assert_allclose(restored[key], expected[key], rtol=1e-5, atol=1e-5)
    assert loaded.quality_aware and loaded.quality_threshold == 0.2
    assert loaded.adversarial_loss == "non_saturating" and loaded.loss_weights["adversarial"] == 0.05
    assert isinstance(loaded.regressor_loss, MeanAbsoluteError)
    assert int(loaded.generator_optimizer.iterations) == 1
    assert isinstance(loaded.optimizer, keras.optimizers.AdamW)


def test_a_perceptual_encoder_is_frozen_and_saved(tmp_path):
    encoder = build_encoder("small", filters=(4, 4, 4, 4))
    model = tiny_model(perceptual_encoder=encoder)
    assert not encoder.trainable
    model.compile(run_eagerly=True)
    before = weights_of(encoder)
    logs = model.train_on_batch(*synthetic_task(4), return_dict=True)
    assert np.isfinite(logs["generator_perceptual"]) and logs["generator_perceptual"] > 0
    assert not changed(before, encoder)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.perceptual_encoder.name == "encoder_small"


@pytest.mark.slow
def test_fit_on_synthetic_pairs_lowers_generator_and_regressor_errors():
    keras.utils.set_random_seed(0)
    inputs, scores = synthetic_task(16)
    model = tiny_model()
    model.compile(
        generator_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        regressor_optimizer=keras.optimizers.AdamW(1e-3),
    )
    dataset = tf.data.Dataset.from_tensor_slices((inputs, scores)).batch(4)
    history = model.fit(dataset, epochs=15, verbose=0).history
    assert history["generator_l1"][-1] < 0.8 * history["generator_l1"][0]
    assert history["regressor_loss"][-1] < 0.8 * history["regressor_loss"][0]
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    assert {"regressor_loss", "generator_l1", "srcc", "plcc"} == set(logs)
    assert logs["srcc"] > 0.5


@pytest.mark.slow
def test_mixed_bfloat16_training_keeps_float32_outputs(mixed_bfloat16):
    model = tiny_model(output_keys=ALL_OUTPUTS)
    assert model.generator.get_layer("encoder_0_convolution").compute_dtype == "bfloat16"
    model.compile(run_eagerly=True)
    inputs, scores = synthetic_task(8)
    history = model.fit(inputs, scores, batch_size=4, epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    for value in model({"distorted": inputs["distorted"]}).values():
        assert keras.backend.standardize_dtype(value.dtype) == "float32"


@pytest.mark.slow
def test_jax_backend_runs_inference_and_refuses_to_train(tmp_path):
    model = tiny_model(output_keys=("score", "hallucination"))
    inputs, scores = synthetic_task(2)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "distorted.npy", inputs["distorted"])
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import iqa_keras.models.hallucinated_iqa
        assert keras.backend.backend() == "jax"
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r})
        distorted = np.load({str(tmp_path / "distorted.npy")!r})
        np.save({str(tmp_path / "score.npy")!r}, model.predict({{"distorted": distorted}}, verbose=0)["score"])
        try:
            model.train_step(None, ({{"distorted": distorted}}, np.ones((2, 1))))
        except NotImplementedError as error:
            print("refused:", error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: HallucinatedIQA trains through model.fit with the TensorFlow backend only" in result.stdout
    assert "fit_hallucinated_iqa" in result.stdout
    expected = model.predict({"distorted": inputs["distorted"]}, verbose=0)["score"]
    np.testing.assert_allclose(np.load(tmp_path / "score.npy"), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"output_keys": ("hallucination",)}, r"output_keys=\('hallucination',\)"),
        ({"output_keys": ("score", "reference")}, "output_keys="),
        ({"map_resolution": "full"}, "map_resolution='full'"),
        ({"discriminator": "patch"}, "discriminator of type str"),
        ({"perceptual_encoder": "vgg16"}, "perceptual_encoder of type str"),
        ({"regressor": HallucinationGuidedRegressor(feature_channels=5, filters=4)}, "feature_channels=5"),
    ],
)
def test_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_model(**arguments)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"adversarial_loss": "wasserstein"}, "adversarial_loss='wasserstein'"),
        ({"loss_weights": {"pixels": 1.0}}, "loss_weights="),
        ({"loss_weights": {"pixel": -1.0}}, "loss_weights="),
        ({"quality_aware": 1}, "quality_aware=1"),
        ({"quality_threshold": 0}, "quality_threshold=0"),
        ({"regressor_loss": 3}, "`regressor_loss` must be a loss, its name or a function. Received: 3"),
        ({"metrics": ["no_such_metric"]}, "`metrics` must hold metrics, their names or functions"),
        ({"loss": "mae", "regressor_loss": "mse"}, "Pass `regressor_loss` or `loss`, not both"),
        ({"optimizer": "adam", "regressor_optimizer": "sgd"}, "Pass `regressor_optimizer` or `optimizer`"),
    ],
)
def test_compile_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_model().compile(**arguments)


def test_compile_takes_a_loss_and_metrics_by_name_as_keras_does(tmp_path):
    inputs, scores = synthetic_task(4)
    model = tiny_model()
    model.compile(regressor_loss="mae", metrics=["mae"])
    history = model.fit(inputs, scores, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["regressor_loss"][0]) and np.isfinite(history["mae"][0])
    model.save(tmp_path / "named.keras")
    restored = keras.saving.load_model(tmp_path / "named.keras")
    assert restored.get_compile_config()["regressor_loss"] == "mae"


def test_compile_takes_keras_names_for_the_regressor_optimizer_and_loss():
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    assert model.optimizer.learning_rate == 0.5 and isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.get_compile_config()["regressor_loss"] == "mse"


def test_compile_defaults():
    model = tiny_model()
    model.compile()
    assert isinstance(model.regressor_loss, CombinedLoss)
    assert model.generator_optimizer.beta_1 == 0.5 and model.discriminator_optimizer.beta_1 == 0.5
    assert [metric.name for metric in model.metrics][-2:] == ["srcc", "plcc"]
