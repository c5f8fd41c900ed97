import io
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from iqa_keras.export import (
    decode_image_batch,
    decode_image_bytes,
    export_onnx,
    export_saved_model,
    load_exported,
    signature_io,
    write_models_config,
)
from iqa_keras.io import read_image

SIZES = ((1, 32, 32), (3, 40, 56))  # (batch, height, width)


def full_reference_model():
    """A tiny FR model: shared conv features, their difference, a map and its mean."""
    reference = keras.Input((None, None, 3), name="reference")
    distorted = keras.Input((None, None, 3), name="distorted")
    rescale = keras.layers.Rescaling(1 / 255)
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    difference = keras.layers.Subtract()([features(rescale(reference)), features(rescale(distorted))])
    quality_map = keras.layers.Conv2D(1, 1, name="quality_map")(difference)
    score = keras.layers.GlobalAveragePooling2D()(quality_map)
    outputs = {"score": score, "quality_map": quality_map}
    return keras.Model({"reference": reference, "distorted": distorted}, outputs)


def no_reference_model(input_name="distorted", as_dict=False):
    image = keras.Input((None, None, 3), name=input_name)
    features = keras.layers.Rescaling(1 / 255)(image)
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(features)
    score = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(features))
    return keras.Model({input_name: image} if as_dict else image, score)


def images(batch, height, width, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, height, width, 3)).astype(np.uint8)


def encode(array, format="PNG", **options):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format, **options)
    return buffer.getvalue()


def as_numpy(outputs):
    return {key: np.asarray(value) for key, value in outputs.items()}


def keras_outputs(model, reference, distorted):
    """The FR Keras model's outputs on two uint8 or float batches, as numpy."""
    inputs = {"reference": reference, "distorted": distorted}
    return as_numpy(model({key: value.astype(np.float32) for key, value in inputs.items()}))


@pytest.fixture(scope="module")
def fr_model():
    return full_reference_model()


@pytest.fixture(scope="module")
def fr_export(fr_model, tmp_path_factory):
    return export_saved_model(fr_model, tmp_path_factory.mktemp("fr"))


def saved_model_cli(*arguments):
    command = [os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), *arguments]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_saved_model_cli_show_lists_both_signatures(fr_export):
    text = saved_model_cli("show", "--dir", fr_export, "--all")
    signatures = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)Method name is", text, re.S))
    outputs = {
        "outputs['score']": ("DT_FLOAT", "(-1)"),
        "outputs['quality_map']": ("DT_FLOAT", "(-1, -1, -1, 1)"),
    }
    expected = {
        "serving_default": {
            "inputs['reference']": ("DT_FLOAT", "(-1, -1, -1, 3)"),
            "inputs['distorted']": ("DT_FLOAT", "(-1, -1, -1, 3)"),
            **outputs,
        },
        "serve_bytes": {
            "inputs['reference_bytes']": ("DT_STRING", "(-1)"),
            "inputs['distorted_bytes']": ("DT_STRING", "(-1)"),
            **outputs,
        },
    }
    tensor_info = r"((?:inputs|outputs)\['\w+'\]) tensor_info:\s+dtype: (\w+)\s+shape: (\S.*)"
    for name, tensors in expected.items():
        found = {key: (dtype, shape) for key, dtype, shape in re.findall(tensor_info, signatures[name])}
        assert found == tensors, name


def test_saved_model_cli_run_gives_the_keras_score(fr_model, fr_export, tmp_path):
    reference = np.full((2, 32, 32, 3), 100.0, np.float32)
    distorted = reference + np.linspace(0, 60, 32, dtype=np.float32)[None, :, None, None]
    np.save(tmp_path / "reference.npy", reference)
    np.save(tmp_path / "distorted.npy", distorted)
    inputs = f"reference={tmp_path / 'reference.npy'};distorted={tmp_path / 'distorted.npy'}"
    signature = ["--tag_set", "serve", "--signature_def", "serving_default"]
    out = str(tmp_path / "out")
    saved_model_cli("run", "--dir", fr_export, *signature, "--inputs", inputs, "--outdir", out)
    expected = keras_outputs(fr_model, reference, distorted)
    score = np.load(tmp_path / "out" / "score.npy")
    assert score.shape == (2,)
    np.testing.assert_allclose(score, expected["score"][:, 0], atol=1e-5)
    quality_map = np.load(tmp_path / "out" / "quality_map.npy")
    np.testing.assert_allclose(quality_map, expected["quality_map"], atol=1e-5)


