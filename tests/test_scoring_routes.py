"""One model, one answer: every route from images to scores gives the same scores.

The routes: the Python API, `iqa-keras score`, `iqa-keras evaluate`, a training run's
test figures, `finetune`'s before figures, the exported SavedModel and the local server.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import iqa_keras
from iqa_keras.cli import main
from iqa_keras.data import read_dataset, split_by_content
from iqa_keras.evaluation import evaluate
from iqa_keras.export import export_saved_model
from iqa_keras.serving import Client, ModelServer
from iqa_keras.training import ModelConfig, build_model, config_from_dict, split_records, finetune, predict_scores, train
from test_training_fit import TINY_MODEL, tiny_values, write_kadid_layout, write_ratings_csv

FIGURES = ("srcc", "krcc", "plcc", "plcc_raw", "rmse")


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A tiny full-reference model file and a ratings CSV of 12 pairs, with the records."""
    folder = tmp_path_factory.mktemp("routes")
    data_csv = write_ratings_csv(folder, references=4, seed=3, with_reference=True)
    model_path = str(folder / "model.keras")
    build_model(ModelConfig(arguments=TINY_MODEL)).save(model_path)
    return model_path, str(data_csv), read_dataset("csv", str(data_csv))


@pytest.fixture(scope="module")
def python_scores(rated):
    """The Python API's score of each record: the route the others must equal."""
    model_path, _, records = rated
    model = iqa_keras.load(model_path)
    return np.array([iqa_keras.score(r.distorted, reference=r.reference, model=model) for r in records])


def assert_same_figures(figures, expected):
    for name in FIGURES:
        assert figures[name] == pytest.approx(getattr(expected, name), abs=1e-5), name


def test_the_command_scores_as_python(rated, python_scores, capsys):
    model_path, _, records = rated
    for record, expected in zip(records[:3], python_scores):
        assert main(["score", "--model", model_path, "-r", record.reference, record.distorted,
                     "--format", "json", "--no-progress"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["score"] == pytest.approx(expected, abs=1e-5)


def test_evaluate_and_the_test_figures_route_equal_python(rated, python_scores, capsys):
    model_path, data_csv, records = rated
    expected = evaluate(python_scores, [record.score for record in records])
    predictions, _ = predict_scores(iqa_keras.load(model_path, compile=False), records)
    np.testing.assert_allclose(predictions, python_scores, atol=1e-5)
    assert main(["evaluate", "--model", model_path, "--dataset", "csv", "--root", data_csv,
                 "--format", "json", "--no-progress"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert_same_figures(row, expected)


def test_a_training_runs_test_figures_equal_python_on_its_best_model(tmp_path):
    root = write_kadid_layout(str(tmp_path / "kadid"))
    config = config_from_dict(tiny_values(root, tmp_path / "run", epochs=1))
    result = train(config)
    test = split_records(config.data, read_dataset("kadid10k", root))["test"]
    model = iqa_keras.load(result.best_model_path)
    scores = [iqa_keras.score(r.distorted, reference=r.reference, model=model) for r in test]
    assert_same_figures(result.metrics["test"], evaluate(scores, [record.score for record in test]))


def test_finetunes_before_figures_equal_python(rated, python_scores, tmp_path):
    model_path, data_csv, records = rated
    result = finetune(model_path, data_csv, tmp_path / "out", epochs=1, crop_size=32, validation_split=0.5)
    (parts,) = split_by_content(records, {"train": 0.5, "held_out": 0.5}, seed=0)
    held_out = [python_scores[records.index(record)] for record in parts["held_out"]]
    expected = evaluate(held_out, [record.score for record in parts["held_out"]])
    assert_same_figures(result.before.as_dict(), expected)


def test_the_saved_model_and_the_server_score_as_python(rated, python_scores, tmp_path):
    model_path, _, records = rated
    export_saved_model(iqa_keras.load(model_path, compile=False), tmp_path / "served" / "tiny")
    served = tf.saved_model.load(os.path.join(tmp_path, "served", "tiny", "1")).signatures["serve_bytes"]
    read = [(open(r.reference, "rb").read(), open(r.distorted, "rb").read()) for r in records]
    outputs = served(reference_bytes=tf.constant([pair[0] for pair in read]),
                     distorted_bytes=tf.constant([pair[1] for pair in read]))
    np.testing.assert_allclose(outputs["score"].numpy(), python_scores, atol=1e-5)
    with ModelServer(str(tmp_path / "served" / "tiny"), port=0).start() as running:
        scores = Client(running.url, "tiny").score([r.distorted for r in records], [r.reference for r in records])
    np.testing.assert_allclose(scores, python_scores, atol=1e-5)
