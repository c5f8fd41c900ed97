"""Tests of iqa_keras.training.fit: train, resume, mixed precision, finetune.

The data are tiny pairs of 32x32 images: distorted = reference + Gaussian noise of a
known strength, scored 5 - 4 * strength (KADID-10k layout, or a generic CSV).
"""

import csv
import dataclasses
import json
import os
import re
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from iqa_keras.training import (
    LossTerm,
    ModelConfig,
    OptimizerConfig,
    build_model,
    compile_model,
    config_from_dict,
    finetune,
    load_config,
    precision_policy,
    predict_scores,
    read_parts,
    split_records,
    train,
)
from iqa_keras.atomic import OUTPUT_MARKER
from iqa_keras.data import read_dataset
from iqa_keras.evaluation import evaluate
from iqa_keras.models import HallucinatedIQA
from iqa_keras.data.records import DatasetError
from iqa_keras.training.config import ConfigError

TINY_MODEL = {"encoder_options": {"filters": [8, 8, 8, 8]}, "fusion_filters": 8, "num_residual_blocks": 0}
TINY_NR_MODEL = {
    "generator": {"filters": 8, "num_downsamples": 1, "num_residual_blocks": 0},
    "discriminator": {"filters": 8, "num_downsamples": 2},
    "regressor": {"filters": 8, "num_downsamples": 1, "num_residual_blocks": 0},
}