@pytest.mark.parametrize("batch, height, width", SIZES)
def test_loaded_signatures_equal_the_keras_model(fr_model, fr_export, batch, height, width):
    loaded = tf.saved_model.load(fr_export)
    reference, distorted = images(batch, height, width, seed=1), images(batch, height, width, seed=2)
    expected = keras_outputs(fr_model, reference, distorted)
    from_arrays = loaded.signatures["serving_default"](
        reference=tf.constant(reference, tf.float32), distorted=tf.constant(distorted, tf.float32)
    )
    from_bytes = loaded.signatures["serve_bytes"](
        reference_bytes=tf.constant([encode(image) for image in reference]),
        distorted_bytes=tf.constant([encode(image) for image in distorted]),
    )
    for outputs in (as_numpy(from_arrays), as_numpy(from_bytes)):
        assert sorted(outputs) == ["quality_map", "score"]
        assert outputs["score"].shape == (batch,) and outputs["score"].dtype == np.float32
        np.testing.assert_allclose(outputs["score"], expected["score"][:, 0], atol=1e-5)
        np.testing.assert_allclose(outputs["quality_map"], expected["quality_map"], atol=1e-5)


def test_one_reference_pairs_with_every_distorted_image(fr_model, fr_export):
    loaded = tf.saved_model.load(fr_export)
    reference, distorted = images(1, 32, 40, seed=1), images(3, 32, 40, seed=2)
    expected = keras_outputs(fr_model, np.repeat(reference, 3, axis=0), distorted)["score"][:, 0]
    from_arrays = loaded.signatures["serving_default"](
        reference=tf.constant(reference, tf.float32), distorted=tf.constant(distorted, tf.float32)
    )["score"]
    from_bytes = loaded.signatures["serve_bytes"](
        reference_bytes=tf.constant([encode(reference[0])]),
        distorted_bytes=tf.constant([encode(image) for image in distorted]),
    )["score"]
    np.testing.assert_allclose(from_arrays, expected, atol=1e-5)
    np.testing.assert_allclose(from_bytes, expected, atol=1e-5)


@pytest.mark.parametrize("reference_shape, distorted_shape", [((2, 32, 32), (3, 32, 32)), ((1, 32, 40), (1, 40, 32))])
def test_requests_whose_images_do_not_pair_fail_with_both_shapes(fr_export, reference_shape, distorted_shape):
    loaded = tf.saved_model.load(fr_export)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"received reference of shape.*\n?.*distorted of shape"):
        loaded.signatures["serving_default"](
            reference=tf.constant(images(*reference_shape), tf.float32),
            distorted=tf.constant(images(*distorted_shape), tf.float32),
        )


def test_the_latest_complete_version_loads_by_its_folders_name(fr_export, tmp_path):
    import shutil

    shutil.copytree(fr_export, tmp_path / "007")  # version 7, written with leading zeros
    (tmp_path / "9").mkdir()  # a version still being copied: no saved_model.pb yet
    assert load_exported(tmp_path).path == str(tmp_path / "007")
    with pytest.raises(FileNotFoundError, match="No exported model at"):
        load_exported(tmp_path / "9")


def test_serve_bytes_decodes_jpeg_and_bmp_like_read_image(fr_export, tmp_path):
    exported = load_exported(fr_export)
    photo = images(1, 40, 48, seed=3)[0]
    for name, format in (("a.jpg", "JPEG"), ("b.bmp", "BMP")):
        (tmp_path / name).write_bytes(encode(photo, format))
    from_bytes = exported.predict_bytes(
        reference_bytes=(tmp_path / "b.bmp").read_bytes(), distorted_bytes=(tmp_path / "a.jpg").read_bytes()
    )
    from_arrays = exported.predict_arrays(
        reference=read_image(tmp_path / "b.bmp")[None], distorted=read_image(tmp_path / "a.jpg")[None]
    )
    np.testing.assert_allclose(from_bytes["score"], from_arrays["score"], atol=1e-6)
    np.testing.assert_allclose(from_bytes["quality_map"], from_arrays["quality_map"], atol=1e-6)


