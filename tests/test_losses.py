"""Tests of iqa_keras.losses: NumPy references, gradients, edge batches, saving, fit, JAX."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from iqa_keras.losses import (
    CombinedLoss,
    MeanAbsoluteError,
    MeanSquaredError,
    NormInNormLoss,
    PairwiseRankingLoss,
    PLCCLoss,
    SoftSRCCLoss,
)

BATCH_SIZES = [2, 3, 7, 16]

# --------------------------------------------------------------------------------------
# NumPy references, written from the definitions (loops where that is clearest).


def reference_plcc_loss(y_true, y_pred):
    return 1.0 - np.corrcoef(y_true, y_pred)[0, 1]


def reference_soft_srcc_loss(y_true, y_pred, regularization_strength):
    standardized = (y_pred - y_pred.mean()) / y_pred.std()
    gaps = (standardized[:, None] - standardized[None, :]) / regularization_strength
    soft_ranks = 0.5 + (1.0 / (1.0 + np.exp(-gaps))).sum(axis=1)
    true_ranks = stats.rankdata(y_true)
    n = len(y_true)
    permutation_norm = np.sqrt(n * (n**2 - 1) / 12)  # = np.std(np.arange(n)) * sqrt(n)
    true_deviation = true_ranks - true_ranks.mean()
    covariance = np.sum((soft_ranks - soft_ranks.mean()) * true_deviation)
    return 1.0 - covariance / (permutation_norm * np.linalg.norm(true_deviation))


def reference_pairwise_loss(y_true, y_pred, margin, smoothing, weight_by_difference):
    total, total_weight = 0.0, 0.0
    for i in range(len(y_true)):
        for j in range(len(y_true)):
            if y_true[i] <= y_true[j]:
                continue
            shortfall = margin - (y_pred[i] - y_pred[j])
            if smoothing > 0:
                penalty = smoothing * np.log1p(np.exp(shortfall / smoothing))
            else:
                penalty = max(0.0, shortfall)
            weight = y_true[i] - y_true[j] if weight_by_difference else 1.0
            total += weight * penalty
            total_weight += weight
    return total / total_weight if total_weight else 0.0


def reference_norm_in_norm_loss(y_true, y_pred, p, q, linear_fit_weight):
    def normalized(x):
        deviation = x - x.mean()
        return deviation / np.sum(np.abs(deviation) ** q) ** (1 / q)

    predicted, target = normalized(y_pred), normalized(y_true)
    scale = 2**p * len(y_true) ** max(0.0, 1 - p / q)
    rho = predicted @ target / np.linalg.norm(predicted) / np.linalg.norm(target)
    error_loss = np.sum(np.abs(predicted - target) ** p) / scale
    fit_loss = np.sum(np.abs(rho * predicted - target) ** p) / scale
    return (error_loss + linear_fit_weight * fit_loss) / (1 + linear_fit_weight)


CASES = {
    "mae": (MeanAbsoluteError(), lambda t, p: np.mean(np.abs(t - p))),
    "mse": (MeanSquaredError(), lambda t, p: np.mean((t - p) ** 2)),
    "plcc": (PLCCLoss(), reference_plcc_loss),
    "soft_srcc": (
        SoftSRCCLoss(regularization_strength=0.3),
        lambda t, p: reference_soft_srcc_loss(t, p, 0.3),
    ),
    "hinge": (
        PairwiseRankingLoss(margin=0.2),
        lambda t, p: reference_pairwise_loss(t, p, 0.2, 0.0, False),
    ),
    "logistic_weighted": (
        PairwiseRankingLoss(margin=0.1, smoothing=0.5, weight_by_difference=True),
        lambda t, p: reference_pairwise_loss(t, p, 0.1, 0.5, True),
    ),
    "norm_in_norm": (NormInNormLoss(), lambda t, p: reference_norm_in_norm_loss(t, p, 1, 2, 0)),
    "norm_in_norm_variant": (
        NormInNormLoss(p=2, q=3, linear_fit_weight=0.1),
        lambda t, p: reference_norm_in_norm_loss(t, p, 2, 3, 0.1),
    ),
}
BATCH_LOSSES = [
    PLCCLoss(),
    SoftSRCCLoss(),
    PairwiseRankingLoss(margin=0.1),
    PairwiseRankingLoss(smoothing=0.1),
    NormInNormLoss(),
    NormInNormLoss(p=2, q=2, linear_fit_weight=0.1),
]


def random_scores(batch_size, seed=0):
    rng = np.random.default_rng(seed + batch_size)
    y_true = rng.uniform(1.0, 5.0, batch_size)
    y_pred = 0.5 * y_true + rng.normal(0.0, 0.8, batch_size)
    return y_true, y_pred


def loss_and_gradient(loss, y_true, y_pred):
    y_pred = tf.Variable(np.asarray(y_pred, np.float32))
    with tf.GradientTape() as tape:
        value = loss(np.asarray(y_true, np.float32), y_pred)
    return float(value), tape.gradient(value, y_pred).numpy()


# --------------------------------------------------------------------------------------
# Values.


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_reference(case, batch_size):
    loss, reference = CASES[case]
    y_true, y_pred = random_scores(batch_size)
    value = loss(y_true[:, None], y_pred[:, None])  # (N, 1), as from model.predict
    assert value.shape == ()
    np.testing.assert_allclose(float(value), reference(y_true, y_pred), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(loss(y_true, y_pred)), float(value), rtol=1e-6)


def test_soft_srcc_approaches_srcc_as_regularization_shrinks():
    y_true = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 3.5, 1.5, 2.5, 4.5])
    y_pred = random_scores(12, seed=3)[1]
    exact = 1.0 - stats.spearmanr(y_true, y_pred).statistic
    errors = [
        abs(float(SoftSRCCLoss(regularization_strength=t)(y_true, y_pred)) - exact)
        for t in (1.0, 0.1, 0.01, 1e-4)
    ]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-5 < errors[0]


def test_correlation_losses_ignore_offset_and_scale_of_predictions():
    y_true, y_pred = random_scores(7)
    for loss in (PLCCLoss(), SoftSRCCLoss(), NormInNormLoss()):
        np.testing.assert_allclose(
            float(loss(y_true, 100.0 * y_pred - 3.0)), float(loss(y_true, y_pred)), rtol=1e-4
        )


def test_correlation_losses_at_perfect_and_reversed_order():
    y_true = np.arange(6.0)
    for loss in (PLCCLoss(), SoftSRCCLoss(regularization_strength=1e-3)):
        assert float(loss(y_true, 2.0 * y_true + 1.0)) == pytest.approx(0.0, abs=1e-5)
        assert float(loss(y_true, -y_true)) == pytest.approx(2.0, abs=1e-5)


def test_pairwise_is_zero_when_ordered_beyond_the_margin_and_positive_otherwise():
    y_true = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    y_pred = 0.5 * y_true  # every ordered pair's gap is >= 0.5
    assert float(PairwiseRankingLoss(margin=0.4)(y_true, y_pred)) == 0.0
    assert float(PairwiseRankingLoss(margin=0.6)(y_true, y_pred)) > 0.0
    assert float(PairwiseRankingLoss()(y_true, -y_pred)) > 0.0


def test_pairwise_without_pairs_is_zero_with_zero_gradient():
    for loss in (PairwiseRankingLoss(margin=1.0), PairwiseRankingLoss(smoothing=0.5)):
        value, gradient = loss_and_gradient(loss, [3.0, 3.0, 3.0], [1.0, 2.0, 0.5])
        assert value == 0.0
        np.testing.assert_array_equal(gradient, 0.0)


def test_combined_loss_is_the_weighted_sum():
    y_true, y_pred = random_scores(7)
    parts = [MeanSquaredError(), PLCCLoss(), SoftSRCCLoss(), PairwiseRankingLoss(margin=0.1)]
    weights = [1.0, 0.5, 2.0, 0.25]
    expected = sum(w * float(part(y_true, y_pred)) for part, w in zip(parts, weights))
    value = CombinedLoss(parts, weights)(y_true, y_pred)
    assert float(value) == pytest.approx(expected, rel=1e-5)
    assert float(CombinedLoss(parts[:2])(y_true, y_pred)) == pytest.approx(
        float(parts[0](y_true, y_pred)) + float(parts[1](y_true, y_pred)), rel=1e-5
    )


def test_combined_loss_passes_sample_weight_to_per_sample_losses():
    y_true, y_pred = random_scores(4)
    weights = np.array([1.0, 0.0, 2.0, 0.0])
    expected = MeanAbsoluteError()(y_true, y_pred, sample_weight=weights)
    assert float(CombinedLoss([MeanAbsoluteError()])(y_true, y_pred, weights)) == pytest.approx(
        float(expected)
    )


# --------------------------------------------------------------------------------------
# Gradients, constant and one-sample batches, dtypes.


@pytest.mark.parametrize("loss", BATCH_LOSSES, ids=lambda loss: loss.name)
@pytest.mark.parametrize("constant", ["none", "y_pred", "y_true", "both"])
def test_loss_and_gradient_are_finite(loss, constant):
    y_true, y_pred = random_scores(7)
    if constant in ("y_pred", "both"):
        y_pred = np.full(7, 0.3)
    if constant in ("y_true", "both"):
        y_true = np.full(7, 2.0)
    value, gradient = loss_and_gradient(loss, y_true, y_pred)
    assert np.isfinite(value)
    assert np.all(np.isfinite(gradient))
    if constant == "y_pred" and not isinstance(loss, PairwiseRankingLoss):
        assert np.any(gradient != 0.0)  # a constant head must still be able to learn


def test_gradient_improves_plcc_from_a_constant_batch():
    y_true = np.array([1.0, 4.0, 2.0, 3.0])
    _, gradient = loss_and_gradient(PLCCLoss(), y_true, np.zeros(4))
    assert stats.spearmanr(-gradient, y_true).statistic == pytest.approx(1.0)


@pytest.mark.parametrize("loss", BATCH_LOSSES, ids=lambda loss: loss.name)
def test_dynamic_batch_of_any_size_in_a_compiled_function(loss):
    spec = tf.TensorSpec((None, 1), tf.float32)

    @tf.function(input_signature=[spec, spec])
    def value_and_gradient(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred)
        return value, tape.gradient(value, y_pred)

    for batch_size in (2, 3, 16):
        y_true, y_pred = random_scores(batch_size)
        arguments = [np.float32(y)[:, None] for y in (y_true, y_pred)]
        value, _ = value_and_gradient(*arguments)
        np.testing.assert_allclose(float(value), float(loss(*arguments)), rtol=1e-5, atol=1e-6)
    value, gradient = value_and_gradient(np.float32([[3.0]]), np.float32([[1.0]]))
    assert float(value) == (1.0 if isinstance(loss, (PLCCLoss, SoftSRCCLoss)) else 0.0)
    np.testing.assert_array_equal(gradient, 0.0)


@pytest.mark.parametrize("loss", BATCH_LOSSES, ids=lambda loss: loss.name)
def test_half_precision_predictions_give_a_float32_loss(loss):
    y_true, y_pred = random_scores(7)
    value = loss(y_true, tf.constant(y_pred, tf.float16))
    assert value.dtype == tf.float32
    expected = float(loss(y_true, np.float16(y_pred).astype(np.float32)))
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("loss", BATCH_LOSSES, ids=lambda loss: loss.name)
def test_a_batch_of_one_sample_gives_a_finite_value_and_no_gradient(loss):
    y_pred = tf.Variable([[1.0]])
    with tf.GradientTape() as tape:
        value = loss([[3.0]], y_pred)
    assert np.isfinite(float(value))
    assert float(tf.reduce_sum(tf.abs(tape.gradient(value, y_pred)))) == 0.0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(3, 2\)"):
        PLCCLoss()(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="y_true with 3 scores, y_pred with 4"):
        PLCCLoss()(np.ones(3), np.ones(4))


def test_sample_weight_is_refused_by_batch_losses():
    with pytest.raises(ValueError, match="Expected sample_weight=None"):
        SoftSRCCLoss()([1.0, 2.0], [1.0, 2.0], sample_weight=[1.0, 1.0])
    with pytest.raises(ValueError, match="Expected sample_weight=None"):
        CombinedLoss([MeanAbsoluteError(), PLCCLoss()])([1.0, 2.0], [1.0, 2.0], [1.0, 1.0])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PLCCLoss(epsilon=0.0), "epsilon=0.0"),
        (lambda: SoftSRCCLoss(regularization_strength=-1.0), "regularization_strength=-1.0"),
        (lambda: SoftSRCCLoss(regularization_strength="0.1"), "regularization_strength='0.1'"),
        (lambda: PairwiseRankingLoss(margin=-0.1), "margin=-0.1"),
        (lambda: PairwiseRankingLoss(smoothing=float("nan")), "smoothing=nan"),
        (lambda: PairwiseRankingLoss(weight_by_difference=1), "weight_by_difference=1"),
        (lambda: NormInNormLoss(p=0.5), "p=0.5"),
        (lambda: NormInNormLoss(q=True), "q=True"),
        (lambda: NormInNormLoss(linear_fit_weight=-1), "linear_fit_weight=-1"),
        (lambda: CombinedLoss([]), "losses=\\[\\]"),
        (lambda: CombinedLoss([PLCCLoss(), "mae"]), "type str"),
        (lambda: CombinedLoss([PLCCLoss()], weights=[1.0, 2.0]), "weights=\\[1.0, 2.0\\]"),
        (lambda: CombinedLoss([PLCCLoss()], weights=[-1.0]), "weights=\\[-1.0\\]"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_arguments_raise(make, message):
    with pytest.raises(ValueError, match=f"Received: .*{message}"):
        make()


# --------------------------------------------------------------------------------------
# Serialization and saving.


ALL_LOSSES = BATCH_LOSSES + [
    CombinedLoss([MeanAbsoluteError(), PLCCLoss(epsilon=1e-4)], weights=[1.0, 0.3]),
    CombinedLoss([CombinedLoss([SoftSRCCLoss()]), NormInNormLoss(p=2)], name="nested"),
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: loss.name)
def test_serialization_round_trip(loss):
    serialized = keras.saving.serialize_keras_object(loss)
    json.dumps(serialized)  # plain data, fit for a .keras file
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    y_true, y_pred = random_scores(7)
    assert float(restored(y_true, y_pred)) == pytest.approx(float(loss(y_true, y_pred)))


def test_loss_config_survives_a_saved_model(tmp_path):
    loss = CombinedLoss(
        [MeanSquaredError(), SoftSRCCLoss(regularization_strength=0.05),
         PairwiseRankingLoss(margin=0.2, weight_by_difference=True), NormInNormLoss(q=3)],
        weights=[1.0, 0.5, 0.25, 2.0],
        name="iqa_loss",
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss=loss)
    model.optimizer.build(model.trainable_variables)  # saved with its variables
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(restored.loss, CombinedLoss)
    assert restored.loss.get_config() == loss.get_config()
    assert [type(part) for part in restored.loss.losses] == [type(part) for part in loss.losses]


# --------------------------------------------------------------------------------------
# Training with model.fit, and the JAX backend.


def regression_problem():
    """200 samples of 4 features; the score is a monotone function of one direction."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    direction = np.array([1.0, -2.0, 0.5, 1.5], np.float32)
    scores = 1.0 + 4.0 / (1.0 + np.exp(-features @ direction / 2.0))  # MOS-like, 1-5
    return features, scores.astype(np.float32), -direction


