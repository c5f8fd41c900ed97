"""Tests of training HallucinatedIQA from a config: recipe (a) joint training on a
generated KADID-layout dataset, recipe (b) on a no-reference CSV dataset from (a)'s
best model, the shipped `training/*_nr.yaml` configs, and errors named by field.
"""

import csv
import glob
import json
import os
import re

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from iqa_keras.atomic import OUTPUT_MARKER
from iqa_keras.data.generate import generate_dataset
from iqa_keras.models import HallucinatedIQA
from iqa_keras.training import ConfigError, ModelConfig, build_model, config_from_dict, load_config, train

# The test parts hold 2 to 4 images: too few for the fitted PLCC, which is then nan.
pytestmark = pytest.mark.filterwarnings("ignore::iqa_keras.evaluation.LogisticFitWarning")
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_PARTS = {
    "generator": {"filters": 8, "num_downsamples": 1, "num_residual_blocks": 0},
    "discriminator": {"filters": 8, "num_downsamples": 2},
    "regressor": {"filters": 8, "num_downsamples": 1, "num_residual_blocks": 0},
}
TRAINER = {"epochs": 2, "precision": "float32", "strategy": "one", "early_stopping_patience": None}


def smooth_images(count, size, seed):
    """`count` smooth random RGB images (uint8), so that distortions are visible."""
    rng = np.random.default_rng(seed)
    images = ndimage.gaussian_filter(rng.uniform(0, 255, (count, size, size, 3)), (0, 3, 3, 0))
    low, high = images.min(axis=(1, 2, 3), keepdims=True), images.max(axis=(1, 2, 3), keepdims=True)
    return (255 * (images - low) / (high - low)).astype(np.uint8)


def joint_values(root, output_dir):
    """Recipe (a) on the generated dataset: 3 contents, one per part, 4 images each."""
    return {
        "output_dir": str(output_dir),
        "data": {
            "dataset": "kadid10k",
            "root": str(root),
            "ratios": {"train": 0.34, "validation": 0.33, "test": 0.33},
            "train": {"batch_size": 4, "crop_size": 32, "patches_per_image": 1, "num_parallel_calls": 2},
            "evaluation": {"batch_size": 4, "resize_to": [48, 48], "num_parallel_calls": 2},
        },
        "model": {"name": "hallucinated_iqa", "arguments": TINY_PARTS},
        "losses": [{"name": "mae"}, {"name": "pairwise_ranking"}],
        "optimizer": {"learning_rate": 1e-3, "warmup_epochs": 0},
        # The quality-aware target, as the shipped configs train, on (N,) pipeline scores.
        "gan": {"generator_learning_rate": 1e-3, "adversarial_loss": "non_saturating", "quality_aware": True},
        "trainer": TRAINER,
    }


def no_reference_values(data_csv, output_dir, pretrained):
    """Recipe (b) on the CSV dataset from `pretrained`."""
    return {
        "output_dir": str(output_dir),
        "data": {
            "dataset": "csv",
            "root": str(data_csv),
            "ratios": {"train": 0.5, "validation": 0.25, "test": 0.25},
            "train": {"batch_size": 4, "crop_size": 32, "patches_per_image": 1, "num_parallel_calls": 2},
            "evaluation": {"batch_size": 1, "num_parallel_calls": 2},
        },
        "model": {"name": "hallucinated_iqa", "pretrained": str(pretrained)},
        "optimizer": {"learning_rate": 1e-3, "warmup_epochs": 0},
        "trainer": TRAINER,
    }


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    """`generate_dataset` on 3 tiny photos: 2 types x 2 levels each, KADID-10k layout."""
    pristine = tmp_path_factory.mktemp("pristine")
    for index, image in enumerate(smooth_images(3, 48, seed=0)):
        Image.fromarray(image).save(pristine / f"photo{index}.png")
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(pristine, root, types=["gaussian_blur", "white_noise"], levels=(1, 4), progress=False)
    return root