def test_predict_bytes_takes_a_generator_of_files(fr_export):
    exported = load_exported(fr_export)
    contents = [encode(image) for image in images(2, 32, 32, seed=5)]
    from_list = exported.predict_bytes(reference_bytes=contents, distorted_bytes=contents[::-1])
    from_generators = exported.predict_bytes(
        reference_bytes=(item for item in contents), distorted_bytes=(item for item in contents[::-1])
    )
    assert from_list["score"].shape == (2,)
    np.testing.assert_array_equal(from_generators["score"], from_list["score"])


def test_one_request_of_different_sizes_fails_in_the_graph(fr_export):
    exported = load_exported(fr_export)
    contents = [encode(images(1, 32, 32)[0]), encode(images(1, 40, 32)[0])]
    with pytest.raises(tf.errors.InvalidArgumentError):
        exported.predict_bytes(reference_bytes=contents, distorted_bytes=contents)


@pytest.mark.parametrize(
    "name, array, options",
    [
        ("rgb.png", images(1, 9, 11)[0], {}),
        ("gray.png", images(1, 9, 11)[0, ..., 0], {}),
        ("gray16.png", (np.arange(99, dtype=np.uint16).reshape(9, 11) * 661), {}),
        ("rgba.png", np.dstack([images(1, 9, 11)[0], np.arange(99, dtype=np.uint8).reshape(9, 11)]), {}),
        ("photo.jpg", images(1, 16, 24)[0], {"quality": 80}),
        ("photo.bmp", images(1, 9, 11)[0], {}),
        ("gray.bmp", images(1, 9, 11)[0, ..., 0], {}),
        ("rgba.bmp", np.dstack([images(1, 9, 11)[0], np.full((9, 11), 200, np.uint8)]), {}),
        ("palette.bmp", images(1, 9, 11)[0], {"palette": 7}),  # TensorFlow reads its indices as grey
        ("lossless.webp", images(1, 9, 11)[0], {"lossless": True}),
        ("rgba.webp", np.dstack([images(1, 9, 11)[0], np.arange(99, dtype=np.uint8).reshape(9, 11)]),
         {"lossless": True}),
        ("lossy.webp", images(1, 16, 24)[0], {"quality": 80}),
    ],
)
def test_graph_decoder_equals_read_image(tmp_path, name, array, options):
    path = tmp_path / name
    options = dict(options)
    image = Image.fromarray(array)
    if "palette" in options:
        image = image.quantize(colors=options.pop("palette"))
    image.save(path, **options)
    decoded = tf.function(decode_image_bytes)(tf.constant(path.read_bytes()))
    expected = read_image(path)
    assert decoded.dtype == tf.float32
    np.testing.assert_array_equal(decoded.numpy(), expected)
    if name == "gray16.png":
        assert Image.open(path).mode.startswith("I;16")
        assert expected.max() == pytest.approx(98 * 661 * 255 / 65535)


def test_decode_batch_stacks_images():
    contents = [encode(image) for image in images(2, 6, 5)]
    batch = decode_image_batch(contents)
    np.testing.assert_array_equal(batch.numpy(), images(2, 6, 5).astype(np.float32))


def test_decode_batch_names_the_input_and_both_sizes_when_sizes_differ():
    contents = [encode(images(1, 6, 5)[0]), encode(images(1, 6, 5)[0]), encode(images(1, 7, 5)[0])]
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"distorted_bytes: all images of a batch must have the same height and width; image\] \[2\] "
        r"\[is \(height, width\)\] \[7 5\] \[but image 0 is\] \[6 5\]",
    ):
        decode_image_batch(contents, "distorted_bytes")
    with pytest.raises(tf.errors.InvalidArgumentError, match="distorted_bytes: a batch needs at least one image"):
        decode_image_batch(tf.zeros([0], tf.string), "distorted_bytes")


@pytest.mark.parametrize("input_name, as_dict", [("distorted", False), ("image", True)])
def test_no_reference_export_takes_image_and_image_bytes(tmp_path, input_name, as_dict):
    model = no_reference_model(input_name, as_dict)
    exported = load_exported(export_saved_model(model, tmp_path))
    assert list(signature_io(exported).inputs) == ["image"]
    assert list(signature_io(exported, "serve_bytes").inputs) == ["image_bytes"]
    assert list(signature_io(exported).outputs) == ["score"]
    for batch, height, width in SIZES:
        array = images(batch, height, width, seed=4)
        floats = array.astype(np.float32)
        expected = np.asarray(model({input_name: floats} if as_dict else floats))[:, 0]
        np.testing.assert_allclose(exported.predict_arrays(image=array)["score"], expected, atol=1e-5)
        contents = [encode(image) for image in array]
        from_bytes = exported.predict_bytes(image_bytes=contents)
        np.testing.assert_allclose(from_bytes["score"], expected, atol=1e-5)


