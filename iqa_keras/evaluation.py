"""The field's evaluation protocol: how well predicted scores agree with human scores.

Four numbers are reported in IQA papers, all computed here with scipy:

- `srcc`: Spearman's rank correlation (ties get their average rank);
- `krcc`: Kendall's tau-b (the variant that corrects for ties);
- `plcc`: Pearson's linear correlation, raw or after the VQEG five-parameter logistic
  mapping `f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5` fitted from
  predictions to MOS (`fit_logistic`), which removes the non-linearity of the scale;
- `rmse`: the root mean squared error of the mapped predictions against MOS.

`evaluate` returns all of them at once. The Keras metrics computing SRCC and PLCC over a
whole epoch inside `model.fit` live in `iqa_keras.correlation_metrics` (importable from
here too).

Inputs are 1-D array-likes of equal length (lists, NumPy arrays, tensors; an `(N, 1)`
array such as `model.predict`'s output is accepted too). The rules for bad input are the
same everywhere:

- different lengths, other shapes, or too few items (2 for correlations, 5 wherever the
  five-parameter fit is involved) raise `ValueError`;
- NaN or inf in either input raises `ValueError` saying which argument holds how many:
  a model that outputs NaN is broken, and dropping its NaNs would flatter it;
- a constant input leaves a correlation undefined: it is reported as `nan`, with a
  `scipy.stats.ConstantInputWarning` naming the constant argument.

Example:
>>> predictions = [0.1, 0.4, 0.35, 0.8, 0.7, 0.9]
>>> mos = [1.2, 2.0, 2.4, 4.1, 3.6, 4.5]
>>> round(srcc(predictions, mos), 4), round(krcc(predictions, mos), 4)
(0.9429, 0.8667)
>>> result = evaluate(predictions, mos)
>>> result.n, result.plcc >= result.plcc_raw
(6, True)
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "srcc",
    "krcc",
    "plcc",
    "rmse",
    "fit_logistic",
    "evaluate",
    "Evaluation",
    "LogisticMapping",
    "LogisticFitWarning",
]

_MOVED = ("SRCC", "PLCC")  # to iqa_keras.correlation_metrics: the protocol needs no Keras


def __getattr__(name):
    if name in _MOVED:
        from iqa_keras import correlation_metrics

        return getattr(correlation_metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

MIN_CORRELATION_ITEMS = 2
MIN_FIT_ITEMS = 5  # the logistic has five parameters: fewer points cannot determine it


class LogisticFitWarning(RuntimeWarning):
    """The logistic fit failed (no convergence, non-finite parameters or a local
    minimum), so the least squares straight line was used instead."""


# --------------------------------------------------------------------------------------
# Correlations and errors on arrays.


def srcc(predictions, mos) -> float:
    """Spearman's rank correlation coefficient; tied values get their average rank.

    Example:
    >>> round(srcc([1, 2, 2, 3], [1, 1, 2, 3]), 4)
    0.8333
    """
    x, y = _validated_pair(predictions, mos, MIN_CORRELATION_ITEMS)
    if _warn_if_constant(_UNDEFINED, predictions=x, mos=y):
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def krcc(predictions, mos) -> float:
    """Kendall's rank correlation coefficient, tau-b (corrected for ties).

    Example:
    >>> round(krcc([1, 2, 2, 3], [1, 1, 2, 3]), 4)
    0.8
    """
    x, y = _validated_pair(predictions, mos, MIN_CORRELATION_ITEMS)
    if _warn_if_constant(_UNDEFINED, predictions=x, mos=y):
        return float("nan")
    return float(stats.kendalltau(x, y, variant="b").statistic)


def plcc(predictions, mos, fit: bool = False) -> float:
    """Pearson's linear correlation coefficient, raw or after the logistic mapping.

    Args:
        predictions: predicted scores.
        mos: the human scores (MOS or DMOS).
        fit: if True, correlate `fit_logistic(predictions, mos)(predictions)` with
            `mos` (the VQEG protocol) instead of the raw values. Needs at least 5 items
            and is only meaningful with many more: five parameters can bend the curve
            through a handful of points, even turning a negative correlation positive.

    Example:
    >>> round(plcc([1, 2, 3, 4], [2, 4, 6, 9]), 4)
    0.9944
    """
    minimum = MIN_FIT_ITEMS if fit else MIN_CORRELATION_ITEMS
    x, y = _validated_pair(predictions, mos, minimum)
    if _warn_if_constant(_UNDEFINED, predictions=x, mos=y):
        return float("nan")
    if fit:
        x = _fit(x, y)(x)
    return float(stats.pearsonr(x, y).statistic)


def rmse(predictions, mos, fit: bool = True) -> float:
    """Root mean squared error between (mapped) predictions and MOS.

    Args:
        predictions: predicted scores.
        mos: the human scores.
        fit: if True (the protocol), the predictions are first mapped onto the MOS
            scale by `fit_logistic` (at least 5 items); if False they are compared as
            they are, which only makes sense when both share one scale.

    Example:
    >>> rmse([1, 2, 3], [1, 2, 5], fit=False) == (4 / 3) ** 0.5
    True
    """
    minimum = MIN_FIT_ITEMS if fit else MIN_CORRELATION_ITEMS
    x, y = _validated_pair(predictions, mos, minimum)
    if fit:
        _warn_if_constant(_CONSTANT_MAPPING, predictions=x)
        x = _fit(x, y)(x)
    return _rmse(x, y)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The protocol's numbers for one set of predictions.

    Attributes:
        srcc: Spearman's rank correlation.
        krcc: Kendall's tau-b.
        plcc: Pearson's correlation after the logistic mapping: never negative, since the
            mapping turns a decreasing relation (DMOS, or a distance as a score) around,
            while `srcc`, `krcc` and `plcc_raw` keep its sign.
        plcc_raw: Pearson's correlation of the raw predictions.
        rmse: root mean squared error after the logistic mapping, on the MOS scale.
        n: the number of (prediction, MOS) pairs.
    """

    srcc: float
    krcc: float
    plcc: float
    plcc_raw: float
    rmse: float
    n: int

    def as_dict(self) -> dict:
        """The numbers as a plain dict, e.g. for a CSV row or a JSON report.

        Example:
        >>> Evaluation(0.9, 0.8, 0.92, 0.88, 0.5, 100).as_dict()["plcc"]
        0.92
        """
        return dataclasses.asdict(self)


