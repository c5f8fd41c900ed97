"""Tests of iqa_keras.training.config: files, defaults, overrides, validation by field."""

import json
import os
import re

import pytest
import yaml

from iqa_keras.data import PipelineConfig
from iqa_keras.training.config import (
    ConfigError,
    DataConfig,
    LossTerm,
    ModelConfig,
    TrainingConfig,
    build_model,
    config_from_dict,
    config_to_dict,
    load_config,
    read_parts,
    save_config,
    split_records,
)

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUES = {
    "output_dir": "runs/demo",
    "data": {"root": "kadid10k", "train": {"batch_size": 8, "crop_size": 64}},
    "model": {"arguments": {"fusion_filters": 8}},
    "losses": [{"name": "mae"}, {"name": "pairwise_ranking", "weight": 0.5, "arguments": {"margin": 0.1}}],
    "optimizer": {"learning_rate": 3e-4},
    "trainer": {"epochs": 3, "precision": "float32"},
}


def test_yaml_and_json_files_give_the_same_config_with_defaults_filled(tmp_path):
    with open(tmp_path / "run.yaml", "w") as file:
        yaml.safe_dump(VALUES, file)
    with open(tmp_path / "run.json", "w") as file:
        json.dump(VALUES, file)
    config = load_config(tmp_path / "run.yaml")
    assert load_config(tmp_path / "run.json") == config
    assert config.data.train == PipelineConfig(batch_size=8, crop_size=64, patches_per_image=4)
    assert config.data.evaluation == PipelineConfig(batch_size=1)
    assert config.losses[1] == LossTerm("pairwise_ranking", 0.5, {"margin": 0.1})
    assert (config.optimizer.learning_rate, config.optimizer.weight_decay) == (3e-4, 1e-4)
    assert (config.trainer.epochs, config.trainer.strategy, config.trainer.early_stopping_patience) == (3, "auto", 10)
    assert config.data.ratios == {"train": 0.6, "validation": 0.2, "test": 0.2}