def test_signature_io_gives_names_dtypes_and_shapes(fr_export):
    spec = signature_io(tf.saved_model.load(fr_export), "serve_bytes")
    assert spec.inputs == {
        "distorted_bytes": tf.TensorSpec([None], tf.string, "distorted_bytes"),
        "reference_bytes": tf.TensorSpec([None], tf.string, "reference_bytes"),
    }
    assert {name: (output.dtype, output.shape.as_list()) for name, output in spec.outputs.items()} == {
        "score": (tf.float32, [None]),
        "quality_map": (tf.float32, [None, None, None, 1]),
    }
    with pytest.raises(ValueError, match=r"No signature named .predict.; the model has \[.serve_bytes."):
        signature_io(load_exported(fr_export), "predict")


def test_float_dtypes_are_cast_by_predict_arrays_and_refused_by_the_signature(fr_model, fr_export):
    exported = load_exported(fr_export)
    reference, distorted = images(1, 32, 32, seed=5), images(1, 32, 32, seed=6)
    expected = keras_outputs(fr_model, reference, distorted)["score"][:, 0]
    for dtype in (np.uint8, np.float16, np.float32, np.float64):
        outputs = exported.predict_arrays(
            reference=reference.astype(dtype), distorted=distorted.astype(dtype)
        )
        np.testing.assert_allclose(outputs["score"], expected, atol=1e-5)
    with pytest.raises(TypeError, match=r"`reference` must hold float or uint8 .* dtype=int32"):
        exported.predict_arrays(reference=reference.astype(np.int32), distorted=distorted)
    with pytest.raises(ValueError, match=r"`distorted` must be a batch .* shape=\(32, 32, 3\)"):
        exported.predict_arrays(reference=reference, distorted=distorted[0])
    expected_inputs = r"takes inputs \['distorted', 'reference'\]. Received: \['image'\]"
    with pytest.raises(ValueError, match=expected_inputs):
        exported.predict_arrays(image=reference)
    with pytest.raises(TypeError, match=r"`reference_bytes` must be the bytes .* Received: str"):
        exported.predict_bytes(reference_bytes="photo.png", distorted_bytes=b"")
    with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
        exported.signatures["serving_default"](
            reference=tf.constant(reference, tf.float64), distorted=tf.constant(distorted, tf.float32)
        )


def test_versions_count_up_and_are_never_overwritten(tmp_path):
    model = no_reference_model()
    assert export_saved_model(model, tmp_path) == os.path.join(tmp_path, "1")
    assert export_saved_model(model, tmp_path, version=7) == os.path.join(tmp_path, "7")
    assert export_saved_model(model, tmp_path) == os.path.join(tmp_path, "8")
    with pytest.raises(FileExistsError, match=r"Version 7 already exists.*7"):
        export_saved_model(model, tmp_path, version=7)
    with pytest.raises(ValueError, match="Received: version=0"):
        export_saved_model(model, tmp_path, version=0)
    assert sorted(os.listdir(tmp_path)) == ["1", "7", "8"]
    assert load_exported(tmp_path).path == os.path.join(tmp_path, "8")


def test_a_version_written_meanwhile_by_another_export_is_not_overwritten(tmp_path, monkeypatch):
    import iqa_keras.atomic

    (tmp_path / "nr" / "1").mkdir(parents=True)
    (tmp_path / "nr" / "1" / "saved_model.pb").write_bytes(b"the other export's")
    real_exists = os.path.exists
    # The other export renames its folder in after this one has checked the version.
    monkeypatch.setattr(iqa_keras.atomic.os.path, "exists", lambda path: False if str(path).endswith("1") else real_exists(path))
    with pytest.raises(FileExistsError, match="appeared while it was written"):
        export_saved_model(no_reference_model(), tmp_path / "nr", version=1)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path / "nr")) == ["1"]
    assert (tmp_path / "nr" / "1" / "saved_model.pb").read_bytes() == b"the other export's"


def test_a_failed_export_leaves_no_version_and_no_temporary_folder(tmp_path, monkeypatch):
    def save_halfway(obj, export_dir, **kwargs):
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as file:
            file.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_halfway)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(no_reference_model(), tmp_path / "nr")
    assert os.listdir(tmp_path / "nr") == []