def evaluate(predictions, mos) -> Evaluation:
    """All the protocol's numbers at once, fitting the logistic mapping only once.

    Needs at least 2 pairs. With fewer than 5 the five-parameter fit is undefined: `plcc`
    and `rmse` are `nan`, with a `LogisticFitWarning`, and the rank correlations and the
    raw PLCC are still given (a small test set must not lose a finished training run).
    Constant input gives `nan` correlations (with one warning); the RMSE is still that
    of the fitted mapping (for constant predictions, the mapping is the mean MOS and the
    RMSE the standard deviation of MOS).

    Example:
    >>> result = evaluate([1, 2, 3, 4, 5, 6], [1.1, 1.9, 3.2, 3.9, 5.1, 6.0])
    >>> result.srcc, result.n, round(result.rmse, 2)
    (1.0, 6, 0.11)
    """
    x, y = _validated_pair(predictions, mos, MIN_CORRELATION_ITEMS)
    nan = float("nan")
    if len(x) >= MIN_FIT_ITEMS:
        mapped = _fit(x, y)(x)
        fitted_rmse = _rmse(mapped, y)
    else:
        warnings.warn(
            f"the logistic fit needs at least {MIN_FIT_ITEMS} (prediction, mos) pairs; with "
            f"{len(x)}, the fitted plcc and rmse are nan",
            LogisticFitWarning,
            stacklevel=2,
        )
        mapped, fitted_rmse = None, nan
    if _warn_if_constant(_UNDEFINED, predictions=x, mos=y):
        return Evaluation(nan, nan, nan, nan, fitted_rmse, len(x))
    return Evaluation(
        srcc=float(stats.spearmanr(x, y).statistic),
        krcc=float(stats.kendalltau(x, y, variant="b").statistic),
        plcc=nan if mapped is None else float(stats.pearsonr(mapped, y).statistic),
        plcc_raw=float(stats.pearsonr(x, y).statistic),
        rmse=fitted_rmse,
        n=len(x),
    )


