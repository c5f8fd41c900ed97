"""Tests for the evaluation protocol: correlations, logistic fit, streaming Keras metrics."""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from scipy import stats

from iqa_keras import evaluation
from iqa_keras.evaluation import (
    PLCC,
    SRCC,
    Evaluation,
    LogisticFitWarning,
    LogisticMapping,
    evaluate,
    fit_logistic,
    krcc,
    plcc,
    rmse,
    srcc,
)


def _logistic(x, b1, b2, b3, b4, b5):
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


@pytest.fixture
def noisy_scores():
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=200)
    mos = np.tanh(predictions) + 0.3 * rng.normal(size=200)
    return predictions, mos


@pytest.fixture
def tied_scores():
    """Five-level predictions against MOS rounded to halves: many ties on both sides."""
    rng = np.random.default_rng(1)
    predictions = rng.integers(0, 5, size=300).astype(float)
    mos = np.round(2 * (predictions + rng.normal(scale=1.5, size=300))) / 2
    return predictions, mos


# --------------------------------------------------------------------------------------
# Correlations against scipy and hand values.


@pytest.mark.parametrize("scores", ["noisy_scores", "tied_scores"])
def test_correlations_equal_scipy(scores, request):
    predictions, mos = request.getfixturevalue(scores)
    assert srcc(predictions, mos) == pytest.approx(stats.spearmanr(predictions, mos)[0], abs=1e-6)
    expected_tau_b = stats.kendalltau(predictions, mos, variant="b")[0]
    assert krcc(predictions, mos) == pytest.approx(expected_tau_b, abs=1e-6)
    assert plcc(predictions, mos) == pytest.approx(stats.pearsonr(predictions, mos)[0], abs=1e-6)


def test_srcc_averages_tied_ranks(tied_scores):
    predictions, mos = tied_scores
    pearson_of_average_ranks = np.corrcoef(stats.rankdata(predictions), stats.rankdata(mos))[0, 1]
    assert srcc(predictions, mos) == pytest.approx(pearson_of_average_ranks, abs=1e-9)


def test_tie_corrections_by_hand():
    # Pairs: 4 concordant, 0 discordant, 1 tied in predictions only, 1 in mos only.
    # tau-b = 4 / sqrt(5 * 5) = 0.8 (tau-a would be 4 / 6). Average ranks
    # [1, 2.5, 2.5, 4] and [1.5, 1.5, 3, 4] correlate at 3.75 / 4.5 (the no-ties
    # formula 1 - 6 sum(d^2) / (n (n^2 - 1)) would give 0.85).
    predictions, mos = [1, 2, 2, 3], [1, 1, 2, 3]
    assert krcc(predictions, mos) == pytest.approx(0.8, abs=1e-12)
    assert srcc(predictions, mos) == pytest.approx(3.75 / 4.5, abs=1e-12)


def test_accepts_lists_column_arrays_and_tensors(noisy_scores):
    predictions, mos = noisy_scores
    expected = srcc(predictions, mos)
    assert srcc(list(predictions), list(mos)) == pytest.approx(expected, abs=1e-12)
    assert srcc(predictions[:, None], mos) == pytest.approx(expected, abs=1e-12)
    tensor = keras.ops.convert_to_tensor(predictions.astype("float32"))
    assert srcc(tensor, mos) == pytest.approx(expected, abs=1e-6)


def test_decreasing_relation_gives_negative_correlations(noisy_scores):
    predictions, mos = noisy_scores
    assert srcc(-predictions, mos) == pytest.approx(-srcc(predictions, mos), abs=1e-12)
    assert krcc(-predictions, mos) == pytest.approx(-krcc(predictions, mos), abs=1e-12)
    assert plcc(-predictions, mos) == pytest.approx(-plcc(predictions, mos), abs=1e-12)


# --------------------------------------------------------------------------------------
# Logistic fit and RMSE.


