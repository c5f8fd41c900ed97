import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from iqa_keras.data.pipeline import (
    PassCounter, PipelineConfig, SkippedImages, evaluation_dataset, training_dataset,
)
from iqa_keras.data.records import Record, Scale
from iqa_keras.io import read_image

SCALE = Scale(1.0, 5.0, True)


def save(folder, name, array, **options):
    path = os.path.join(folder, name)
    Image.fromarray(array).save(path, **options)
    return path


@pytest.fixture
def pairs(tmp_path, photos):
    """Full-reference records over small crops of real photos; distorted = reference + 1."""
    records = []
    for index, photo in enumerate(photos):
        reference = np.clip(photo[:48, :40], 0, 254).astype(np.uint8)
        reference_path = save(tmp_path, f"ref{index}.png", reference)
        distorted_path = save(tmp_path, f"dist{index}.png", reference + 1)
        records.append(Record(distorted_path, 1.0 + index, SCALE, reference=reference_path))
    return records


def batches(dataset):
    return [(tf.nest.map_structure(np.asarray, inputs), np.asarray(score)) for inputs, score in dataset]


def test_full_reference_training_shapes_and_dtypes(pairs):
    config = PipelineConfig(batch_size=3, crop_size=(24, 16), patches_per_image=2)
    dataset = training_dataset(pairs, config)
    assert int(dataset.cardinality()) == 3  # Keras knows the steps of an epoch
    result = batches(dataset)
    assert [len(score) for _, score in result] == [3, 3, 2]
    for inputs, score in result:
        assert sorted(inputs) == ["distorted", "reference"]
        for images in inputs.values():
            assert images.shape[1:] == (24, 16, 3) and images.dtype == np.float32
            assert 0.0 <= images.min() and images.max() <= 255.0
        assert score.dtype == np.float32
    scores = sorted(np.concatenate([score for _, score in result]).tolist())
    assert scores == sorted([record.score for record in pairs] * 2)


def test_no_reference_and_use_reference_false_feed_distorted_only(pairs):
    no_reference = [Record(record.distorted, record.raw_score, SCALE) for record in pairs]
    config = PipelineConfig(batch_size=2, crop_size=16)
    for records, use_reference in ((no_reference, True), (pairs, False)):
        config = PipelineConfig(batch_size=2, crop_size=16, use_reference=use_reference)
        inputs, score = next(iter(training_dataset(records, config)))
        assert list(inputs) == ["distorted"]
        assert inputs["distorted"].shape == (2, 16, 16, 3) and score.shape == (2,)


def test_mixed_records_raise(pairs):
    mixed = pairs + [Record(pairs[0].distorted, 3.0, SCALE)]
    with pytest.raises(ValueError, match="1 of 5 records have no reference"):
        training_dataset(mixed, PipelineConfig(crop_size=16))


def test_pairs_stay_aligned_through_crop_flip_and_rotation(pairs):
    config = PipelineConfig(batch_size=8, crop_size=16, patches_per_image=6, seed=3)
    result = batches(training_dataset(pairs, config))
    assert len(result) == config.training_batches(len(pairs))
    for inputs, _ in result:
        np.testing.assert_array_equal(inputs["distorted"] - inputs["reference"], 1.0)


def dihedral_views(image):
    for turns in range(4):
        rotated = np.rot90(image, turns)
        yield rotated
        yield rotated[:, ::-1]


def test_crops_are_flipped_and_rotated_crops_of_the_image(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (20, 18, 3), dtype=np.uint8)
    path = save(tmp_path, "noise.png", image)
    config = PipelineConfig(batch_size=40, crop_size=8, patches_per_image=40, seed=1)
    (inputs, _), = batches(training_dataset([Record(path, 3.0, SCALE, reference=path)], config))
    np.testing.assert_array_equal(inputs["reference"], inputs["distorted"])
    windows = [
        np.lib.stride_tricks.sliding_window_view(view, (8, 8, 3))
        for view in dihedral_views(image.astype(np.float32))
    ]
    used = set()
    for patch in inputs["reference"]:
        matches = [index for index, window in enumerate(windows) if (window == patch).all(axis=(-3, -2, -1)).any()]
        assert matches, "a training crop is not a flipped/rotated crop of the image"
        used.add(matches[0])
    assert len(used) >= 4  # several of the 8 flips/rotations occur


def test_non_square_crops_keep_their_shape_under_augmentation(pairs):
    config = PipelineConfig(batch_size=4, crop_size=(16, 8), patches_per_image=4)
    result = batches(training_dataset(pairs, config))
    assert len(result) == config.training_batches(len(pairs))
    for inputs, _ in result:
        assert inputs["distorted"].shape[1:] == (16, 8, 3)