# --------------------------------------------------------------------------------------
# The logistic mapping.


@dataclasses.dataclass(frozen=True)
class LogisticMapping:
    """`f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5`, fitted to MOS.

    The parameters are stored with `b1 >= 0` (the pairs `(b1, b2)` and `(-b1, -b2)` give
    the same curve). `kind` is `"logistic"` for a converged fit, `"linear"` for the
    fallback `b1 = b2 = b3 = 0`.

    Example:
    >>> mapping = LogisticMapping(b1=2.0, b2=1.0, b3=0.0, b4=0.0, b5=3.0)
    >>> mapping([0.0, 100.0]).tolist()
    [3.0, 4.0]
    """

    b1: float
    b2: float
    b3: float
    b4: float
    b5: float
    kind: str = "logistic"

    @property
    def params(self) -> tuple[float, float, float, float, float]:
        """`(b1, b2, b3, b4, b5)`."""
        return (self.b1, self.b2, self.b3, self.b4, self.b5)

    def __call__(self, predictions) -> np.ndarray:
        """Maps predictions onto the MOS scale (float64 array of the same shape)."""
        return _logistic(np.asarray(predictions, dtype=np.float64), *self.params)


def fit_logistic(predictions, mos) -> LogisticMapping:
    """Fits the VQEG five-parameter logistic from predictions to MOS.

    The fit (`scipy.optimize.curve_fit`, Levenberg-Marquardt) runs on standardised
    predictions, so it behaves the same whatever their scale, from the usual initial
    guess: amplitude `b1` the MOS range, centre `b3` the mean prediction, slope `b2`
    one over the predictions' standard deviation (signed like their correlation with
    MOS), no linear term `b4`, offset `b5` the mean MOS.

    When the fit fails to converge, gives non-finite parameters, or ends worse than a
    straight line (a local minimum: the family contains straight lines), the least
    squares straight line is returned instead (`kind="linear"`) with a
    `LogisticFitWarning`, so an evaluation never stops halfway. Constant predictions
    give the constant mapping to the mean MOS, with a `ConstantInputWarning`.

    Needs at least 5 pairs.

    Example:
    >>> x = np.linspace(0.0, 1.0, 30)
    >>> mos = 4.0 * (0.5 - 1.0 / (1.0 + np.exp(10.0 * (x - 0.5)))) + 3.0
    >>> mapping = fit_logistic(x, mos)
    >>> mapping.kind, [round(b, 3) for b in mapping.params]
    ('logistic', [4.0, 10.0, 0.5, 0.0, 3.0])
    """
    x, y = _validated_pair(predictions, mos, MIN_FIT_ITEMS)
    _warn_if_constant(_CONSTANT_MAPPING, predictions=x)
    return _fit(x, y)


def _logistic(x, b1, b2, b3, b4, b5):
    # 1 / (1 + exp(t)) == expit(-t), without overflow for large |t|.
    return b1 * (0.5 - special.expit(-b2 * (x - b3))) + b4 * x + b5