@pytest.mark.parametrize(
    "true_params",
    [(4.0, 0.1, 50.0, 0.01, 2.5), (3.0, -0.08, 40.0, 0.0, 3.0)],
    ids=["increasing", "decreasing"],
)
def test_fit_recovers_known_parameters(true_params):
    rng = np.random.default_rng(2)
    predictions = rng.uniform(0, 100, size=400)
    mos = _logistic(predictions, *true_params) + rng.normal(scale=0.01, size=400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean fit warns about nothing
        mapping = fit_logistic(predictions, mos)
    assert mapping.kind == "logistic"
    assert mapping.params == pytest.approx(true_params, rel=0.05, abs=2e-3)
    grid = np.linspace(0, 100, 11)
    np.testing.assert_allclose(mapping(grid), _logistic(grid, *true_params), atol=0.02)


def test_fit_stores_positive_amplitude():
    # (b1, b2) and (-b1, -b2) draw the same curve; the stored form has b1 >= 0.
    predictions = np.linspace(0, 1, 50)
    mos = _logistic(predictions, -2.0, -12.0, 0.5, 0.0, 1.0)
    mapping = fit_logistic(predictions, mos)
    assert mapping.b1 == pytest.approx(2.0, rel=1e-3)
    assert mapping.b2 == pytest.approx(12.0, rel=1e-3)


def test_fit_does_not_depend_on_the_prediction_scale():
    rng = np.random.default_rng(3)
    predictions = rng.uniform(0, 1, size=100)
    mos = 1 + 4 * predictions**3 + 0.05 * rng.normal(size=100)
    small, large = fit_logistic(predictions, mos), fit_logistic(1000 * predictions, mos)
    np.testing.assert_allclose(small(predictions), large(1000 * predictions), atol=1e-4)


def test_fitted_plcc_beats_raw_on_monotone_nonlinear_data():
    rng = np.random.default_rng(4)
    predictions = rng.uniform(0, 1, size=200)
    mos = np.exp(4 * predictions) + 0.5 * rng.normal(size=200)
    fitted, raw = plcc(predictions, mos, fit=True), plcc(predictions, mos)
    assert fitted > raw + 0.02
    mapped = fit_logistic(predictions, mos)(predictions)
    assert fitted == pytest.approx(stats.pearsonr(mapped, mos)[0], abs=1e-12)


def test_rmse_by_hand(noisy_scores):
    assert rmse([1, 2, 3], [1, 2, 5], fit=False) == pytest.approx((4 / 3) ** 0.5, abs=1e-12)
    predictions, mos = noisy_scores
    mapped = fit_logistic(predictions, mos)(predictions)
    assert rmse(predictions, mos) == pytest.approx(np.sqrt(np.mean((mapped - mos) ** 2)), 1e-12)
    # The logistic family holds every straight line, so the fit is at least as good.
    slope, intercept = np.polyfit(predictions, mos, 1)
    line_error = np.sqrt(np.mean((slope * predictions + intercept - mos) ** 2))
    assert rmse(predictions, mos) <= line_error


def test_rmse_is_zero_on_exact_logistic_data():
    predictions = np.linspace(0, 10, 40)
    mos = _logistic(predictions, 3.0, 1.5, 5.0, 0.1, 2.0)
    assert rmse(predictions, mos) < 1e-6
    assert rmse(predictions, mos, fit=False) > 1.0


def _raise_value_error(*args, **kwargs):
    raise ValueError("Residuals are not finite in the initial point.")


@pytest.mark.parametrize(
    "fake_curve_fit, reason",
    [
        (_raise_value_error, "did not converge"),
        (lambda *args, **kwargs: (np.full(5, np.nan), None), "non-finite parameters"),
        (lambda *args, **kwargs: (np.array([0.0, 1.0, 0.0, 0.0, 0.0]), None), "local minimum"),
    ],
    ids=["no-convergence", "nan-parameters", "worse-than-line"],
)
def test_failed_fit_falls_back_to_a_line_with_a_warning(
    noisy_scores, monkeypatch, fake_curve_fit, reason
):
    predictions, mos = noisy_scores
    monkeypatch.setattr(evaluation.optimize, "curve_fit", fake_curve_fit)
    with pytest.warns(LogisticFitWarning, match=reason) as caught:
        mapping = fit_logistic(predictions, mos)
    assert caught[0].filename == __file__  # points at the caller, not at the library
    slope, intercept = np.polyfit(predictions, mos, 1)
    assert mapping == LogisticMapping(0.0, 0.0, 0.0, slope, intercept, kind="linear")
    with pytest.warns(LogisticFitWarning):
        result = evaluate(predictions, mos)
    assert result.plcc == pytest.approx(result.plcc_raw, abs=1e-12)
    assert np.isfinite(result.rmse)


def test_a_fit_that_runs_out_of_evaluations_goes_on_with_a_trust_region_fit():
    # A small set of saturating predictions: Levenberg-Marquardt's evaluations run out
    # along a flat valley (b1 against b4); the line would lose much of the fit.
    rng = np.random.default_rng(6)
    quality = rng.random(20)
    predictions = 1 / (1 + np.exp(-8 * (quality - 0.5))) + rng.normal(0, 0.05, 20)
    mos = 1 + 4 * quality + rng.normal(0, 0.3, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LogisticFitWarning)
        fitted = plcc(predictions, mos, fit=True)
    assert fitted > plcc(predictions, mos) + 0.02


# --------------------------------------------------------------------------------------
# evaluate().


def test_evaluate_gathers_every_measure(noisy_scores):
    predictions, mos = noisy_scores
    result = evaluate(predictions, mos)
    assert isinstance(result, Evaluation)
    assert result.as_dict() == {
        "srcc": pytest.approx(srcc(predictions, mos), abs=1e-12),
        "krcc": pytest.approx(krcc(predictions, mos), abs=1e-12),
        "plcc": pytest.approx(plcc(predictions, mos, fit=True), abs=1e-12),
        "plcc_raw": pytest.approx(plcc(predictions, mos), abs=1e-12),
        "rmse": pytest.approx(rmse(predictions, mos), abs=1e-12),
        "n": 200,
    }
    with pytest.raises(AttributeError):
        result.srcc = 1.0  # frozen


def test_evaluate_with_constant_predictions_warns_once():
    mos = [1.0, 2.0, 4.0, 3.0, 5.0]
    with pytest.warns(stats.ConstantInputWarning, match="`predictions` is constant") as caught:
        result = evaluate([2.0] * 5, mos)
    assert len(caught) == 1
    correlations = (result.srcc, result.krcc, result.plcc, result.plcc_raw)
    assert all(np.isnan(value) for value in correlations)
    assert result.rmse == pytest.approx(np.std(mos), abs=1e-12)  # the best constant: mean MOS


# --------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("measure", [srcc, krcc, plcc, rmse, evaluate, fit_logistic])
def test_different_lengths_are_refused(measure):
    with pytest.raises(ValueError, match=r"len\(predictions\)=6, len\(mos\)=5"):
        measure(np.arange(6.0), np.arange(5.0))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: srcc([1.0], [2.0]), "a correlation needs at least 2 .* Received: 1"),
        (lambda: krcc([], []), "a correlation needs at least 2 .* Received: 0"),
        (lambda: plcc([1, 2, 3, 4], [1, 3, 2, 4], fit=True), "fit needs at least 5 .* 4"),
        (lambda: rmse([1, 2, 3, 4], [1, 3, 2, 4]), "fit needs at least 5 .* Received: 4"),
    ],
)
def test_too_few_items_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_two_items_are_enough_for_raw_correlations():
    assert plcc([1.0, 2.0], [3.0, 5.0]) == pytest.approx(1.0)
    assert rmse([1.0, 2.0], [1.0, 4.0], fit=False) == pytest.approx(2**0.5)