def test_models_taking_a_list_of_named_inputs_export_in_their_order(tmp_path):
    distorted, reference = keras.Input((None, None, 3), name="distorted"), keras.Input((None, None, 3), name="reference")
    difference = keras.layers.Subtract()([distorted, keras.layers.Rescaling(0.5)(reference)])
    fr_model = keras.Model([distorted, reference], keras.layers.GlobalAveragePooling2D()(difference)[:, :1])
    image = keras.Input((None, None, 3), name="image")
    nr_model = keras.Model([image], keras.layers.GlobalAveragePooling2D()(image)[:, :1])
    reference_batch, distorted_batch = images(2, 16, 16, seed=1), images(2, 16, 16, seed=2)
    fr = load_exported(export_saved_model(fr_model, tmp_path / "fr"))
    expected = np.asarray(fr_model([distorted_batch.astype("float32"), reference_batch.astype("float32")]))[:, 0]
    np.testing.assert_allclose(fr.predict_arrays(reference=reference_batch, distorted=distorted_batch)["score"],
                               expected, rtol=1e-5)
    nr = load_exported(export_saved_model(nr_model, tmp_path / "nr"))
    np.testing.assert_allclose(nr.predict_arrays(image=distorted_batch)["score"],
                               distorted_batch.astype("float32").mean(axis=(1, 2))[:, 0], rtol=1e-5)


def test_a_fixed_size_model_advertises_its_size(tmp_path):
    image = keras.Input((32, 24, 3), name="image")
    model = keras.Model(image, keras.layers.Dense(1)(keras.layers.Flatten()(image)))
    exported = tf.saved_model.load(export_saved_model(model, tmp_path))
    assert signature_io(exported).inputs["image"].shape.as_list() == [None, 32, 24, 3]  # was [None, None, None, 3]


def test_models_with_other_inputs_or_outputs_are_refused(tmp_path):
    out_dir = tmp_path / "model"
    first, second = keras.Input((None, None, 3), name="a"), keras.Input((None, None, 3), name="b")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([first, second]))
    with pytest.raises(ValueError, match=r"neither full-reference .* inputs \['a', 'b'\]"):
        export_saved_model(keras.Model({"a": first, "b": second}, pooled), out_dir)
    with pytest.raises(ValueError, match=r"neither full-reference .* inputs \['a', 'b'\]"):
        export_saved_model(keras.Model([first, second], pooled), out_dir)
    image = keras.Input((None, None, 3), name="image")
    with pytest.raises(ValueError, match=r"'score' output must have shape \(N,\) or \(N, 1\).*\(None, 3\)"):
        export_saved_model(keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)), out_dir)
    with pytest.raises(ValueError, match=r"without a 'score' output.*\['quality'\]"):
        export_saved_model(keras.Model(image, {"quality": image}), out_dir)
    assert not out_dir.exists()


def test_load_exported_without_a_model_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        load_exported(tmp_path)


