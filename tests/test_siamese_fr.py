"""Tests of iqa_keras.models.SiameseDifferenceIQA."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from iqa_keras.evaluation import srcc
from iqa_keras.losses import CombinedLoss
from iqa_keras.models import SiameseDifferenceIQA, build_encoder

TINY = {"encoder_options": {"filters": (8, 8, 8, 8)}, "fusion_filters": 8, "num_residual_blocks": 1}
MAPS = ("score", "quality_map", "attention_map")


def tiny_model(**arguments):
    return SiameseDifferenceIQA(**{**TINY, **arguments})


def pairs(height, width, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    reference = rng.uniform(0, 255, (batch_size, height, width, 3)).astype("float32")
    distorted = np.clip(reference + rng.normal(0, 20, reference.shape), 0, 255).astype("float32")
    return {"reference": reference, "distorted": distorted}


def noise_task(count, seed):
    """Pairs whose distorted image has Gaussian noise of known strength; score = 1 - strength."""
    rng = np.random.default_rng(seed)
    reference = rng.uniform(0, 255, (count, 32, 32, 3)).astype("float32")
    strength = rng.uniform(0, 1, count).astype("float32")
    noise = rng.normal(size=reference.shape) * (60 * strength)[:, None, None, None]
    distorted = np.clip(reference + noise, 0, 255).astype("float32")
    return {"reference": reference, "distorted": distorted}, (1 - strength)[:, None]


def test_score_only_model_returns_a_float32_score_tensor():
    model = tiny_model()
    score = model(pairs(32, 32))
    assert tuple(score.shape) == (2, 1)
    assert keras.backend.standardize_dtype(score.dtype) == "float32"
    assert model.get_layer("encoder_small").name == "encoder_small"


@pytest.mark.parametrize("size", [(64, 64), (96, 128), (70, 90)])
def test_any_input_size_gives_maps_of_the_input_size(size):
    model = tiny_model(output_keys=MAPS)
    outputs = model(pairs(*size))
    assert tuple(outputs["score"].shape) == (2, 1)
    assert tuple(outputs["quality_map"].shape) == (2, *size, 1)
    assert tuple(outputs["attention_map"].shape) == (2, *size, 1)
    attention = np.asarray(outputs["attention_map"])
    assert np.all((attention > 0) & (attention < 1))


@pytest.mark.parametrize("size", [(64, 64), (70, 90)])
def test_score_is_the_attention_weighted_mean_of_the_feature_quality_map(size):
    model = tiny_model(output_keys=MAPS, map_resolution="feature")
    outputs = {key: np.asarray(value, "float64") for key, value in model(pairs(*size)).items()}
    # The small encoder's finest scale has stride 2 ("same" padding: ceil).
    feature_size = tuple(-(-side // 2) for side in size)
    assert outputs["quality_map"].shape == (2, *feature_size, 1)
    quality, weights = outputs["quality_map"], outputs["attention_map"]
    pooled = (quality * weights).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    np.testing.assert_allclose(outputs["score"], pooled, rtol=1e-5, atol=1e-6)


def test_identical_images_score_the_same_whatever_their_content():
    model = tiny_model(output_keys=MAPS)
    images = pairs(48, 40, batch_size=3)["reference"]
    images[2] = 0.0  # content as different as can be: noise, noise, black
    identical = model({"reference": images, "distorted": images})
    for key in MAPS:
        values = np.asarray(identical[key])
        np.testing.assert_allclose(values, values[[0, 0, 0]], rtol=1e-6, atol=1e-6)
    different = model({"reference": images, "distorted": images[[1, 2, 0]]})
    assert not np.allclose(different["score"], identical["score"], atol=1e-4)


def test_swapping_reference_and_distorted_changes_nothing():
    model = tiny_model()
    inputs = pairs(32, 48)
    swapped = {"reference": inputs["distorted"], "distorted": inputs["reference"]}
    np.testing.assert_allclose(model(swapped), model(inputs), rtol=1e-6, atol=1e-6)


def test_one_reference_pairs_with_every_distorted_image():
    model = tiny_model()
    inputs = pairs(32, 40, batch_size=3)
    one_reference = {"reference": inputs["reference"][:1], "distorted": inputs["distorted"]}
    repeated = {"reference": np.repeat(inputs["reference"][:1], 3, axis=0), "distorted": inputs["distorted"]}
    np.testing.assert_allclose(model(one_reference), model(repeated), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reference_shape, distorted_shape", [((2, 32, 32), (3, 32, 32)), ((3, 32, 32), (1, 32, 32))])
def test_batches_that_do_not_pair_fail_instead_of_scoring_other_pairs(reference_shape, distorted_shape):
    # The encoder sees both batches stacked; unequal batches once split into wrong pairs.
    model = tiny_model()
    reference = pairs(*reference_shape[1:], batch_size=reference_shape[0])["reference"]
    distorted = pairs(*distorted_shape[1:], batch_size=distorted_shape[0])["distorted"]
    with pytest.raises(ValueError, match=r"Received: reference of shape \(\d, 32, 32, 3\), distorted of shape"):
        model({"reference": reference, "distorted": distorted})
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    serve = tf.function(model, input_signature=[{"reference": spec, "distorted": spec}])
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve({"reference": reference, "distorted": distorted})


def test_training_sees_a_brightness_change_as_inference_does():
    # The encoder normalises the pair's batch as one: with statistics per image, a darker
    # copy would be normalised into the reference in training (0.004 vs 0.013 below).
    keras.utils.set_random_seed(0)
    model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0, output_keys=("score", "quality_map"),
                                 map_resolution="feature")
    reference = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    change = {}
    for training in (False, True):
        same = model({"reference": reference, "distorted": reference}, training=training)["quality_map"]
        darker = model({"reference": reference, "distorted": 0.5 * reference}, training=training)["quality_map"]
        change[training] = float(np.mean(np.abs(np.asarray(darker) - np.asarray(same))))
    assert change[True] > change[False] > 0


def test_scores_whole_images_of_sizes_unknown_until_run_time():
    model = tiny_model(output_keys=("score", "quality_map"))
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    serve = tf.function(model, input_signature=[{"reference": spec, "distorted": spec}])
    for size in ((32, 32), (35, 47)):
        inputs = pairs(*size, batch_size=1)
        traced = serve(inputs)
        assert tuple(traced["quality_map"].shape) == (1, *size, 1)
        np.testing.assert_allclose(traced["score"], model(inputs)["score"], rtol=1e-5)


def test_keras_round_trip_with_maps_and_compile(tmp_path):
    model = tiny_model(output_keys=MAPS, dropout=0.1, attention_reduction=2)
    model.compile()
    inputs = pairs(40, 56)
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is SiameseDifferenceIQA
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())
    restored = loaded.predict(inputs, verbose=0)
    for key in MAPS:
        np.testing.assert_allclose(restored[key], expected[key], rtol=1e-6, atol=1e-6)
    assert isinstance(loaded.loss["score"], CombinedLoss)
    assert isinstance(loaded.optimizer, keras.optimizers.AdamW)


def test_config_holds_exactly_the_constructor_arguments():
    model = tiny_model(num_distortion_types=4, output_keys=("score", "distortion_type"))
    config = model.get_config()
    assert set(config) == {
        "name", "trainable", "dtype", "encoder", "encoder_weights", "encoder_options",
        "fusion_filters", "num_residual_blocks", "attention_reduction", "dropout",
        "output_keys", "num_distortion_types", "map_resolution",
    }  # fmt: skip
    rebuilt = SiameseDifferenceIQA.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == model.count_params()


def test_encoder_weights_are_used_but_not_stored_in_the_config(tmp_path):
    encoder = build_encoder("small", filters=(8, 8, 8, 8))
    path = str(tmp_path / "encoder.weights.h5")
    encoder.save_weights(path)
    model = tiny_model(encoder_weights=path)
    for loaded, saved in zip(model.get_layer("encoder_small").get_weights(), encoder.get_weights()):
        np.testing.assert_array_equal(loaded, saved)
    assert model.encoder_weights == path
    assert model.get_config()["encoder_weights"] is None


def test_with_outputs_copies_the_weights():
    model = tiny_model()
    inputs = pairs(32, 32)
    maps = model.with_outputs(MAPS, map_resolution="feature")
    outputs = maps(inputs)
    np.testing.assert_allclose(outputs["score"], model(inputs), rtol=1e-6)
    assert tuple(outputs["quality_map"].shape) == (2, 16, 16, 1)


def test_with_outputs_keeps_the_distortion_type_head():
    model = tiny_model(output_keys=("score", "distortion_type"), num_distortion_types=5)
    inputs = pairs(32, 32)
    maps = model.with_outputs(("score", "quality_map"))
    outputs = maps(inputs)
    assert set(outputs) == {"score", "quality_map", "distortion_type"}
    np.testing.assert_allclose(outputs["distortion_type"], model(inputs)["distortion_type"], rtol=1e-6)


def test_distortion_type_head_gives_float32_logits():
    model = tiny_model(num_distortion_types=5, output_keys=("score", "distortion_type"))
    outputs = model(pairs(32, 32))
    assert tuple(outputs["distortion_type"].shape) == (2, 5)
    assert keras.backend.standardize_dtype(outputs["distortion_type"].dtype) == "float32"


@pytest.mark.slow
def test_fit_learns_noise_strength():
    keras.utils.set_random_seed(0)
    inputs, scores = noise_task(64, seed=0)
    held_out_inputs, held_out_scores = noise_task(32, seed=1)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-3))
    history = model.fit(inputs, scores, batch_size=8, epochs=10, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert "srcc" in history and "plcc" in history
    predictions = model.predict(held_out_inputs, verbose=0)
    assert srcc(predictions[:, 0], held_out_scores[:, 0]) > 0.7


@pytest.mark.slow
def test_fit_with_map_outputs_on_pipeline_batches_and_multitask_targets():
    inputs, scores = noise_task(8, seed=2)
    # Maps as outputs: the pipeline's (inputs, score) batches train the score alone,
    # without metrics (Keras 3.15's compiled metrics would want targets for the maps).
    model = tiny_model(output_keys=MAPS)
    model.compile()
    dataset = tf.data.Dataset.from_tensor_slices((inputs, scores)).batch(4)
    history = model.fit(dataset, epochs=1, verbose=0).history
    assert set(history) == {"loss"} and np.isfinite(history["loss"][0])
    # Multi-task: a target per output, with the default losses and metrics of both.
    model = tiny_model(output_keys=("score", "distortion_type"), num_distortion_types=3)
    model.compile()
    targets = {"score": scores, "distortion_type": np.arange(8) % 3}
    history = model.fit(inputs, targets, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert {
        "score_loss",
        "distortion_type_loss",
        "score_srcc",
        "score_plcc",
        "distortion_type_sparse_categorical_accuracy",
    } <= set(history)


@pytest.mark.slow
def test_mixed_bfloat16_fit_keeps_float32_outputs(mixed_bfloat16):
    inputs, scores = noise_task(8, seed=3)
    model = tiny_model(output_keys=MAPS)
    assert model.get_layer("difference_fusion").compute_dtype == "bfloat16"
    model.compile()
    history = model.fit(inputs, {"score": scores}, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    outputs = model(inputs)
    for key in MAPS:
        assert keras.backend.standardize_dtype(outputs[key].dtype) == "float32"


@pytest.mark.slow
def test_jax_backend_gives_the_same_outputs(tmp_path):
    model = tiny_model(output_keys=MAPS)
    inputs = pairs(35, 41)
    model.save_weights(tmp_path / "model.weights.h5")
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent(
        f"""
        import json, numpy as np, keras
        from iqa_keras.models import SiameseDifferenceIQA
        assert keras.backend.backend() == "jax"
        model = SiameseDifferenceIQA(**json.loads({json.dumps(json.dumps(TINY))}),
                                     output_keys={MAPS!r})
        model.load_weights({str(tmp_path / "model.weights.h5")!r})
        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        outputs = model.predict(inputs, verbose=0)
        np.savez({str(tmp_path / "outputs.npz")!r}, **outputs)
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
    jax_outputs = np.load(tmp_path / "outputs.npz")
    tf_outputs = model.predict(inputs, verbose=0)
    for key in MAPS:
        np.testing.assert_allclose(jax_outputs[key], tf_outputs[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"encoder": "vgg19"}, "encoder='vgg19'"),
        ({"encoder_options": [8, 8]}, r"encoder_options=\[8, 8\]"),
        ({"fusion_filters": 0}, "fusion_filters=0"),
        ({"num_residual_blocks": -1}, "num_residual_blocks=-1"),
        ({"attention_reduction": 1.5}, "attention_reduction=1.5"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"dropout": float("nan")}, "dropout=nan"),
        ({"output_keys": ("quality_map",)}, r"output_keys=\('quality_map',\)"),
        ({"output_keys": "score"}, "output_keys='score'"),
        ({"output_keys": ("score", "score")}, "output_keys="),
        ({"output_keys": ("score", "mask")}, "output_keys="),
        ({"num_distortion_types": -2}, "num_distortion_types=-2"),
        ({"num_distortion_types": 25}, "num_distortion_types=25"),
        ({"output_keys": ("score", "distortion_type")}, "num_distortion_types=0"),
        ({"map_resolution": "full"}, "map_resolution='full'"),
    ],
)
def test_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        SiameseDifferenceIQA(**arguments)
