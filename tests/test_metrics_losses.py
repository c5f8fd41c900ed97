"""SSIMLoss and MSSSIMLoss: values, gradients, training, serialization."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from iqa_keras import metrics
from iqa_keras.metrics import MSSSIMLoss, SSIMLoss

CASES = [(SSIMLoss, metrics.ssim, 32), (MSSSIMLoss, metrics.ms_ssim, 176)]


def pair(photos, size):
    references = np.stack([image[:size, :size] for image in photos[:2]])
    distorted = np.clip(references + np.random.default_rng(0).normal(0, 15, references.shape), 0, 255)
    return references, distorted.astype(np.float32)


@pytest.mark.parametrize("loss_class, metric, size", CASES)
def test_loss_is_one_minus_the_metric_averaged_over_the_batch(loss_class, metric, size, photos):
    references, distorted = pair(photos, size)
    loss = loss_class(data_range=255.0, color="y")
    expected = 1.0 - np.mean(np.asarray(metric(references, distorted, color="y")))
    assert float(loss(references, distorted)) == pytest.approx(expected, rel=1e-6)
    assert float(loss(references, references)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss_class, metric, size", CASES)
def test_loss_has_a_finite_nonzero_gradient(loss_class, metric, size, photos):
    references, distorted = pair(photos, size)
    prediction = tf.Variable(distorted)
    with tf.GradientTape() as tape:
        value = loss_class()(references, prediction)
    gradient = tape.gradient(value, prediction).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0


def test_ms_ssim_loss_gradient_is_finite_where_a_scale_is_anticorrelated(photos):
    # An inverted image: negative contrast-structure terms, clipped to 0 (as an untrained
    # network's output meets them); their scales pass no gradient, the rest stays finite.
    references, _ = pair(photos, 176)
    prediction = tf.Variable(255.0 - references)
    with tf.GradientTape() as tape:
        value = MSSSIMLoss()(references, prediction)
    gradient = tape.gradient(value, prediction).numpy()
    assert float(value) == pytest.approx(1.0) and np.all(np.isfinite(gradient))


@pytest.mark.parametrize("loss_class", [SSIMLoss, MSSSIMLoss])
def test_config_round_trip_keeps_every_argument(loss_class):
    loss = loss_class(data_range=1.0, color="gray", reduction="sum", name="quality")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is loss_class
    assert (restored.data_range, restored.color, restored.reduction, restored.name) == (1.0, "gray", "sum", "quality")


def test_invalid_arguments_are_refused_at_construction():
    with pytest.raises(ValueError, match="`color` must be one of"):
        SSIMLoss(color="lab")
    with pytest.raises(ValueError, match="`data_range` must be a finite positive number"):
        MSSSIMLoss(data_range=-1.0)


def test_a_model_trains_with_ssim_loss_and_survives_a_keras_save(tmp_path):
    rng = np.random.default_rng(0)
    targets = rng.uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=SSIMLoss(data_range=1.0))
    history = model.fit(targets, targets, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.loss, SSIMLoss) and restored.loss.data_range == 1.0
    assert float(restored.evaluate(targets, targets, verbose=0)) == pytest.approx(
        float(model.evaluate(targets, targets, verbose=0)), rel=1e-6
    )