@pytest.mark.parametrize("measure", [srcc, krcc, plcc, evaluate])
def test_non_finite_values_are_refused_with_counts(measure):
    mos = np.arange(8.0)
    mos[[1, 4]] = np.nan
    mos[6] = -np.inf
    with pytest.raises(ValueError, match=r"`mos` must be finite.*2 NaN and 1 inf values among 8"):
        measure(np.arange(8.0), mos)
    with pytest.raises(ValueError, match=r"`predictions` must be finite.*1 NaN and 0 inf"):
        measure([np.nan] + [1.0] * 7, np.arange(8.0))


def test_other_shapes_and_non_numbers_are_refused():
    with pytest.raises(ValueError, match=r"`predictions` must be 1-D .*shape=\(5, 2\)"):
        srcc(np.zeros((5, 2)), np.arange(5.0))
    with pytest.raises(TypeError, match="`mos` must hold numbers"):
        srcc([1, 2, 3], ["good", "bad", "ugly"])


@pytest.mark.parametrize("measure", [srcc, krcc, plcc])
@pytest.mark.parametrize("constant", ["predictions", "mos"])
def test_constant_input_gives_nan_with_a_warning_naming_it(measure, constant):
    varied, flat = [1.0, 3.0, 2.0, 5.0, 4.0], [3.0] * 5
    arguments = (flat, varied) if constant == "predictions" else (varied, flat)
    with pytest.warns(stats.ConstantInputWarning, match=f"`{constant}` is constant") as caught:
        assert np.isnan(measure(*arguments))
    assert caught[0].filename == __file__


def test_fitted_plcc_of_constant_predictions_is_nan():
    with pytest.warns(stats.ConstantInputWarning, match="`predictions` is constant"):
        assert np.isnan(plcc([2.0] * 6, [1.0, 2.0, 4.0, 3.0, 5.0, 6.0], fit=True))


# --------------------------------------------------------------------------------------
# Streaming Keras metrics.


def _batches(values, sizes):
    return np.split(values, np.cumsum(sizes)[:-1])


