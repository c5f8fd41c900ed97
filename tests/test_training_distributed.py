"""Tests of training under tf.distribute: MirroredStrategy over 2 logical CPU devices, and
MultiWorkerMirroredStrategy with two worker processes on loopback.

Each runs in fresh processes: logical devices and collectives must be set up before
TensorFlow initialises its devices.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from test_training_fit import TINY_MODEL, tiny_values, write_kadid_layout

TIMEOUT_S = 240

# Both runs see batches of 8 made of 4 pairs twice, so that each of the 2 replicas of the
# mirrored run gets the same 4 pairs: its batch statistics, batch losses and gradients
# then equal the single device's over the whole batch, and the runs must agree.
MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from iqa_keras.correlation_metrics import PLCC, SRCC
from iqa_keras.losses import MeanSquaredError
from iqa_keras.training import ModelConfig, build_model, make_strategy

rng = np.random.default_rng(0)
reference = rng.uniform(0, 255, (2, 4, 32, 32, 3)).astype("float32")
distorted = np.clip(reference + rng.normal(0, 30, reference.shape), 0, 255).astype("float32")
score = rng.uniform(0, 1, (2, 4)).astype("float32")
twice = lambda batches: np.concatenate([np.concatenate([batch, batch]) for batch in batches])
data = tf.data.Dataset.from_tensor_slices(
    ({"reference": twice(reference), "distorted": twice(distorted)}, twice(score))
).batch(8)
results = {}
for name in ("one", "mirrored"):
    strategy = make_strategy(name)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(ModelConfig(arguments=json.loads(sys.argv[1])))
        # Plain SGD and a smooth loss: Adam's steps hardly depend on the gradients' scale,
        # so they would hide replicas' gradients summed instead of averaged, and the
        # correlation losses' steep gradients on a fresh model amplify rounding errors.
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=MeanSquaredError(), metrics=[SRCC(64), PLCC()])
    history = model.fit(data, epochs=3, verbose=0)
    results[name] = {
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "srcc": history.history["srcc"],
        "plcc": history.history["plcc"],
        "weights": [np.asarray(weight).tolist() for weight in model.get_weights()],
    }
with open(sys.argv[2], "w") as file:
    json.dump(results, file)
"""

WORKER_SCRIPT = """
import hashlib, json, sys
import numpy as np
from iqa_keras.training import config_from_dict, train

result = train(config_from_dict(json.loads(sys.argv[1])))
digest = hashlib.sha256()
for weight in result.model.get_weights():
    digest.update(np.ascontiguousarray(weight, dtype=np.float32).tobytes())
with open(sys.argv[2], "w") as file:
    json.dump({"sha256": digest.hexdigest(), "steps": int(result.model.optimizer.iterations.numpy()),
               "metrics": result.metrics}, file)
"""


def finished_processes(commands, environments, timeout=TIMEOUT_S):
    """Starts the commands together, waits for all (kills them all on a timeout), and
    returns each one's (exit code, output)."""
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for command, env in zip(commands, environments)
    ]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=timeout)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [(process.returncode, output) for process, output in zip(processes, outputs)]


def run_processes(commands, environments, timeout=TIMEOUT_S):
    """`finished_processes`, each of which must exit 0."""
    for code, output in finished_processes(commands, environments, timeout):
        assert code == 0, output[output.find("Traceback"):][:3000]


def multiworker_commands(tmp_path):
    """Two workers of a tiny multiworker run on loopback: (commands, environments)."""
    root = write_kadid_layout(str(tmp_path / "kadid"))
    values = tiny_values(root, tmp_path / "run", epochs=1)
    values["trainer"]["strategy"] = "multiworker"
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    commands, environments = [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        commands.append(
            [sys.executable, "-c", WORKER_SCRIPT, json.dumps(values), str(tmp_path / f"worker{index}.json")]
        )
        environments.append(environment(TF_CONFIG=json.dumps(tf_config)))
    return commands, environments


def environment(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", **extra}


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def mirrored_results(tmp_path_factory):
    output = str(tmp_path_factory.mktemp("mirrored") / "results.json")
    run_processes([[sys.executable, "-c", MIRRORED_SCRIPT, json.dumps(TINY_MODEL), output]], [environment()])
    with open(output) as file:
        return json.load(file)


def test_mirrored_over_two_cpu_devices_matches_one_device(mirrored_results):
    one, mirrored = mirrored_results["one"], mirrored_results["mirrored"]
    assert (one["replicas"], mirrored["replicas"]) == (1, 2)
    np.testing.assert_allclose(mirrored["loss"], one["loss"], rtol=2e-3)
    assert one["loss"][-1] < one["loss"][0]  # it learnt: the epochs are not all alike
    for single, replicated in zip(one["weights"], mirrored["weights"]):
        np.testing.assert_allclose(replicated, single, rtol=1e-2, atol=1e-4)


def test_mirrored_correlation_metrics_match_one_device(mirrored_results):
    # Each replica gathers the whole batch, so the epoch's SRCC and PLCC are the same
    # numbers as on one device (the weights differ by rounding only, see above).
    for metric in ("srcc", "plcc"):
        np.testing.assert_allclose(
            mirrored_results["mirrored"][metric], mirrored_results["one"][metric], atol=0.02
        )


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="Keras 3.15's TF trainer (_maybe_symbolic_build) calls strategy.reduce('MEAN') on the "
    "nested first batch before fit, which MultiWorkerMirroredStrategy rejects "
    "('Attempt to convert a value ({...PerReplica...}) to a Tensor'); Mirrored accepts it. "
    "Upstream: keras-team/keras#20329 (MultiWorkerMirroredStrategy and input dictionaries)",
)
def test_multiworker_two_processes_agree_on_the_final_weights(tmp_path):
    run_processes(*multiworker_commands(tmp_path))

    reports = []
    for index in range(2):
        with open(tmp_path / f"worker{index}.json") as file:
            reports.append(json.load(file))
    assert reports[0]["sha256"] == reports[1]["sha256"]
    assert reports[0]["steps"] == reports[1]["steps"] == 3  # 12 training pairs, batches of 4
    # Only the chief (worker 0) writes the run's files and evaluates the best model.
    assert reports[0]["metrics"]["test"]["n"] == 6 and reports[1]["metrics"] == {}
    files = {"best.keras", "config.yaml", "log.csv", "metrics.json"}  # no backup left behind
    assert set(os.listdir(tmp_path / "run")) - {"tensorboard"} == files


def test_one_device_trains_under_the_default_strategy_which_needs_no_multi_device_iterator():
    """OneDeviceStrategy fed `fit` through a MultiDeviceIterator whose destructor deadlocked
    with the Pillow decoder (a process that never exited after an unreadable image); the
    default strategy iterates the dataset itself."""
    import tensorflow as tf

    from iqa_keras.training import make_strategy

    strategy = make_strategy("one")
    assert strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy()
    distributed = strategy.experimental_distribute_dataset(tf.data.Dataset.range(4).batch(2))
    assert "MultiDevice" not in type(iter(distributed)).__name__
    assert [batch.numpy().tolist() for batch in distributed] == [[0, 1], [2, 3]]


@pytest.mark.slow
def test_multiworker_on_tensorflow_fails_with_a_config_error_naming_what_works(tmp_path):
    """Until Keras fixes its TF trainer (the strict xfail above): the error says why and what works."""
    for code, output in finished_processes(*multiworker_commands(tmp_path)):
        assert code != 0
        assert "ConfigError: `trainer.strategy` is multiworker, which Keras 3.15's TensorFlow trainer cannot run" in output
        assert "strategy: mirrored" in output and "keras.distribution.DataParallel" in output
