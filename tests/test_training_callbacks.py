"""The run's callbacks driven epoch by epoch: best checkpoint and early stopping when a
validation SRCC is NaN (an epoch that scored every image alike)."""

import math
import os

import keras
import pytest

from iqa_keras.training.callbacks import BEST_MODEL, EpochBackup, FiniteEarlyStopping, training_callbacks


def run_epochs(callbacks, model, values, first_epoch=0):
    """Ends one epoch per value of val_srcc; returns the epochs after which training stops."""
    stops = []
    for callback in callbacks:
        callback.set_model(model)
        callback.on_train_begin()
    for epoch, value in enumerate(values, start=first_epoch):
        logs = {"loss": 1.0, "val_srcc": value}
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            stops.append(epoch)
            model.stop_training = False
    return stops


@pytest.fixture
def model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.stop_training = False
    return model


def test_a_first_nan_epoch_is_not_the_best_and_a_later_one_is(tmp_path, model):
    def weights_of_epoch(epoch, logs):
        model.layers[0].kernel.assign([[epoch], [epoch]])

    callbacks = [keras.callbacks.LambdaCallback(on_epoch_end=weights_of_epoch)] + [
        c for c in training_callbacks(str(tmp_path)) if not isinstance(c, keras.callbacks.TensorBoard)
    ]
    run_epochs(callbacks, model, [math.nan, 0.4, 0.3])
    best = keras.saving.load_model(tmp_path / BEST_MODEL, compile=False)
    assert best.layers[0].kernel.numpy().tolist() == [[1.0], [1.0]]


@pytest.mark.parametrize("values, stops", [
    ([math.nan, 0.1, 0.2, 0.3, 0.4], []),             # improving after a NaN: patience never runs out
    ([0.5, math.nan, math.nan, 0.6], [2]),            # NaNs are no improvement
])
def test_early_stopping_takes_nan_as_no_improvement(model, values, stops):
    assert run_epochs([FiniteEarlyStopping(monitor="val_srcc", mode="max", patience=2)], model, values) == stops


@pytest.mark.parametrize("logged, then, patience, stop", [
    ([0.5, 0.4], 0.3, 2, 2),                # 1 epoch since the best, then 1 more without improvement
    ([0.5, 0.6], 0.3, 2, 3),                # the best was the last epoch: 2 more
    ([0.5, math.nan], 0.3, 3, 3),           # a NaN epoch counts as one without improvement
    ([math.nan, math.nan], math.nan, 3, 3),  # all NaN: the first is the best, as uninterrupted
])  # fmt: skip
def test_resumed_early_stopping_counts_the_epochs_since_the_logged_best(tmp_path, model, logged, then, patience, stop):
    # Uninterrupted, the same values stop at the same epoch.
    uninterrupted = FiniteEarlyStopping(monitor="val_srcc", mode="max", patience=patience)
    assert run_epochs([uninterrupted], model, logged + [then] * 3)[0] == stop
    rows = ["epoch,loss,val_srcc"] + [f"{epoch},1.0,{value}" for epoch, value in enumerate(logged)]
    rows.append(f"{len(logged)},1.0,0.99")  # an epoch the backup does not hold: not counted
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    model._initial_epoch = len(logged)
    stopping = FiniteEarlyStopping(monitor="val_srcc", mode="max", patience=patience, output_dir=str(tmp_path))
    assert run_epochs([stopping], model, [then] * 3, first_epoch=len(logged))[0] == stop


def run_callbacks(output_dir, **options):
    return [c for c in training_callbacks(str(output_dir), **options) if not isinstance(c, keras.callbacks.TensorBoard)]


def test_the_backup_records_that_early_stopping_ended_training(tmp_path, model):
    callbacks = run_callbacks(tmp_path, early_stopping_patience=1)
    assert run_epochs(callbacks, model, [0.5, 0.4]) == [1]
    assert EpochBackup(str(tmp_path / "backup")).state()["finished"]
    assert EpochBackup(str(tmp_path / "backup")).state()["epoch"] == 2


def test_a_backup_killed_before_its_commit_leaves_the_previous_one_whole(tmp_path, model, monkeypatch):
    import iqa_keras.training.callbacks as callbacks_module

    backup = EpochBackup(str(tmp_path))
    backup.set_model(model)
    model.layers[0].kernel.assign([[1.0], [1.0]])
    backup.on_epoch_end(0)
    model.layers[0].kernel.assign([[2.0], [2.0]])
    def killed(*args):
        raise KeyboardInterrupt("killed before the commit")

    monkeypatch.setattr(callbacks_module, "write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        backup.on_epoch_end(1)  # the weights of epoch 1 written, the state not
    monkeypatch.undo()
    model.layers[0].kernel.assign([[0.0], [0.0]])
    model._initial_epoch = None
    backup.restore()
    assert model.layers[0].kernel.numpy().tolist() == [[1.0], [1.0]] and model._initial_epoch == 1
    backup.on_epoch_end(1)
    assert [name for name in os.listdir(tmp_path) if name.endswith(".h5")] == [backup.state()["weights"]]


def test_a_resumed_checkpoint_must_beat_the_best_epoch_the_backup_holds(tmp_path, model):
    def weights_of_epoch(epoch, logs):
        model.layers[0].kernel.assign([[epoch], [epoch]])

    first = [keras.callbacks.LambdaCallback(on_epoch_end=weights_of_epoch)] + run_callbacks(tmp_path)
    run_epochs(first, model, [0.5])
    log = tmp_path / "log.csv"
    log.write_text(log.read_text() + "1,1.0,0.9\n")  # epoch 1 logged, killed before its backup
    resumed = [keras.callbacks.LambdaCallback(on_epoch_end=weights_of_epoch)] + run_callbacks(tmp_path)
    run_epochs(resumed, model, [0.7], first_epoch=1)  # the repeated epoch 1 scores lower this time
    best = keras.saving.load_model(tmp_path / BEST_MODEL, compile=False)
    assert best.layers[0].kernel.numpy().tolist() == [[1.0], [1.0]]


def test_a_worker_resumes_from_the_chiefs_backup_and_writes_nothing(tmp_path, model):
    model.layers[0].kernel.assign([[3.0], [3.0]])
    run_epochs(run_callbacks(tmp_path, early_stopping_patience=5), model, [0.5, 0.6])  # the chief's 2 epochs
    files = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    model.layers[0].kernel.assign([[0.0], [0.0]])
    model._initial_epoch = None

    worker = run_callbacks(tmp_path, early_stopping_patience=5, writes_files=False)
    run_epochs(worker, model, [0.7], first_epoch=2)

    assert model._initial_epoch == 2 and model.layers[0].kernel.numpy().tolist() == [[3.0], [3.0]]
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == files
