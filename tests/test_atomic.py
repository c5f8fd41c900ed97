"""Atomic writes: the old file or the new one, never a partial one, and no leftovers."""

import os

import keras
import numpy as np
import pytest

from iqa_keras.atomic import TEMPORARY_PREFIX, save_model_atomic, write_atomic


def test_a_write_gets_a_normal_files_permissions_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "scores.csv"
    write_atomic(path, lambda file: file.write(b"new"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.read_bytes() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["scores.csv"]


def test_a_failing_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_bytes(b"old")

    def fail(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["scores.csv"]


def test_a_write_that_must_not_replace_keeps_a_file_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "model.onnx"

    def write_while_another_writer_publishes(file):
        file.write(b"mine")
        path.write_bytes(b"theirs")

    with pytest.raises(FileExistsError, match=r"model\.onnx appeared while it was written"):
        write_atomic(path, write_while_another_writer_publishes, replace=False)
    assert path.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["model.onnx"]
    write_atomic(tmp_path / "new.onnx", lambda file: file.write(b"mine"), replace=False)
    assert (tmp_path / "new.onnx").read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "new.onnx"]


def test_a_saved_model_loads_and_leaves_no_temporary_file(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_model_atomic(model, tmp_path / "model.keras")
    save_model_atomic(model, tmp_path / "model.keras")  # over an existing file
    assert os.listdir(tmp_path) == ["model.keras"]
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_a_failing_model_save_keeps_the_old_file(tmp_path):
    class Unsaveable(keras.Model):
        def get_config(self):
            raise RuntimeError("cannot serialise")

    path = tmp_path / "model.keras"
    path.write_bytes(b"old model")
    with pytest.raises(RuntimeError, match="cannot serialise"):
        save_model_atomic(Unsaveable(), path)
    assert path.read_bytes() == b"old model"
    assert not any(name.startswith(TEMPORARY_PREFIX) for name in os.listdir(tmp_path))