def _stream(metric, y_true, y_pred, sizes):
    for true_batch, pred_batch in zip(_batches(y_true, sizes), _batches(y_pred, sizes)):
        metric.update_state(true_batch, pred_batch)
    return float(metric.result())


@pytest.mark.parametrize("metric_class, measure", [(SRCC, srcc), (PLCC, plcc)])
def test_streamed_value_is_the_whole_epoch_value(metric_class, measure, tied_scores):
    mos, predictions = tied_scores
    # An offset far from zero checks that the running sums do not cancel out in float32.
    mos, predictions = mos + 1000.0, predictions + 500.0
    sizes = [7, 64, 1, 100, 128]
    streamed = _stream(metric_class(), mos, predictions, sizes)
    assert streamed == pytest.approx(measure(predictions, mos), abs=1e-5)


@pytest.mark.parametrize("metric_class, measure", [(SRCC, srcc), (PLCC, plcc)])
def test_streamed_value_is_not_a_mean_of_batch_values(metric_class, measure):
    # Within each batch the scores disagree (correlation -1); across the epoch they agree.
    mos = np.array([0.0, 1.0, 10.0, 11.0, 20.0, 21.0])
    predictions = np.array([1.0, 0.0, 11.0, 10.0, 21.0, 20.0])
    sizes = [2, 2, 2]
    batch_values = [
        measure(p, m) for p, m in zip(_batches(predictions, sizes), _batches(mos, sizes))
    ]
    assert np.mean(batch_values) == pytest.approx(-1.0)
    streamed = _stream(metric_class(), mos, predictions, sizes)
    assert streamed > 0.8
    assert streamed == pytest.approx(measure(predictions, mos), abs=1e-6)


@pytest.mark.parametrize("metric_class", [SRCC, PLCC])
def test_reset_state_starts_a_new_epoch(metric_class, noisy_scores):
    predictions, mos = noisy_scores
    metric = metric_class()
    metric.update_state(-mos, predictions)
    metric.reset_state()
    assert np.isnan(float(metric.result()))  # nothing seen
    metric.update_state(mos[:, None], predictions[:, None])  # (N, 1) like model outputs
    expected = srcc(predictions, mos) if metric_class is SRCC else plcc(predictions, mos)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("metric_class", [SRCC, PLCC])