def test_models_config_text(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("old")
    write_models_config(path, {"siamese": "/models/siamese", "nr": tmp_path / "nr"})
    assert path.read_text() == (
        "model_config_list {\n"
        "  config {\n"
        '    name: "siamese"\n'
        '    base_path: "/models/siamese"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        "  config {\n"
        '    name: "nr"\n'
        f'    base_path: "{tmp_path / "nr"}"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        "}\n"
    )
    assert os.listdir(tmp_path) == ["models.config"]
    with pytest.raises(ValueError, match="non-empty dict"):
        write_models_config(path, {})
    with pytest.raises(ValueError, match=r"without quotes.*'a\"b'"):
        write_models_config(path, {'a"b': "/models/x"})


def test_real_siamese_model_exports_with_its_maps(tmp_path):
    from iqa_keras.models import SiameseDifferenceIQA

    model = SiameseDifferenceIQA(
        encoder_options={"filters": (4, 4, 8, 8)}, fusion_filters=4, num_residual_blocks=1
    ).with_outputs(("score", "quality_map", "attention_map"))
    exported = load_exported(export_saved_model(model, tmp_path))
    assert sorted(signature_io(exported).outputs) == ["attention_map", "quality_map", "score"]
    reference, distorted = images(2, 32, 48, seed=7), images(2, 32, 48, seed=8)
    expected = keras_outputs(model, reference, distorted)
    outputs = exported.predict_bytes(
        reference_bytes=[encode(image) for image in reference],
        distorted_bytes=[encode(image) for image in distorted],
    )
    np.testing.assert_allclose(outputs["score"], expected["score"][:, 0], atol=1e-5)
    for key in ("quality_map", "attention_map"):
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_real_hallucinated_model_exports_as_no_reference(tmp_path, batch):
    from iqa_keras.models import HallucinatedIQA, HallucinationGenerator, HallucinationGuidedRegressor

    generator = HallucinationGenerator(filters=8, num_residual_blocks=0)
    model = HallucinatedIQA(
        generator, regressor=HallucinationGuidedRegressor(generator.feature_channels, filters=8)
    ).with_outputs(("score", "quality_map"))
    exported = load_exported(export_saved_model(model, tmp_path))
    assert sorted(signature_io(exported, "serve_bytes").inputs) == ["image_bytes"]
    distorted = images(batch, 40, 56, seed=batch)
    expected = as_numpy(model({"distorted": distorted}))
    from_arrays = exported.predict_arrays(image=distorted)
    from_bytes = exported.predict_bytes(image_bytes=[encode(image) for image in distorted])
    for outputs in (from_arrays, from_bytes):
        np.testing.assert_allclose(outputs["score"], expected["score"][:, 0], atol=1e-5)
        np.testing.assert_allclose(outputs["quality_map"], expected["quality_map"], atol=1e-5)


@pytest.mark.parametrize("full_reference", [True, False])
def test_large_images_are_scored_in_tiles_in_the_graph_as_the_command_scores_them(tmp_path, full_reference):
    """A 150x230 batch with 64-pixel tiles (12 tiles): the SavedModel's score and map equal
    `tiling.Scorer`'s, through both signatures."""
    from iqa_keras.models import (HallucinatedIQA, HallucinationGenerator, HallucinationGuidedRegressor,
                                  SiameseDifferenceIQA)
    from iqa_keras.tiling import Scorer

    if full_reference:
        model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0)
    else:
        generator = HallucinationGenerator(filters=8, num_residual_blocks=0)
        model = HallucinatedIQA(generator, regressor=HallucinationGuidedRegressor(generator.feature_channels, filters=8))
    exported = load_exported(export_saved_model(model.with_outputs(("score", "quality_map")), tmp_path, tile_size=64))
    scorer = Scorer(model, tile_size=64)
    reference = images(2, 150, 230, seed=1)
    distorted = np.clip(reference.astype(np.int16) + images(2, 150, 230, seed=2) // 8, 0, 255).astype(np.uint8)
    expected = [scorer(d.astype(np.float32), reference=r.astype(np.float32) if full_reference else None, maps=True)
                for r, d in zip(reference, distorted)]
    if full_reference:
        from_arrays = exported.predict_arrays(reference=reference, distorted=distorted)
        from_bytes = exported.predict_bytes(reference_bytes=[encode(image) for image in reference],
                                            distorted_bytes=[encode(image) for image in distorted])
    else:
        from_arrays = exported.predict_arrays(image=distorted)
        from_bytes = exported.predict_bytes(image_bytes=[encode(image) for image in distorted])
    for outputs in (from_arrays, from_bytes):
        np.testing.assert_allclose(outputs["score"], [item.score for item in expected], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(outputs["quality_map"][..., 0], [item.quality_map for item in expected], atol=1e-5)
    # Below the tile size, one call: the model's own outputs.
    small = distorted[:, :40, :56]
    whole = model.with_outputs(("score",))
    small_inputs = {"reference": reference[:, :40, :56], "distorted": small} if full_reference else {"distorted": small}
    own = np.asarray(whole({key: value.astype(np.float32) for key, value in small_inputs.items()}))[:, 0]
    got = (exported.predict_arrays(**small_inputs) if full_reference else exported.predict_arrays(image=small))["score"]
    np.testing.assert_allclose(got, own, rtol=1e-5, atol=1e-6)
    # Below the model's minimum size: refused, not scored.
    tiny = {key: value[:, :3, :5] for key, value in small_inputs.items()}
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"smaller than the minimum of "
                                                            f"{model.min_image_size}x{model.min_image_size} pixels"):
        exported.predict_arrays(**tiny) if full_reference else exported.predict_arrays(image=tiny["distorted"])


def test_onnx_without_tf2onnx_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ImportError, match=re.escape("install iqa-keras[onnx]")):
        export_onnx(full_reference_model(), tmp_path / "model.onnx")