def test_same_seed_same_batches_and_epochs_differ(pairs):
    config = PipelineConfig(batch_size=3, crop_size=16, patches_per_image=2, seed=5, num_parallel_calls=3)
    first, second = training_dataset(pairs, config), training_dataset(pairs, config)
    first_epochs = [batches(first), batches(first)]
    second_epochs = [batches(second), batches(second)]
    for one, other in zip(first_epochs, second_epochs):
        for (inputs, score), (other_inputs, other_score) in zip(one, other):
            np.testing.assert_array_equal(score, other_score)
            np.testing.assert_array_equal(inputs["distorted"], other_inputs["distorted"])
    epoch_one = np.concatenate([inputs["distorted"] for inputs, _ in first_epochs[0]])
    epoch_two = np.concatenate([inputs["distorted"] for inputs, _ in first_epochs[1]])
    assert not np.array_equal(epoch_one, epoch_two)
    other_seed = batches(training_dataset(pairs, PipelineConfig(batch_size=3, crop_size=16, patches_per_image=2, seed=6)))
    assert not np.array_equal(epoch_one, np.concatenate([inputs["distorted"] for inputs, _ in other_seed]))


@pytest.mark.parametrize("level_groups", [False, True])
def test_a_pass_counter_set_to_n_replays_the_nth_pass(pairs, level_groups):
    # What a run resumed at epoch 2 must see: the third pass of an uninterrupted run.
    config = PipelineConfig(batch_size=3, crop_size=16, patches_per_image=2, seed=5, level_groups=level_groups)
    uninterrupted = training_dataset(pairs, config)
    passes = [batches(uninterrupted) for _ in range(3)]
    counter = PassCounter()
    counter.start_at(2)
    resumed = batches(training_dataset(pairs, config, passes=counter))
    assert counter.next_pass == 3
    for (inputs, score), (resumed_inputs, resumed_score) in zip(passes[2], resumed, strict=True):
        np.testing.assert_array_equal(resumed_score, score)
        np.testing.assert_array_equal(resumed_inputs["distorted"], inputs["distorted"])
    assert not np.array_equal(resumed[0][0]["distorted"], passes[0][0][0]["distorted"])


def test_iterations_starting_at_once_take_distinct_pass_numbers():
    import threading

    counter = PassCounter()
    dataset = tf.data.Dataset.range(1).map(lambda _: counter.take())
    taken = []

    def iterate():
        for _ in range(200):
            taken.extend(int(number) for number in dataset.as_numpy_iterator())

    threads = [threading.Thread(target=iterate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(800)) and counter.next_pass == 800


def test_patches_per_image_multiplies_the_count(pairs):
    for patches in (1, 3):
        config = PipelineConfig(batch_size=5, crop_size=16, patches_per_image=patches)
        assert sum(len(score) for _, score in training_dataset(pairs, config)) == len(pairs) * patches


def test_training_needs_one_size_for_batches(pairs):
    with pytest.raises(ValueError, match="set `crop_size` or `resize_to`"):
        training_dataset(pairs, PipelineConfig(batch_size=2))
    with pytest.raises(ValueError, match="patches_per_image=2, crop_size=None"):
        training_dataset(pairs, PipelineConfig(batch_size=1, patches_per_image=2))
    inputs, _ = next(iter(training_dataset(pairs, PipelineConfig(batch_size=2, resize_to=(12, 10)))))
    assert inputs["reference"].shape == (2, 12, 10, 3)


def test_crop_larger_than_image_names_the_file(pairs):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"dist\d\.png is 40x48 .*smaller than `crop_size` 64x64"):
        batches(training_dataset(pairs, PipelineConfig(batch_size=2, crop_size=64)))


def test_preprocess_is_applied_to_both_images(pairs):
    config = PipelineConfig(batch_size=4, crop_size=16, augment=False)
    result = batches(training_dataset(pairs, config, preprocess=lambda images: images / 255.0 - 0.5))
    assert len(result) == config.training_batches(len(pairs))
    for inputs, _ in result:
        assert inputs["reference"].max() <= 0.5 and inputs["reference"].min() >= -0.5
        np.testing.assert_allclose(inputs["distorted"] - inputs["reference"], 1 / 255.0, atol=1e-6)


def test_evaluation_keeps_order_and_whole_images(pairs):
    result = batches(evaluation_dataset(pairs, PipelineConfig(batch_size=8)))
    assert len(result) == len(pairs)
    for record, (inputs, score) in zip(pairs, result):
        assert inputs["reference"].shape == (1, 48, 40, 3)
        np.testing.assert_array_equal(inputs["distorted"][0], read_image(record.distorted))
        np.testing.assert_allclose(score, [record.score])


def test_evaluation_resize_policies(pairs):
    shorter = batches(evaluation_dataset(pairs, PipelineConfig(resize_shorter_side=20)))
    assert shorter[0][0]["distorted"].shape == (1, 24, 20, 3)
    fixed = batches(evaluation_dataset(pairs, PipelineConfig(batch_size=3, resize_to=(16, 16))))
    assert [inputs["reference"].shape for inputs, _ in fixed] == [(3, 16, 16, 3), (1, 16, 16, 3)]