def test_undefined_streamed_values_are_nan(metric_class):
    one_sample = metric_class()
    one_sample.update_state([1.0], [2.0])
    assert np.isnan(float(one_sample.result()))
    constant = metric_class()
    constant.update_state([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert np.isnan(float(constant.result()))


@pytest.mark.parametrize("metric_class", [SRCC, PLCC])
@pytest.mark.parametrize("constant", [0.3, 0.7, 0.1])  # a float32 mean of n copies need not be them
@pytest.mark.parametrize("sizes", [[7], [7, 3, 5, 6], [32, 32, 32, 7]])
def test_a_collapsed_model_streams_a_nan_correlation(metric_class, constant, sizes):
    mos = np.arange(sum(sizes), dtype="float32")
    predictions = np.full(sum(sizes), constant, "float32")
    assert np.isnan(_stream(metric_class(), mos, predictions, sizes))


@pytest.mark.parametrize("metric_class", [SRCC, PLCC])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_metrics_refuse_dtypes_their_sums_overflow(metric_class, dtype):
    with pytest.raises(ValueError, match=f"`dtype` must be float32 or float64.*dtype='{dtype}'"):
        metric_class(dtype=dtype)


def test_metrics_in_float64_match_the_whole_array_values(noisy_scores):
    predictions, mos = noisy_scores
    for metric, measure in ((SRCC(capacity=len(mos), dtype="float64"), srcc), (PLCC(dtype="float64"), plcc)):
        assert _stream(metric, mos, predictions, [len(mos) // 2, len(mos) - len(mos) // 2]) == pytest.approx(
            measure(predictions, mos), abs=1e-9
        )


@pytest.mark.parametrize("metric_class", [SRCC, PLCC])
def test_metrics_refuse_several_scores_per_sample(metric_class):
    with pytest.raises(ValueError, match=r"`y_pred` of shape \(N,\) or \(N, 1\).*\(4, 3\)"):
        metric_class().update_state(np.zeros((4, 1)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="y_true with 4 scores, y_pred with 3"):
        metric_class().update_state(np.zeros(4), np.zeros(3))


def test_srcc_past_capacity_is_nan_and_recovers_after_reset():
    metric = SRCC(capacity=10)
    metric.update_state(np.arange(8.0), np.arange(8.0))
    assert float(metric.result()) == pytest.approx(1.0)
    metric.update_state(np.arange(3.0), np.arange(3.0))
    assert np.isnan(float(metric.result()))
    metric.reset_state()
    metric.update_state(np.arange(10.0), -np.arange(10.0))
    assert float(metric.result()) == pytest.approx(-1.0)


def test_srcc_non_finite_scores_give_nan():
    metric = SRCC(capacity=8)
    metric.update_state([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])
    assert np.isnan(float(metric.result()))


def test_srcc_capacity_is_checked():
    with pytest.raises(ValueError, match="batch of 5 samples .* Received: capacity=4"):
        SRCC(capacity=4).update_state(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="at least 2. Received: capacity=1"):
        SRCC(capacity=1)
    with pytest.raises(TypeError, match="must be an int. Received: capacity=10.0"):
        SRCC(capacity=10.0)


@pytest.mark.parametrize("metric", [SRCC(capacity=128, name="val_rank"), PLCC(name="lin")])
def test_metric_config_round_trip(metric):
    config = metric.get_config()
    restored = type(metric).from_config(config)
    assert restored.get_config() == config
    assert restored.name == metric.name
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(revived) is type(metric) and revived.get_config() == config


# Keras' own saving warns this with NumPy 2 (a plain Dense model does too).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_metrics_inside_fit_and_evaluate_equal_the_functions(tmp_path):
    rng = np.random.default_rng(5)
    features = rng.normal(size=(300, 4)).astype("float32")
    mos = np.tanh(features @ np.array([1.0, -0.5, 0.3, 0.0])) + 0.2 * rng.normal(size=300)
    mos = mos.astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse", metrics=[SRCC(capacity=512), PLCC()])
    history = model.fit(features, mos, batch_size=32, epochs=1, verbose=0)
    assert set(history.history) >= {"srcc", "plcc"}

    reported = model.evaluate(features, mos, batch_size=32, verbose=0, return_dict=True)
    predictions = model.predict(features, batch_size=64, verbose=0)
    assert reported["srcc"] == pytest.approx(srcc(predictions, mos), abs=1e-4)
    assert reported["plcc"] == pytest.approx(plcc(predictions, mos), abs=1e-4)

    path = str(tmp_path / "tiny.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    again = reloaded.evaluate(features, mos, batch_size=50, verbose=0, return_dict=True)
    assert again["srcc"] == pytest.approx(reported["srcc"], abs=1e-5)
    assert again["plcc"] == pytest.approx(reported["plcc"], abs=1e-5)


def test_srcc_of_default_capacity_compiles_with_xla():
    # `fit` and `evaluate` use XLA on GPUs; ranking 65536 scores must stay O(n) in memory.
    rng = np.random.default_rng(6)
    features, mos = rng.normal(size=(64, 2)), rng.normal(size=64)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=[SRCC()], jit_compile=True)
    reported = model.evaluate(features, mos, batch_size=16, verbose=0, return_dict=True)
    predictions = model.predict(features, verbose=0)
    assert reported["srcc"] == pytest.approx(srcc(predictions, mos), abs=1e-4)


@pytest.mark.slow
def test_metrics_run_on_the_jax_backend():
    script = textwrap.dedent(
        """
        import numpy as np, keras
        from iqa_keras.evaluation import SRCC, PLCC, srcc, plcc
        rng = np.random.default_rng(0)
        x = rng.normal(size=(120, 3)).astype("float32")
        y = np.round(x.sum(axis=1) + rng.normal(size=120)).astype("float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(loss="mse", metrics=[SRCC(capacity=256), PLCC()])
        reported = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        predictions = model.predict(x, verbose=0)
        print(keras.backend.backend(), reported["srcc"] - srcc(predictions, y),
              reported["plcc"] - plcc(predictions, y))
        """
    )
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    backend, srcc_gap, plcc_gap = done.stdout.split()[-3:]
    assert backend == "jax"
    assert abs(float(srcc_gap)) < 1e-4 and abs(float(plcc_gap)) < 1e-4


def test_evaluate_on_fewer_than_five_pairs_gives_the_rank_figures_and_nan_fitted_ones():
    with pytest.warns(LogisticFitWarning, match="at least 5 .* with 4"):
        result = evaluate([1, 2, 3, 4], [1, 3, 2, 4])
    assert result.srcc == pytest.approx(stats.spearmanr([1, 2, 3, 4], [1, 3, 2, 4]).statistic)
    assert result.plcc_raw == pytest.approx(stats.pearsonr([1, 2, 3, 4], [1, 3, 2, 4]).statistic)
    assert np.isnan(result.plcc) and np.isnan(result.rmse) and result.n == 4
    with pytest.raises(ValueError, match="at least 2"):
        evaluate([1.0], [2.0])