def write_noise_pairs(folder, references=12, levels=2, seed=0):
    """Writes `references * levels` noisy pairs as 32x32 PNGs; returns CSV-style rows
    `(reference name, distorted name, score on 1-5)`."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    rows = []
    for index in range(1, references + 1):
        coarse = rng.uniform(0, 255, (8, 8, 3))
        reference = np.kron(coarse, np.ones((4, 4, 1)))  # smooth blocks: noise is visible
        reference_name = f"I{index:02d}.png"
        Image.fromarray(reference.astype(np.uint8)).save(os.path.join(folder, reference_name))
        for level in range(1, levels + 1):
            strength = rng.uniform(0, 1)
            noisy = np.clip(reference + rng.normal(0, 60 * strength, reference.shape), 0, 255)
            name = f"I{index:02d}_01_{level:02d}.png"
            Image.fromarray(noisy.astype(np.uint8)).save(os.path.join(folder, name))
            rows.append((reference_name, name, 5.0 - 4.0 * strength))
    return rows


def write_ratings_csv(folder, references, seed, with_reference):
    """A user's ratings CSV of noisy pairs (3 levels each) in `folder/my_images`: columns
    reference,distorted,score, or distorted,score without references."""
    rows = write_noise_pairs(str(folder / "my_images"), references=references, levels=3, seed=seed)
    path = folder / "my.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["reference", "distorted", "score"][0 if with_reference else 1 :])
        for reference, distorted, score in rows:
            writer.writerow([f"my_images/{reference}"] * with_reference + [f"my_images/{distorted}", score])
    return path


def write_kadid_layout(root, **kwargs):
    rows = write_noise_pairs(os.path.join(root, "images"), **kwargs)
    with open(os.path.join(root, "dmos.csv"), "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["dist_img", "ref_img", "dmos", "var"])
        writer.writerows((distorted, reference, f"{score:.4f}", "0") for reference, distorted, score in rows)
    return root


def tiny_values(root, output_dir, epochs=2):
    """The plain values of a tiny run's config (12 contents: 6 train, 3 validation, 3 test).

    With dropout: a resumed run equals an uninterrupted one only if it draws its masks.
    """
    return {
        "output_dir": str(output_dir),
        "data": {
            "dataset": "kadid10k",
            "root": str(root),
            "ratios": {"train": 0.5, "validation": 0.25, "test": 0.25},
            "train": {"batch_size": 4, "crop_size": 32, "num_parallel_calls": 2},
            "evaluation": {"batch_size": 6, "resize_to": [32, 32], "num_parallel_calls": 2},
        },
        "model": {"arguments": {**TINY_MODEL, "dropout": 0.5}},
        "optimizer": {"learning_rate": 1e-3, "warmup_epochs": 0.5},
        "trainer": {"epochs": epochs, "precision": "float32", "strategy": "one"},
    }


@pytest.fixture(scope="module")
def kadid_root(tmp_path_factory):
    return write_kadid_layout(str(tmp_path_factory.mktemp("kadid")))


class StopAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based), as a killed run would stop."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("interrupted by the test")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def tiny_run(kadid_root, tmp_path_factory):
    """The config, result and folder of one uninterrupted tiny run (2 epochs)."""
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    config = config_from_dict(tiny_values(kadid_root, run))
    return config, train(config), run


def test_train_writes_checkpoint_log_config_and_metrics(tiny_run):
    config, result, run = tiny_run
    files = {"best.keras", "config.yaml", "log.csv", "metrics.json", OUTPUT_MARKER}
    assert set(os.listdir(run)) - {"tensorboard"} == files  # TensorBoard's, if installed
    assert load_config(run / "config.yaml") == config
    with open(run / "log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"loss", "srcc", "plcc", "val_srcc", "val_plcc"} <= set(rows[0])
    with open(run / "metrics.json") as file:
        metrics = json.load(file)
    assert metrics == result.metrics
    assert metrics["evaluated_on"] == "test" and metrics["test"]["n"] == 6
    assert metrics["best_epoch"] in (1, 2) and np.isfinite(metrics["test"]["srcc"])
    best_val = max(float(row["val_srcc"]) for row in rows)
    assert metrics["best_val_srcc"] == pytest.approx(best_val)

    best = keras.saving.load_model(result.best_model_path, compile=False)
    pair = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    prediction = best.predict({"reference": pair, "distorted": pair[::-1]}, verbose=0)
    assert prediction.shape == (2, 1) and np.all(np.isfinite(prediction))
    assert len(result.history["loss"]) == 2


def test_interrupted_run_resumes_at_the_next_epoch(kadid_root, tiny_run, tmp_path, capsys):
    values = tiny_values(kadid_root, tmp_path / "run", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(values), callbacks=[StopAfterEpoch(0)])
    assert os.path.isdir(tmp_path / "run" / "backup")

    changed = config_from_dict(values, {"optimizer.learning_rate": 5e-4})
    with pytest.raises(ConfigError, match="`optimizer` differs from the interrupted run"):
        train(changed)

    recorder = EpochRecorder()
    same_folder = {**values, "output_dir": str(tmp_path / "run") + os.sep}  # named otherwise
    capsys.readouterr()
    result = train(config_from_dict(same_folder), callbacks=[recorder])
    assert recorder.epochs == [1]  # epoch 0 was done before the interruption
    assert "from epoch 2: epochs 1-1 restored from its backup" in capsys.readouterr().err
    assert len(result.history["loss"]) == 1
    with open(tmp_path / "run" / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1"]
    assert not os.path.exists(tmp_path / "run" / "backup")
    assert result.metrics["epochs_logged"] == 2

    # It ends where an uninterrupted run does: its epoch 1 trained on the pipeline's
    # second pass, not on the first again, with the dropout masks of epoch 1.
    _, uninterrupted, _ = tiny_run
    assert result.history["loss"][-1] == pytest.approx(uninterrupted.history["loss"][-1], rel=1e-5)
    for weight, other in zip(result.model.weights, uninterrupted.model.weights, strict=True):
        np.testing.assert_allclose(weight.numpy(), other.numpy(), rtol=1e-4, atol=1e-6)


def test_a_run_killed_after_logging_an_epoch_but_before_backing_it_up_repeats_it_once(
    kadid_root, tiny_run, tmp_path, monkeypatch
):
    from iqa_keras.training.callbacks import EpochBackup

    back_up = EpochBackup.on_epoch_end

    def killed_before_the_second_backup(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("killed between the log and the backup")
        back_up(self, epoch, logs)

    values = tiny_values(kadid_root, tmp_path / "run", epochs=2)
    monkeypatch.setattr(EpochBackup, "on_epoch_end", killed_before_the_second_backup)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(values))
    monkeypatch.undo()
    with open(tmp_path / "run" / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1"]  # epoch 1 logged, not backed up

    recorder = EpochRecorder()
    result = train(config_from_dict(values), callbacks=[recorder])
    assert recorder.epochs == [1]
    with open(tmp_path / "run" / "log.csv") as file:
        rows = list(csv.DictReader(file))
    _, uninterrupted, uninterrupted_run = tiny_run
    with open(uninterrupted_run / "log.csv") as file:
        expected = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0", "1"]  # the repeated epoch once
    assert [float(row["val_srcc"]) for row in rows] == pytest.approx([float(row["val_srcc"]) for row in expected])
    assert result.metrics["best_epoch"] == uninterrupted.metrics["best_epoch"]


def test_a_run_killed_while_testing_its_best_model_does_not_train_again(kadid_root, tmp_path, monkeypatch):
    import iqa_keras.training.fit as fit_module

    values = tiny_values(kadid_root, tmp_path / "run", epochs=1)
    final_metrics = fit_module._final_metrics

    def killed(*args):
        raise KeyboardInterrupt("killed in the test evaluation")

    monkeypatch.setattr(fit_module, "_final_metrics", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(values))
    monkeypatch.setattr(fit_module, "_final_metrics", final_metrics)
    trained = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)

    recorder = EpochRecorder()
    result = train(config_from_dict(values), callbacks=[recorder])
    assert recorder.epochs == [] and result.metrics["epochs_logged"] == 1
    assert set(os.listdir(tmp_path / "run")) - {"tensorboard"} == {"best.keras", "config.yaml", "log.csv", "metrics.json", OUTPUT_MARKER}
    for weight, other in zip(result.model.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(weight.numpy(), other.numpy())

    with pytest.raises(ConfigError, match=r"`output_dir` holds a finished run \(.*metrics.json\), which this one would overwrite"):
        train(config_from_dict(values))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == result.metrics


def test_a_run_killed_while_deleting_its_backup_is_not_taken_for_an_unfinished_one(kadid_root, tmp_path, monkeypatch):
    rmtree = shutil.rmtree

    def killed_while_deleting(path, *args, **kwargs):
        if os.path.basename(path) == ".iqa-keras-backup" and not kwargs.get("ignore_errors"):
            raise KeyboardInterrupt("killed while deleting the backup")
        rmtree(path, *args, **kwargs)

    values = tiny_values(kadid_root, tmp_path / "run", epochs=1)
    monkeypatch.setattr(shutil, "rmtree", killed_while_deleting)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(values))
    monkeypatch.undo()
    metrics = (tmp_path / "run" / "metrics.json").read_text()
    with pytest.raises(ConfigError, match=r"`output_dir` holds a finished run"):
        train(config_from_dict(values))  # not trained again from the first epoch
    assert (tmp_path / "run" / "metrics.json").read_text() == metrics
    assert set(os.listdir(tmp_path / "run")) - {"tensorboard"} == {"best.keras", "config.yaml", "log.csv", "metrics.json", OUTPUT_MARKER}


def test_tiled_validation_pools_the_tiles_as_the_scorer(kadid_root, tmp_path):
    # 64x64 images in 4 tiles of 32: each epoch's figures are the test figures' rule.
    values = tiny_values(kadid_root, tmp_path / "run", epochs=1)
    values["data"]["evaluation"] = {
        "batch_size": 3, "resize_to": [64, 64], "tile_size": 32, "tile_overlap": 0, "num_parallel_calls": 2
    }
    config = config_from_dict(values)
    validation = split_records(config.data, read_dataset("kadid10k", str(kadid_root)))["validation"]
    result = train(config)
    tiled, _ = predict_scores(result.model, validation, config.data.evaluation)
    whole, _ = predict_scores(result.model, validation, dataclasses.replace(config.data.evaluation, tile_size=64))
    assert not np.allclose(tiled, whole, atol=1e-6)  # the tiles' attention sees its own window only
    expected = evaluate(*predict_scores(result.model, validation, config.data.evaluation))
    assert result.history["val_srcc"] == [pytest.approx(expected.srcc)]
    assert result.history["val_plcc"] == [pytest.approx(expected.plcc_raw)]
    assert result.metrics["best_val_srcc"] == pytest.approx(expected.srcc)


def test_mixed_bfloat16_fit_on_cpu_keeps_float32_outputs():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    distorted = np.clip(reference + rng.normal(0, 30, reference.shape), 0, 255).astype("float32")
    scores = rng.uniform(0, 1, (8, 1)).astype("float32")
    with precision_policy("mixed_bfloat16"):
        model = build_model(ModelConfig(arguments=TINY_MODEL))
        compile_model(model, [LossTerm("mae"), LossTerm("plcc")], OptimizerConfig(warmup_epochs=0), 2, 1, 64)
        history = model.fit(
            {"reference": reference, "distorted": distorted}, scores, batch_size=4, epochs=1, verbose=0
        )
    assert keras.config.dtype_policy().name == "float32"
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("encoder_small").get_layer("scale1_conv1").compute_dtype == "bfloat16"
    assert all(weight.dtype == "float32" for weight in model.trainable_weights)
    assert np.isfinite(history.history["loss"][0])
    outputs = model({"reference": reference[:2], "distorted": distorted[:2]})
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"


def test_finetune_reports_before_and_after_and_keeps_the_frozen_encoder(tmp_path):
    data_csv = write_ratings_csv(tmp_path, references=10, seed=2, with_reference=True)
    keras.utils.set_random_seed(0)
    original = build_model(ModelConfig(arguments=TINY_MODEL))
    original.save(tmp_path / "model.keras")

    result = finetune(
        tmp_path / "model.keras", data_csv, tmp_path / "out",
        freeze_encoder=True, learning_rate=1e-3, epochs=2, batch_size=8, crop_size=32,
    )

    assert result.frozen == ["encoder_small"]
    report = result.as_dict()
    for when in ("before", "after"):
        assert report[when]["n"] == 6  # 2 of 10 references held out, 3 images each
        assert np.isfinite(report[when]["srcc"]) and np.isfinite(report[when]["plcc"])
    table = result.table()
    assert f"{result.before.srcc:6.4f}" in table and f"{result.after.plcc:6.4f}" in table
    with open(tmp_path / "out" / "finetune.json") as file:
        assert json.load(file) == report

    tuned = keras.saving.load_model(result.model_path, compile=False)
    for before, after in zip(original.get_layer("encoder_small").weights, tuned.get_layer("encoder_small").weights):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after), err_msg=before.path)
    head_before = np.asarray(original.get_layer("quality_head").kernel)
    head_after = np.asarray(tuned.get_layer("quality_head").kernel)
    assert not np.allclose(head_before, head_after)
    with pytest.raises(FileExistsError, match=r"holds an earlier result, .*finetuned.keras, which finetune never overwrites"):
        finetune(tmp_path / "model.keras", data_csv, tmp_path / "out", crop_size=32)


def test_train_and_finetune_refuse_a_folder_of_the_users_own_files(kadid_root, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own notes")
    (mine / "best.keras").write_bytes(b"my own model")
    with pytest.raises(FileExistsError, match=r"output_dir .*mine holds files that iqa-keras did not write \(e.g. best.keras\)"):
        train(config_from_dict(tiny_values(kadid_root, mine)))
    data_csv = write_ratings_csv(tmp_path, references=10, seed=2, with_reference=True)
    build_model(ModelConfig(arguments=TINY_MODEL)).save(tmp_path / "model.keras")
    with pytest.raises(FileExistsError, match=r"holds files that iqa-keras did not write \(e.g. best.keras\)"):
        finetune(tmp_path / "model.keras", data_csv, mine, epochs=1, crop_size=32)
    assert sorted(os.listdir(mine)) == ["best.keras", "config.yaml"]
    assert (mine / "config.yaml").read_text() == "my own notes" and (mine / "best.keras").read_bytes() == b"my own model"


def test_finetune_refuses_images_without_references_for_a_full_reference_model_and_whole_image_batches(tmp_path):
    data_csv = write_ratings_csv(tmp_path, references=5, seed=4, with_reference=False)
    build_model(ModelConfig(arguments=TINY_MODEL)).save(tmp_path / "fr.keras")
    with pytest.raises(ValueError, match=r"takes reference, which these records do not give .*my_images"):
        finetune(tmp_path / "fr.keras", data_csv, tmp_path / "out", crop_size=32)
    with pytest.raises(ValueError, match=r"`crop_size=None` trains on whole images.*batch_size=8"):
        finetune(tmp_path / "fr.keras", data_csv, tmp_path / "out", crop_size=None, batch_size=8)


@pytest.mark.filterwarnings("ignore::iqa_keras.evaluation.LogisticFitWarning")  # an untrained model
def test_finetune_of_a_no_reference_model_keeps_its_generator_and_discriminator(tmp_path):
    data_csv = write_ratings_csv(tmp_path, references=12, seed=3, with_reference=False)
    keras.utils.set_random_seed(0)
    original = build_model(ModelConfig(name="hallucinated_iqa", arguments=TINY_NR_MODEL))
    original.save(tmp_path / "nr.keras")

    result = finetune(tmp_path / "nr.keras", data_csv, tmp_path / "out",
                      learning_rate=1e-3, epochs=1, batch_size=4, crop_size=32)

    assert result.frozen == [original.generator.name, original.discriminator.name]
    assert np.isfinite(result.after.srcc)
    tuned = keras.saving.load_model(result.model_path, compile=False)
    for part in ("generator", "discriminator"):
        for before, after in zip(getattr(original, part).weights, getattr(tuned, part).weights):
            np.testing.assert_array_equal(np.asarray(before), np.asarray(after), err_msg=before.path)
    head_before = np.asarray(original.regressor.get_layer("quality_head").kernel)
    assert not np.allclose(head_before, np.asarray(tuned.regressor.get_layer("quality_head").kernel))


@pytest.mark.filterwarnings("ignore::iqa_keras.evaluation.LogisticFitWarning")  # an untrained model
def test_finetune_without_freezing_trains_the_parts_a_recipe_b_model_froze_at_its_learning_rate(
    tmp_path, monkeypatch
):
    import iqa_keras.training.fit as fit_module

    gans = []

    def recording(*args, gan=None, **kwargs):
        gans.append(gan)
        return compile_model(*args, gan=gan, **kwargs)

    monkeypatch.setattr(fit_module, "compile_model", recording)
    data_csv = write_ratings_csv(tmp_path, references=10, seed=5, with_reference=True)
    keras.utils.set_random_seed(0)
    original = HallucinatedIQA.for_no_reference_data(build_model(ModelConfig(name="hallucinated_iqa", arguments=TINY_NR_MODEL)))
    original.save(tmp_path / "recipe_b.keras")  # its generator and discriminator saved frozen

    result = finetune(tmp_path / "recipe_b.keras", data_csv, tmp_path / "out", freeze_encoder=False,
                      learning_rate=1e-3, epochs=1, batch_size=4, crop_size=32)

    assert result.frozen == []
    assert gans[0].generator_learning_rate == gans[0].discriminator_learning_rate == 1e-3
    tuned = keras.saving.load_model(result.model_path, compile=False)
    for part in ("generator", "discriminator"):
        changed = [not np.array_equal(np.asarray(before), np.asarray(after))
                   for before, after in zip(getattr(original, part).weights, getattr(tuned, part).weights)]
        assert any(changed), part


@pytest.mark.parametrize("train_reference, evaluation_reference, message", [
    (False, True, r"`model.name` siamese_difference is full-reference, and data.dataset 'kadid10k' with "
                  r"data.train.use_reference False gives none"),
    (True, False, r"`data.evaluation.use_reference` must be true for the full-reference model"),
])  # fmt: skip
def test_a_full_reference_run_without_references_is_refused_before_its_folder_is_made(
    kadid_root, tmp_path, train_reference, evaluation_reference, message
):
    values = tiny_values(kadid_root, tmp_path / "run")
    values["data"]["train"]["use_reference"] = train_reference
    values["data"]["evaluation"]["use_reference"] = evaluation_reference
    with pytest.raises(ConfigError, match=message):
        train(config_from_dict(values))
    assert not (tmp_path / "run").exists()


def test_finetune_names_a_held_out_part_too_small_to_score(tmp_path):
    data_csv = write_ratings_csv(tmp_path, references=2, seed=6, with_reference=False)  # 6 images
    build_model(ModelConfig(arguments=TINY_MODEL)).save(tmp_path / "model.keras")
    with pytest.raises(ValueError, match=r"`validation_split` 0.2 of .* holds out 1 image\(s\); the before/after correlations need at least 2"):
        finetune(tmp_path / "model.keras", data_csv, tmp_path / "out", crop_size=32)


@pytest.mark.parametrize("epochs", [0, -2, 1.5, True])
def test_finetune_refuses_epochs_that_are_not_a_positive_integer(tmp_path, epochs):
    with pytest.raises(ValueError, match=f"`epochs` must be a positive integer. Received: epochs={epochs!r}"):
        finetune(tmp_path / "model.keras", tmp_path / "ratings.csv", tmp_path / "out", epochs=epochs)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # Keras, on a dataset of unknown length
def test_the_schedule_knows_the_steps_when_unreadable_images_may_be_skipped(kadid_root, tmp_path, monkeypatch):
    import iqa_keras.training.fit as fit_module

    seen = []

    def recording(model, losses, optimizer, steps_per_epoch, *args, **kwargs):
        seen.append(steps_per_epoch)
        return compile_model(model, losses, optimizer, steps_per_epoch, *args, **kwargs)

    monkeypatch.setattr(fit_module, "compile_model", recording)
    values = tiny_values(kadid_root, tmp_path / "run", epochs=1)
    values["data"]["train"]["on_error"] = "skip"  # the dataset's length is then unknown
    train(config_from_dict(values))
    assert seen == [12]  # 6 training photos x 2 levels x 4 patches in batches of 4 (unknown: -2, a zero rate)


@pytest.mark.parametrize("resize, expected", [
    ({}, "is 32x32 (width x height), smaller than `crop_size` 64x64"),
    ({"resize_shorter_side": 48}, "is 32x32 (width x height, 48x48 after resizing), smaller than `crop_size` 64x64"),
])  # fmt: skip
def test_train_names_an_image_smaller_than_the_crops_before_training(kadid_root, tmp_path, resize, expected):
    values = tiny_values(kadid_root, tmp_path / "run")
    values["data"]["train"].update({"crop_size": 64, **resize})
    with pytest.raises(DatasetError, match=r"Image \S+I\d+\S*\.png " + re.escape(expected)):
        train(config_from_dict(values))
    assert not os.path.exists(tmp_path / "run" / "log.csv")  # stopped before model.fit


def test_an_unreadable_image_met_in_training_stops_the_run_naming_it_without_hanging(tmp_path):
    """Under OneDeviceStrategy the process hung at exit after the error: its
    MultiDeviceIterator's destructor waited, holding the GIL, for a prefetch thread blocked
    on the GIL in the Pillow decoder. Run in a subprocess under a timeout."""
    import subprocess
    import sys

    import yaml

    root = write_kadid_layout(str(tmp_path / "kadid"))
    for index in range(1, 7):  # one level of each of 6 photos: the header (size) reads, the pixels do not
        path = os.path.join(root, "images", f"I{index:02d}_01_{index % 2 + 1:02d}.png")
        with open(path, "rb") as file:
            head = file.read(120)
        with open(path, "wb") as file:
            file.write(head)
    values = tiny_values(root, tmp_path / "run", epochs=2)
    values["model"] = {"name": "hallucinated_iqa", "arguments": TINY_NR_MODEL}
    values["gan"] = {"generator_learning_rate": 1e-3}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(values))
    process = subprocess.run([sys.executable, "-m", "iqa_keras.cli", "train", str(config)], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert process.returncode == 1, process.stderr[-2000:]
    [line] = [line for line in process.stderr.splitlines() if line.startswith("iqa-keras train: error:")]
    assert re.fullmatch(r"iqa-keras train: error: Cannot read image \S+I0\d_01_0\d\.png: image file is truncated", line)
    assert not {"log.csv", "best.keras", "metrics.json"} & set(os.listdir(tmp_path / "run"))


def test_training_per_split_writes_each_splits_figures_and_the_median_and_resumes(kadid_root, tmp_path):
    from iqa_keras.training import train_splits

    values = tiny_values(kadid_root, tmp_path / "splits", epochs=1)
    rows = train_splits(config_from_dict(values), 2)
    assert [row["split"] for row in rows] == ["1", "2", "median"]
    assert rows[-1]["srcc"] == pytest.approx(float(np.median([row["srcc"] for row in rows[:2]])))
    with open(tmp_path / "splits" / "splits.json") as file:
        assert json.load(file) == rows
    tested = []
    for index in (1, 2):
        run = tmp_path / "splits" / f"split-{index:02d}"
        config = load_config(run / "config.yaml")
        assert config.data.repeat == index - 1
        tested.append({record.content_id for record in read_parts(config.data)["test"]})
    assert tested[0] != tested[1]  # two random splits, not one twice
    recorder = EpochRecorder()
    assert train_splits(config_from_dict(values), 2, callbacks=[recorder]) == rows  # finished: read back
    assert recorder.epochs == []
    changed = config_from_dict(values, {"optimizer.learning_rate": 5e-4})
    with pytest.raises(ConfigError, match="split-01 holds a finished split trained with another config"):
        train_splits(changed, 2)


def test_kfold_training_tests_every_content_once(kadid_root, tmp_path):
    from iqa_keras.training import train_splits

    values = tiny_values(kadid_root, tmp_path / "folds", epochs=1)
    values["data"].update({"split": "kfold", "folds": 2})
    with pytest.raises(ConfigError, match=r"`splits` must equal data.folds \(2\) with split: kfold. Received: 3"):
        train_splits(config_from_dict(values), 3)
    rows = train_splits(config_from_dict(values), 2)
    parts = [read_parts(load_config(tmp_path / "folds" / f"split-{i:02d}" / "config.yaml").data) for i in (1, 2)]
    tested = [{record.content_id for record in part["test"]} for part in parts]
    assert not tested[0] & tested[1] and len(tested[0] | tested[1]) == 12
    assert [row["n"] for row in rows[:2]] == [len(part["test"]) for part in parts]