@pytest.mark.parametrize(
    "loss",
    [
        PLCCLoss(),
        SoftSRCCLoss(),
        PairwiseRankingLoss(margin=0.1),
        NormInNormLoss(linear_fit_weight=0.1),
        CombinedLoss([MeanAbsoluteError(), PLCCLoss(), PairwiseRankingLoss(smoothing=0.1)]),
    ],
    ids=lambda loss: loss.name,
)
def test_fit_decreases_the_loss_and_improves_srcc(loss):
    features, scores, wrong_direction = regression_problem()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.set_weights([0.3 * wrong_direction[:, None], np.zeros(1, np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss=loss)
    before = stats.spearmanr(model.predict(features, verbose=0)[:, 0], scores).statistic
    # 200 = 12 batches of 16 and a last partial batch of 8
    history = model.fit(features, scores, batch_size=16, epochs=4, shuffle=False, verbose=0)
    after = stats.spearmanr(model.predict(features, verbose=0)[:, 0], scores).statistic
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert before < 0.0 < 0.9 < after


JAX_SCRIPT = """
import json, sys
import jax, keras, numpy as np
from iqa_keras import losses
y_true, y_pred = (np.array(v, np.float32) for v in json.loads(sys.argv[1]))
checked = [getattr(losses, name).from_config(config) for name, config in json.loads(sys.argv[2])]
values = jax.jit(lambda p: [loss(y_true, p) for loss in checked])(y_pred)
soft_srcc = losses.SoftSRCCLoss()
gradient = jax.jit(jax.grad(lambda p: soft_srcc(y_true, p)))(np.full_like(y_pred, 0.5))
print(json.dumps({"backend": keras.backend.backend(), "values": [float(v) for v in values],
                  "finite_gradient": bool(np.all(np.isfinite(gradient)))}))
"""


def test_jax_backend_gives_the_same_values():
    y_true, y_pred = random_scores(7)
    configs = [(type(loss).__name__, loss.get_config()) for loss in BATCH_LOSSES]
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, json.dumps([y_true.tolist(), y_pred.tolist()]),
         json.dumps(configs)],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["finite_gradient"]
    expected = [float(loss(y_true, y_pred)) for loss in BATCH_LOSSES]
    np.testing.assert_allclose(report["values"], expected, rtol=1e-5, atol=1e-6)