def test_yaml_reads_exponent_numbers_as_floats(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text("optimizer:\n  learning_rate: 1e-3\n  weight_decay: 5E-5\n")
    config = load_config(path)
    assert (config.optimizer.learning_rate, config.optimizer.weight_decay) == (1e-3, 5e-5)


@pytest.mark.parametrize("extension", [".yaml", ".json"])
def test_saved_config_loads_back_equal(tmp_path, extension):
    config = config_from_dict(VALUES)
    path = tmp_path / f"config{extension}"
    save_config(config, path)
    assert load_config(path) == config
    assert os.listdir(tmp_path) == [path.name]  # written through a renamed temporary file
    assert config_to_dict(load_config(path)) == config_to_dict(config)


def test_overrides_as_strings_or_mapping():
    config = config_from_dict(VALUES, ["trainer.epochs=7", "data.train.batch_size=4", "losses[1].weight=2"])
    assert (config.trainer.epochs, config.data.train.batch_size, config.losses[1].weight) == (7, 4, 2)
    assert config.data.train.crop_size == (64, 64)  # the rest of the section is kept
    same = config_from_dict(VALUES, {"trainer.epochs": 7, "data.train.batch_size": 4, "losses[1].weight": 2})
    assert same == config
    assert config_from_dict({}, ["data.root=elsewhere"]).data.root == "elsewhere"
    with pytest.raises(ConfigError, match=r"`losses\[5\]` names no item"):
        config_from_dict(VALUES, ["losses[5].weight=1"])
    with pytest.raises(ValueError, match="dotted.name=value"):
        config_from_dict(VALUES, ["trainer.epochs"])


@pytest.mark.parametrize(
    "override, message",
    [
        ({"optimizer.learning_rate": -1}, "`optimizer.learning_rate` must be a number > 0. Received: -1"),
        ({"losses[1].name": "ssim_loss"}, r"`losses\[1\].name` must be one of mae, mse, .*Received: 'ssim_loss'"),
        ({"trainer.precision": "half"}, "`trainer.precision` must be one of auto, float32, .*Received: 'half'"),
        ({"trainer.strategy": "tpu"}, "`trainer.strategy` must be one of auto, one, .*Received: 'tpu'"),
        ({"data.ratios": {"train": 0.8, "validation": 0.3, "test": 0.1}}, "`data.ratios` must give positive shares"),
        ({"data.ratios": [0.5, 0.5]}, r"`data.ratios` .*Received: \[0.5, 0.5\]"),
        ({"data.dataset": "imagenet"}, "`data.dataset` must be one of csiq, csv, .*Received: 'imagenet'"),
        ({"data.split": "random"}, "`data.split` must be one of content, kfold, official. Received: 'random'"),
        ({"data.train.batch_size": 0}, "`data.train.batch_size` must be a positive integer. Received: batch_size=0"),
        ({"data.evaluation.on_error": "ignore"}, "`data.evaluation.on_error` must be one of"),
        ({"losses[1].arguments.margin": -1}, r"`losses\[1\].arguments.margin` must be a non-negative number"),
        ({"losses[0].weight": "heavy"}, r"`losses\[0\].weight` must be a number >= 0. Received: 'heavy'"),
        ({"trainer.epochs": 0}, "`trainer.epochs` must be an integer >= 1. Received: 0"),
        ({"trainer.early_stopping_patience": 2.5}, "`trainer.early_stopping_patience` must be an integer"),
        ({"optimizer.final_learning_rate_ratio": 2}, r"`optimizer.final_learning_rate_ratio` must be a number in \[0, 1\]"),
        ({"model.name": "resnet"}, "`model.name` must be one of hallucinated_iqa, siamese_difference. Received: 'resnet'"),
        ({"model.arguments.output_keys": ["score", "quality_map"]}, "`model.arguments.output_keys` must be"),
        ({"losses": []}, "`losses` must be a non-empty list"),
        ({"losses[0]": {"weight": 1.0}}, r"`losses\[0\].name` is required"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(VALUES, override)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"optimiser": {}}, "`optimiser` is not a known key. Expected one of: output_dir, data, model"),
        ({"optimizer.learnin_rate": 1e-3}, "`optimizer.learnin_rate` is not a known key. Expected one of: learning_rate,"),
        ({"data.train.crop": 32}, "`data.train.crop` is not a known key. Expected one of: batch_size, crop_size"),
        ({"losses[0].wieght": 2}, r"`losses\[0\].wieght` is not a known key"),
        ({"model.arguments.fusion_filter": 8}, "`model.arguments.fusion_filter` is not an argument of SiameseDifferenceIQA"),
        ({"losses[0].arguments.margin": 1}, r"`losses\[0\].arguments.margin` is not an argument of MeanAbsoluteError"),
        ({"data.options.resolution": "1024x768"},
         "`data.options.resolution` is not an option of the kadid10k reader; its options: none"),
        (["losses.weight=0.5"], r"`losses` is a list: name an item, e.g. losses\[0\].weight"),
        (["losses.arguments.margin=1"], r"`losses` is a list: name an item, e.g. losses\[0\].arguments"),
    ],
)
def test_unknown_keys_are_rejected_by_name(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(VALUES, override)


def test_model_values_are_checked_by_the_constructor_when_built():
    config = ModelConfig(arguments={"fusion_filters": 0})
    with pytest.raises(ConfigError, match="`arguments.fusion_filters` .*Received: fusion_filters=0"):
        build_model(config)


@pytest.mark.parametrize("name", ["kadid10k_fr", "tid2013_fr", "pipal_fr", "synthetic_fr"])
def test_shipped_training_configs_load(name):
    config = load_config(os.path.join(REPOSITORY, "training", f"{name}.yaml"))
    assert isinstance(config, TrainingConfig) and config.data.root and config.output_dir
    assert not os.path.isabs(config.data.root)
    build_model(ModelConfig(**config_to_dict(config)["model"]))


def test_an_official_split_of_records_without_one_is_named_as_the_config_field():
    from iqa_keras.data import Record, Scale

    records = [Record(f"I{index:02d}.png", 3.0, Scale(1.0, 5.0, True), content_id=f"I{index:02d}")
               for index in range(4)]
    with pytest.raises(ConfigError, match=r"`data.split` is 'official', but None of the 4 records has an official"):
        split_records(DataConfig(dataset="kadid10k", root="x", split="official"), records)


def test_data_options_reach_the_reader(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("distorted,score\n" + "".join(f"image{index}.png,{index}\n" for index in range(1, 6)))
    for index in range(1, 6):
        (tmp_path / f"image{index}.png").write_bytes(b"")  # only their existence is checked
    default = read_parts(DataConfig(dataset="csv", root=str(ratings)))
    lower_is_better = read_parts(DataConfig(dataset="csv", root=str(ratings), options={"higher_is_better": False}))
    scores = {record.distorted: record.score for part in default.values() for record in part}
    flipped = {record.distorted: record.score for part in lower_is_better.values() for record in part}
    assert scores.keys() == flipped.keys() and len(scores) == 5
    assert all(flipped[path] == pytest.approx(1.0 - scores[path]) for path in scores)


@pytest.mark.parametrize("name, text, message", [
    ("run.yaml", "trainer: {epochs: 2\n", r"is not valid YAML: .*line"),
    ("run.yaml", "optimizer: {learning_rate: 1.0e-3}\noptimizer: {learning_rate: 1.0e-4}\n",
     r"is not valid YAML: .*the key 'optimizer' is given twice in one section.*line 2"),
    ("run.yaml", "data:\n  root: a\n  root: b\n", r"is not valid YAML: the key 'root' is given twice"),
    ("run.json", '{"trainer": {"epochs": 2, "epochs": 3}}', r"is not valid JSON: the key 'epochs' is given twice"),
    ("run.json", '{"trainer": ', r"is not valid JSON: Expecting"),
    ("run.yaml", "- trainer\n- data\n", r"must hold a mapping of config sections. Received: \['trainer', 'data'\]"),
    ("run.txt", "trainer: {epochs: 2}\n", r"is no config file: its name must end in one of .yaml, .yml, .json"),
    ("run.yaml", None, r"cannot be read: Is a directory"),
])  # fmt: skip
def test_a_config_file_that_cannot_be_read_is_named(tmp_path, name, text, message):
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=f"(?s)^`{re.escape(str(path))}` {message}"):
        load_config(path)


def test_yaml_merge_keys_share_settings_and_the_sections_own_keys_win(tmp_path):
    path = tmp_path / "run.yaml"
    shared = "data:\n  root: kadid10k\n  train: &pipeline {batch_size: 4, resize_shorter_side: 256}\n"
    path.write_text(shared + "  evaluation: {<<: *pipeline, batch_size: 1}\n")
    evaluation = load_config(path).data.evaluation
    assert (evaluation.batch_size, evaluation.resize_shorter_side) == (1, 256)
    path.write_text(shared + "  evaluation: {<<: *pipeline, batch_size: 1, batch_size: 2}\n")
    with pytest.raises(ConfigError, match="the key 'batch_size' is given twice"):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("trainer.epochs", r"`trainer.epochs` is no override: an override reads `dotted.name=value`"),
    ("trainer.epochs=[1", r"`trainer.epochs` is given a value that is not valid YAML"),
    ("...=1", r"is no override: an override must name a field"),
])  # fmt: skip
def test_a_malformed_override_is_named(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(VALUES, [override])


def test_ratios_the_data_cannot_meet_are_named_as_the_config_field():
    from iqa_keras.data import Record, Scale

    records = [Record(f"I{index:02d}.png", 3.0, Scale(1.0, 5.0, True), content_id=f"I{index:02d}")
               for index in range(2)]
    with pytest.raises(ConfigError, match=r"`data.ratios` cannot be met by x: Cannot split 2 contents into 3"):
        split_records(DataConfig(dataset="kadid10k", root="x"), records)


@pytest.mark.parametrize("options, message", [
    ({"higher_is_better": "maybe"}, r"`data.options` .*higher_is_better.* Received: \{'higher_is_better': 'maybe'\}"),
    ({"scale": [5, 1]}, r"`data.options` .*scale"),
])  # fmt: skip
def test_a_reader_option_value_the_reader_refuses_is_named_as_the_config_field(tmp_path, options, message):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("distorted,score\nimage.png,1\n")
    (tmp_path / "image.png").write_bytes(b"")
    with pytest.raises(ConfigError, match=message):
        read_parts(DataConfig(dataset="csv", root=str(ratings), options=options))


@pytest.mark.parametrize("override, message", [
    ("data.evaluation.crop_size=16", r"`data.evaluation.crop_size` applies to training batches only, and would be ignored here"),
    ("data.evaluation.patches_per_image=2", r"`data.evaluation.patches_per_image` applies to training batches only"),
    ("data.evaluation.augment=false", r"`data.evaluation.augment` applies to training batches only"),
    ("data.train.tile_size=64", r"`data.train.tile_size` applies to evaluation batches only"),
    ("losses=[{name: mae, weight: 0}]", r"`losses` must give at least one term a positive weight. Received weights: \[0"),
    ("data.split=official", r"`data.ratios` applies to split: content only"),
])  # fmt: skip
def test_fields_that_would_have_no_effect_are_refused(override, message):
    values = {**VALUES, "data": {**VALUES["data"], "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}}}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(values, [override])


@pytest.mark.parametrize("override, message", [
    (["data.train.crop_size=null"], r"`data.train.patches_per_image` needs a crop_size .* Received: 4"),
    (["data.train.crop_size=null", "data.train.patches_per_image=1"],
     r"`data.train.crop_size` is null: training batches of whole images need one size"),
])  # fmt: skip
def test_whole_image_training_batches_are_checked_when_the_config_loads(override, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(VALUES, override)