def sample_files(folder):
    """Small files of each format and mode the decoder must match `read_image` on."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    rgba = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (13, 17), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
    palette = Image.fromarray(rgb).quantize(16)
    files = {
        "rgb.png": save(folder, "rgb.png", rgb),
        "rgb.jpg": save(folder, "rgb.jpg", rgb, quality=80),
        "gray.jpg": save(folder, "gray.jpg", gray, quality=80),
        "rgb.bmp": save(folder, "rgb.bmp", rgb),
        "rgb.tif": save(folder, "rgb.tif", rgb),
        "gray16.tif": save(folder, "gray16.tif", gray16),
        "gray.png": save(folder, "gray.png", gray),
        "rgba.png": save(folder, "rgba.png", rgba),
        "gray16.png": save(folder, "gray16.png", gray16),
    }
    files["palette.png"] = os.path.join(folder, "palette.png")
    palette.save(files["palette.png"])
    files["palette.gif"] = os.path.join(folder, "palette.gif")
    palette.save(files["palette.gif"])
    # Pillow cannot write 48-bit PNGs; TensorFlow can.
    files["rgb16.png"] = os.path.join(folder, "rgb16.png")
    tf.io.write_file(files["rgb16.png"], tf.io.encode_png(rgb16))
    return files


def test_decoding_equals_read_image_for_every_format_and_mode(tmp_path):
    files = sample_files(tmp_path)
    records = [Record(path, 3.0, SCALE) for path in files.values()]
    result = batches(evaluation_dataset(records, PipelineConfig()))
    for name, (inputs, _) in zip(files, result):
        np.testing.assert_array_equal(inputs["distorted"][0], read_image(files[name]), err_msg=name)


def test_pair_of_different_sizes_names_both_files_and_sizes(tmp_path):
    reference = save(tmp_path, "big_ref.png", np.zeros((20, 30, 3), np.uint8))
    distorted = save(tmp_path, "small_dist.png", np.zeros((20, 24, 3), np.uint8))
    records = [Record(distorted, 3.0, SCALE, reference=reference)]
    pattern = r"big_ref\.png is 30x20.*small_dist\.png is 24x20"
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        batches(evaluation_dataset(records, PipelineConfig()))
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        batches(training_dataset(records, PipelineConfig(batch_size=1, crop_size=8, on_error="skip")))


@pytest.fixture
def with_corrupt_file(tmp_path):
    good = [save(tmp_path, f"good{i}.png", np.full((16, 16, 3), 10 * i, np.uint8)) for i in range(3)]
    corrupt = os.path.join(tmp_path, "corrupt.png")
    with open(good[0], "rb") as source, open(corrupt, "wb") as target:
        target.write(source.read()[:40])  # a PNG cut inside its first chunk
    garbage = os.path.join(tmp_path, "garbage.jpg")
    with open(garbage, "wb") as target:
        target.write(b"not an image at all" * 10)
    paths = [good[0], corrupt, good[1], garbage, good[2]]
    return [Record(path, 3.0, SCALE) for path in paths], [corrupt, garbage]


def test_corrupt_file_stops_naming_the_file(with_corrupt_file):
    records, (corrupt, _) = with_corrupt_file
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(corrupt)):
        batches(evaluation_dataset(records, PipelineConfig()))


def test_skip_drops_and_counts_unreadable_files(with_corrupt_file, caplog):
    records, bad = with_corrupt_file
    skipped = SkippedImages()
    result = batches(evaluation_dataset(records, PipelineConfig(on_error="skip"), skipped=skipped))
    assert [float(inputs["distorted"][0, 0, 0, 0]) for inputs, _ in result] == [0.0, 10.0, 20.0]
    assert sorted(skipped.paths) == sorted(bad) and len(skipped) == 2
    assert sum("Skipped unreadable image" in message for message in caplog.messages) == 2
    config = PipelineConfig(batch_size=2, crop_size=8, on_error="skip")
    training = training_dataset(records, config, skipped=skipped)
    assert [sum(len(score) for _, score in training) for _ in range(2)] == [3, 3]
    assert len(skipped) == 2  # each file counted once, however many passes meet it


@pytest.mark.parametrize(
    "options, message",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"crop_size": (16, 0)}, r"crop_size=\(16, 0\)"),
        ({"crop_size": 1.5}, "crop_size=1.5"),
        ({"resize_shorter_side": 10, "resize_to": (8, 8)}, "at most one of"),
        ({"tile_size": 16}, r"`tile_size` must be an integer >= 32. Received: tile_size=16"),
        ({"tile_overlap": -1}, "tile_overlap=-1"),
        ({"patches_per_image": -1}, "patches_per_image=-1"),
        ({"num_parallel_calls": 0}, "num_parallel_calls=0"),
    ],
)
def test_config_validation_names_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**options)


def test_keras_model_fits_on_the_dataset(pairs):
    import keras

    reference = keras.Input((16, 16, 3), name="reference")
    distorted = keras.Input((16, 16, 3), name="distorted")
    difference = keras.layers.Subtract()([reference, distorted])
    score = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(difference))
    model = keras.Model({"reference": reference, "distorted": distorted}, score)
    model.compile("sgd", "mse")
    dataset = training_dataset(pairs, PipelineConfig(batch_size=4, crop_size=16))
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