@pytest.fixture(scope="module")
def no_reference_csv(tmp_path_factory):
    """8 photos with noise of known strength, listed as `distorted,score` (no references)."""
    folder = tmp_path_factory.mktemp("no_reference")
    rng = np.random.default_rng(1)
    rows = []
    for index, image in enumerate(smooth_images(8, 40, seed=2)):
        strength = (index + 1) / 8
        noisy = np.clip(image + rng.normal(0, 60 * strength, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"photo{index}.png")
        rows.append((f"photo{index}.png", 100 * (1 - strength)))
    with open(folder / "ratings.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["distorted", "score"])
        writer.writerows(rows)
    return folder / "ratings.csv"


@pytest.fixture(scope="module")
def joint_run(synthetic_root, tmp_path_factory):
    config = config_from_dict(joint_values(synthetic_root, tmp_path_factory.mktemp("runs") / "joint"))
    return config, train(config)


def test_joint_training_writes_the_run_files_and_logs_the_generator(joint_run):
    config, result = joint_run
    run = config.output_dir
    assert set(os.listdir(run)) - {"tensorboard"} == {"best.keras", "config.yaml", "log.csv", "metrics.json", OUTPUT_MARKER}
    assert load_config(os.path.join(run, "config.yaml")) == config
    assert config.gan.loss_weights["pixel"] == 1.0 and config.gan.quality_aware  # defaults filled, ours kept
    with open(os.path.join(run, "log.csv")) as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    logged = {"generator_l1", "discriminator_loss", "regressor_loss", "val_srcc", "val_plcc"}
    assert logged <= set(rows[0])
    assert all(np.isfinite(float(row["generator_l1"])) for row in rows)
    with open(os.path.join(run, "metrics.json")) as file:
        metrics = json.load(file)
    assert metrics["best_epoch"] in (1, 2) and metrics["test"]["n"] == 4  # too few for a fitted PLCC
    assert metrics["test"]["srcc"] == pytest.approx(result.metrics["test"]["srcc"])
    best = keras.saving.load_model(result.best_model_path, compile=False)
    assert isinstance(best, HallucinatedIQA) and best.generator.filters == 8


def test_no_reference_training_from_the_joint_model_trains_the_regressor_only(
    joint_run, no_reference_csv, tmp_path
):
    _, joint = joint_run
    pretrained = keras.saving.load_model(joint.best_model_path, compile=False)
    config = config_from_dict(no_reference_values(no_reference_csv, tmp_path / "run", joint.best_model_path))
    assert config.gan is None
    result = train(config)

    model = result.model
    assert not model.generator.trainable and model.regressor.trainable
    for part in ("generator", "discriminator"):
        for before, after in zip(getattr(pretrained, part).weights, getattr(model, part).weights):
            np.testing.assert_array_equal(np.asarray(before), np.asarray(after), err_msg=after.path)
    regressor_before = [np.asarray(weight) for weight in pretrained.regressor.trainable_weights]
    regressor_after = [np.asarray(weight) for weight in model.regressor.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(regressor_before, regressor_after))
    with open(tmp_path / "run" / "log.csv") as file:
        columns = set(next(csv.DictReader(file)))
    assert "val_srcc" in columns and "generator_l1" not in columns  # no references
    assert result.metrics["test"]["n"] == 2


def test_joint_training_without_references_asks_for_a_pretrained_model(no_reference_csv, tmp_path):
    values = no_reference_values(no_reference_csv, tmp_path / "run", "unused.keras")
    values["model"] = {"name": "hallucinated_iqa", "arguments": TINY_PARTS}
    with pytest.raises(ConfigError, match="`model.pretrained` is required without references .*'csv'"):
        train(config_from_dict(values))


def test_a_missing_pretrained_file_is_named_before_the_run_starts(no_reference_csv, tmp_path):
    missing = str(tmp_path / "missing.keras")
    config = config_from_dict(no_reference_values(no_reference_csv, tmp_path / "run", missing))
    with pytest.raises(ConfigError, match=re.escape(f"`model.pretrained` names no file. Received: {missing!r}")):
        train(config)
    assert not os.path.exists(tmp_path / "run")


def test_a_pretrained_model_that_is_not_hallucinated_iqa_is_rejected(no_reference_csv, tmp_path):
    siamese = build_model(ModelConfig(arguments={"encoder_options": {"filters": [4, 4, 4, 4]}, "fusion_filters": 4}))
    siamese.save(tmp_path / "siamese.keras")
    config = config_from_dict(no_reference_values(no_reference_csv, tmp_path / "run", tmp_path / "siamese.keras"))
    with pytest.raises(ConfigError, match="`model.pretrained` must be a saved HallucinatedIQA.*a SiameseDifferenceIQA"):
        train(config)


def test_a_fresh_regressor_can_replace_the_pretrained_one(tmp_path):
    pretrained = build_model(ModelConfig("hallucinated_iqa", TINY_PARTS))
    pretrained.save(tmp_path / "pretrained.keras")
    model = build_model(ModelConfig(
        "hallucinated_iqa", {"regressor": {"filters": 4, "num_residual_blocks": 0}}, str(tmp_path / "pretrained.keras")
    ))
    assert model.regressor.filters == 4 and model.generator.filters == 8 and not model.generator.trainable


SHIPPED = sorted(glob.glob(os.path.join(REPOSITORY, "training", "*_nr.yaml")))


def test_every_no_reference_recipe_is_shipped():
    names = {os.path.basename(path) for path in SHIPPED}
    assert names == {"synthetic_nr.yaml", "kadid10k_nr.yaml", "koniq10k_nr.yaml", "livec_nr.yaml", "spaq_nr.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_shipped_configs_load_and_validate(path):
    with open(path) as file:
        header = file.read().split("\noutput_dir:")[0]
    assert f"iqa-keras train training/{os.path.basename(path)} --set data.root=" in header
    config = load_config(path, ["data.root=elsewhere"])
    assert config.data.root == "elsewhere" and config.model.name == "hallucinated_iqa"
    assert config.output_dir and not os.path.isabs(config.output_dir)
    if config.model.pretrained is None:  # recipe (a): references teach the generator
        assert config.gan is not None and config.data.dataset == "kadid10k"
        build_model(ModelConfig(config.model.name, config.model.arguments))
    else:  # recipe (b): the synthetic run's generator
        assert config.gan is None and config.model.pretrained == "runs/synthetic_nr/best.keras"
    if config.data.dataset == "spaq":
        assert config.data.train.resize_shorter_side == config.data.evaluation.resize_shorter_side == 512


BASE = {"output_dir": "runs/demo", "data": {"root": "data"}, "model": {"name": "hallucinated_iqa"}}


@pytest.mark.parametrize(
    "override, message",
    [
        ({"model.name": "hallucinated"}, "`model.name` must be one of hallucinated_iqa, siamese_difference. Received: 'hallucinated'"),
        ({"model.arguments.encoder": "small"}, "`model.arguments.encoder` is not a part of HallucinatedIQA. Expected one of: generator, discriminator, regressor"),
        ({"model.arguments.generator.filter": 8}, "`model.arguments.generator.filter` is not an argument of HallucinationGenerator"),
        ({"model.arguments.discriminator": 8}, "`model.arguments.discriminator` must be a mapping of the part's arguments. Received: 8"),
        ({"model.arguments.regressor.feature_channels": 8}, "`model.arguments.regressor.feature_channels` follows the generator's features"),
        ({"model.pretrained": "runs/a/best.h5"}, r"`model.pretrained` must be the path of a saved HallucinatedIQA \(.keras\). Received: 'runs/a/best.h5'"),
        ({"model.pretrained": "a.keras", "model.arguments.generator.filters": 8}, "`model.arguments.generator` comes from `model.pretrained`"),
        ({"model.name": "siamese_difference", "model.pretrained": "a.keras"}, "`model.pretrained` is for name: hallucinated_iqa"),
        ({"gan.adversarial_loss": "wasserstein"}, "`gan.adversarial_loss` must be one of hinge, non_saturating. Received: 'wasserstein'"),
        ({"gan.loss_weights.pixel": -1}, "`gan.loss_weights.pixel` must be a number >= 0. Received: -1"),
        ({"gan.loss_weights.style": 1}, "`gan.loss_weights.style` is not a loss weight of HallucinatedIQA"),
        ({"gan.quality_aware": "yes"}, "`gan.quality_aware` must be true or false. Received: 'yes'"),
        ({"gan.quality_threshold": 0}, "`gan.quality_threshold` must be a number > 0. Received: 0"),
        ({"gan.generator_learning_rate": -1e-4}, "`gan.generator_learning_rate` must be a number > 0"),
        ({"gan.quality_aware": True, "model.pretrained": "a.keras"}, "`gan` is for model.name hallucinated_iqa without model.pretrained"),
        ({"gan.quality_aware": True, "model.name": "siamese_difference"}, "`gan` is for .*Received: model.name 'siamese_difference'"),
        ({"gan.beta_1": 0.9}, "`gan.beta_1` is not a known key"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(BASE, override)


def test_part_values_are_checked_by_the_part_when_built():
    config = config_from_dict(BASE, {"model.arguments.generator.filters": 0})
    with pytest.raises(ConfigError, match="`arguments.generator.filters` .*Received: filters=0"):
        build_model(config.model)