def _fit(x: np.ndarray, y: np.ndarray) -> LogisticMapping:
    """`fit_logistic` on validated arrays, without the constant-input warning."""
    if np.ptp(x) == 0:
        return LogisticMapping(0.0, 0.0, 0.0, 0.0, float(np.mean(y)), kind="linear")
    slope, intercept = np.polyfit(x, y, deg=1)
    linear = LogisticMapping(0.0, 0.0, 0.0, float(slope), float(intercept), kind="linear")
    center, spread = np.mean(x), np.std(x)
    z = (x - center) / spread
    direction = 1.0 if slope >= 0 else -1.0
    initial = [np.ptp(y), direction, 0.0, 0.0, np.mean(y)]
    try:
        with warnings.catch_warnings():
            # The covariance of the parameters is not used; its warning is noise here.
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            (c1, c2, c3, c4, c5), _ = optimize.curve_fit(
                _logistic, z, y, p0=initial, maxfev=10_000
            )
    except RuntimeError:
        # Levenberg-Marquardt ran out of evaluations, as on small sets of saturating
        # predictions (b1 and b4 trade off along a flat valley): a trust-region fit from
        # the same start, whose last iterate is kept if it beats the straight line.
        residuals = lambda c: _logistic(z, *c) - y  # noqa: E731
        c1, c2, c3, c4, c5 = optimize.least_squares(residuals, initial, method="trf", max_nfev=10_000).x
    except ValueError as error:
        return _fall_back(linear, f"it did not converge ({error})")
    # Back from standardised predictions: c2 * (z - c3) == b2 * (x - b3) and
    # c4 * z + c5 == b4 * x + b5.
    b1, b2, b3 = c1, c2 / spread, center + spread * c3
    b4, b5 = c4 / spread, c5 - c4 * center / spread
    if b1 < 0:
        b1, b2 = -b1, -b2
    mapping = LogisticMapping(*(float(b) for b in (b1, b2, b3, b4, b5)))
    if not np.all(np.isfinite(mapping.params)):
        return _fall_back(linear, f"it gave non-finite parameters {mapping.params}")
    fitted_error, linear_error = _rmse(mapping(x), y), _rmse(linear(x), y)
    if fitted_error > linear_error * (1 + 1e-9):
        return _fall_back(
            linear,
            f"it ended in a local minimum (RMSE {fitted_error:.6g}, worse than the "
            f"straight line's {linear_error:.6g})",
        )
    return mapping


def _fall_back(linear: LogisticMapping, reason: str) -> LogisticMapping:
    warnings.warn(
        f"The logistic fit of predictions to MOS failed: {reason}. Using the least "
        f"squares straight line instead (slope {linear.b4:.6g}, intercept {linear.b5:.6g}).",
        LogisticFitWarning,
        stacklevel=4,  # the user's call of fit_logistic, plcc, rmse or evaluate
    )
    return linear


def _rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


# --------------------------------------------------------------------------------------
# Input checks.


def _validated_pair(predictions, mos, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _scores(predictions, "predictions"), _scores(mos, "mos")
    if len(x) != len(y):
        raise ValueError(
            "`predictions` and `mos` must have the same length. Received: "
            f"len(predictions)={len(x)}, len(mos)={len(y)}"
        )
    if len(x) < minimum:
        purpose = "the logistic fit" if minimum == MIN_FIT_ITEMS else "a correlation"
        raise ValueError(
            f"{purpose} needs at least {minimum} (prediction, mos) pairs. "
            f"Received: {len(x)}"
        )
    return x, y


def _scores(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must hold numbers. Received: {name}={values!r}") from error
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # e.g. the (N, 1) output of model.predict
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be 1-D (or of shape (N, 1)). Received: {name}.shape={array.shape}"
        )
    nans, infs = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    if nans or infs:
        raise ValueError(
            f"`{name}` must be finite. Received: {nans} NaN and {infs} inf values among "
            f"{len(array)}"
        )
    return array


_UNDEFINED = "the correlation is undefined and reported as nan"
_CONSTANT_MAPPING = "the fitted mapping is the constant mean MOS"


def _warn_if_constant(consequence: str, **arrays: np.ndarray) -> bool:
    """Warns, naming them, when some of `arrays` are constant; returns whether any is."""
    constant = [f"`{name}`" for name, array in arrays.items() if np.ptp(array) == 0]
    if constant:
        verb = "are" if len(constant) > 1 else "is"
        warnings.warn(
            f"{' and '.join(constant)} {verb} constant, so {consequence}.",
            stats.ConstantInputWarning,
            stacklevel=3,
        )
    return bool(constant)