def test_onnx_export_never_overwrites_a_file_or_a_folder(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"precious")
    for path in (tmp_path / "model.onnx", tmp_path):
        with pytest.raises(FileExistsError, match="already exists, refusing to overwrite it"):
            export_onnx(full_reference_model(), path)
    assert (tmp_path / "model.onnx").read_bytes() == b"precious"


def test_onnx_export_equals_the_keras_model(fr_model, tmp_path):
    reason = "ONNX export needs the optional extra iqa-keras[onnx] (tf2onnx, onnxruntime)"
    pytest.importorskip("tf2onnx", reason=reason)
    onnxruntime = pytest.importorskip("onnxruntime", reason=reason)
    path = export_onnx(fr_model, tmp_path / "new folder" / "model.onnx")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert sorted(item.name for item in session.get_inputs()) == ["distorted", "reference"]
    names = [item.name for item in session.get_outputs()]
    assert sorted(names) == ["quality_map", "score"]
    for batch, height, width in SIZES:
        reference = images(batch, height, width, seed=9).astype(np.float32)
        distorted = images(batch, height, width, seed=10).astype(np.float32)
        outputs = dict(zip(names, session.run(names, {"reference": reference, "distorted": distorted})))
        expected = keras_outputs(fr_model, reference, distorted)
        np.testing.assert_allclose(outputs["score"], expected["score"][:, 0], atol=1e-4)
        np.testing.assert_allclose(outputs["quality_map"], expected["quality_map"], atol=1e-4)
    # ONNX drops the signature's assertion: pairs that do not match must still fail, not
    # broadcast (a 1-pixel reference, or 3 references for 1 distorted image).
    def score(reference_shape, distorted_shape):
        reference, distorted = images(*reference_shape, seed=9), images(*distorted_shape)
        inputs = {"reference": reference.astype(np.float32), "distorted": distorted.astype(np.float32)}
        return session.run(["score"], inputs)[0], (reference, distorted)

    one_for_all, (reference, distorted) = score((1, 32, 32), (3, 32, 32))
    expected = keras_outputs(fr_model, reference.repeat(3, axis=0), distorted)["score"][:, 0]
    np.testing.assert_allclose(one_for_all, expected, atol=1e-4)
    for shapes in [((2, 1, 1), (2, 32, 32)), ((3, 32, 32), (1, 32, 32)), ((2, 32, 32), (3, 32, 32))]:
        with pytest.raises(Exception, match="Gather|Concat"):
            score(*shapes)


def _animated_webp():
    frames = [Image.fromarray(frame) for frame in images(2, 9, 11)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.mark.parametrize("contents", [
    b"", b"hello", encode(images(1, 9, 11)[0], format="TIFF"),
    encode(images(1, 9, 11)[0, ..., 0] > 128, format="BMP"),  # 1 bit per pixel
    encode(images(1, 9, 11)[0], format="GIF"),  # TensorFlow would blacken transparency, size frames unchecked
    _animated_webp(),  # TensorFlow 2.21 corrupts memory decoding one
    encode(images(1, 9, 11)[0])[:20], b"\xff\xd8\xff",  # a PNG and a JPEG cut short
], ids=["empty", "text", "tiff", "bmp-1-bit", "gif", "animated-webp", "short-png", "short-jpeg"])
def test_graph_decoder_names_the_input_and_the_formats_it_reads(contents):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"distorted_bytes: not an image this decoder reads \(PNG, JPEG, BMP of 8, 24 or 32"):
        tf.function(decode_image_batch)(tf.constant([contents]), "distorted_bytes")


@pytest.mark.parametrize("format, options", [
    ("PNG", {}), ("BMP", {}), ("JPEG", {}),
    ("WEBP", {}), ("WEBP", {"lossless": True}), ("WEBP", {"exif": Image.Exif().tobytes()}),  # VP8, VP8L, VP8X
])
def test_graph_decoder_refuses_decompression_bombs_before_decoding(format, options, monkeypatch):
    import PIL.Image

    from iqa_keras.data import decode

    contents = encode(images(1, 20, 30)[0], format=format, **options)
    decoded = tf.function(decode.decode_image_bytes)(tf.constant(contents))
    assert tuple(decoded.shape) == (20, 30, 3)  # the size each header declares is read right
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 599)  # 600 pixels is "too large" now
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large to decode safely"):
        tf.function(decode.decode_image_bytes)(tf.constant(contents))
