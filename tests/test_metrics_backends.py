"""The metrics run inside tf.data, inside a Keras model and on the JAX backend."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras
from iqa_keras import metrics

ALL = [info.name for info in metrics.available()]


@pytest.fixture(scope="module")
def batch(photos):
    references = np.stack([image[:176, :176] for image in photos[:2]])
    distorted = np.clip(references + np.random.default_rng(0).normal(0, 12, references.shape), 0, 255)
    return references, distorted.astype(np.float32)


@pytest.mark.parametrize("name", ALL)
def test_metrics_run_inside_tf_data_map(name, batch):
    function = metrics.get(name).function
    dataset = tf.data.Dataset.from_tensor_slices(batch).map(lambda r, d: function(r, d))
    np.testing.assert_allclose(list(dataset.as_numpy_iterator()), np.asarray(function(*batch)), rtol=1e-6)


def test_metrics_run_on_tf_data_batches_with_unknown_batch_size(batch):
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(2).map(lambda r, d: metrics.ms_ssim(r, d))
    np.testing.assert_allclose(next(dataset.as_numpy_iterator()), np.asarray(metrics.ms_ssim(*batch)), rtol=1e-6)


def test_metrics_run_inside_a_functional_keras_model(batch):
    reference, distorted = keras.Input((176, 176, 3)), keras.Input((176, 176, 3))
    outputs = {name: metrics.get(name).function(reference, distorted) for name in ("psnr", "ssim", "ms_ssim")}
    model = keras.Model([reference, distorted], outputs)
    predicted = model.predict(list(batch), verbose=0)
    for name, values in predicted.items():
        np.testing.assert_allclose(values, np.asarray(metrics.get(name).function(*batch)), rtol=1e-5)


JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
from iqa_keras import metrics
assert keras.backend.backend() == "jax", keras.backend.backend()
arrays = np.load(sys.argv[1])
values = {info.name: np.asarray(info.function(arrays["reference"], arrays["distorted"])).tolist()
          for info in metrics.available()}
values["ssim_downsample"] = np.asarray(
    metrics.ssim(arrays["large"], arrays["large"][::-1], downsample=True)).tolist()
print(json.dumps(values))
"""


def test_the_jax_backend_gives_the_tensorflow_values(batch, photo, tmp_path):
    path = tmp_path / "pair.npz"
    large = np.concatenate([photo, photo[:, ::-1]], axis=1)[:400]  # 400x1024: downsampling factor 2
    np.savez(path, reference=batch[0], distorted=batch[1], large=large)
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(path)], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    jax_values = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ALL:
        np.testing.assert_allclose(jax_values[name], np.asarray(metrics.get(name).function(*batch)), atol=1e-4, err_msg=name)
    expected = float(metrics.ssim(large, large[::-1], downsample=True))
    assert jax_values["ssim_downsample"] == pytest.approx(expected, abs=1e-4)
