"""Ranking-aware and correlation losses for training IQA models with `model.fit`.

IQA models are judged by how well their scores correlate with human scores (SRCC,
PLCC), so besides the per-sample errors they are trained with losses computed over the
whole batch:

- `PLCCLoss`: 1 - Pearson's correlation of predictions with human scores;
- `SoftSRCCLoss`: 1 - Spearman's correlation, made differentiable by soft ranks;
- `PairwiseRankingLoss`: a penalty for every pair of the batch predicted in the wrong
  order (hinge with a margin, or its smooth RankNet-like form);
- `NormInNormLoss`: the norm-in-norm loss of Li et al. (ACM MM 2020);
- `CombinedLoss`: a weighted sum of any of these and of Keras's own losses.

The per-sample errors are Keras's own, re-exported here: `MeanAbsoluteError` and
`MeanSquaredError` (`keras.losses`).

`y_true` holds the human scores and `y_pred` the predicted ones, one score per sample:
shape `(N,)` or `(N, 1)`, any float dtype (mixed precision included: everything is
computed in float32). The batch losses work for any batch size of at least 2, including
a last partial batch and a batch dimension unknown until run time (`None`, as in a
compiled `model.fit` step). A batch of one sample (such as `model.evaluate` on whole
images of different sizes, one per batch) has no correlation and no pair: it gives the
value each class documents (finite, zero gradient), so it neither fails nor teaches. A batch loss depends on
all the samples at once, so `sample_weight` is refused with a `ValueError`. Under
`tf.distribute`, each replica computes the loss over its own part of the batch.

The correlation-like losses (`PLCCLoss`, `SoftSRCCLoss`, `NormInNormLoss`) ignore the
scale of the predictions, so their gradient grows as the predictions' spread shrinks.
Their `epsilon`, added to every norm, keeps a constant batch (all predictions equal, as
from a freshly initialised head) finite: the loss and its gradient are finite there,
though the gradient is large (about `1 / epsilon`).

Example:
>>> import numpy as np
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(
...     optimizer="adam",
...     loss=CombinedLoss([MeanAbsoluteError(), PLCCLoss()], weights=[1.0, 0.5]),
... )
>>> features = np.random.default_rng(0).normal(size=(10, 4))
>>> history = model.fit(features, features.sum(axis=1), batch_size=4, verbose=0)
>>> bool(np.isfinite(history.history["loss"][0]))
True
"""

from __future__ import annotations

import keras
from keras import ops
from keras.losses import MeanAbsoluteError, MeanSquaredError

from iqa_keras._numbers import is_finite_number
from iqa_keras.correlation_metrics import _one_score_per_sample

__all__ = [
    "PLCCLoss",
    "SoftSRCCLoss",
    "PairwiseRankingLoss",
    "NormInNormLoss",
    "CombinedLoss",
    "MeanAbsoluteError",
    "MeanSquaredError",
]



class _BatchLoss(keras.losses.Loss):
    """A loss computed from the whole batch at once.

    Validates and flattens both inputs to float32 vectors, refuses `sample_weight`
    and holds the config; subclasses implement `batch_loss(y_true, y_pred)` on the two
    vectors and extend `get_config` with their own arguments.
    """

    def __init__(self, name: str):
        super().__init__(name=name, dtype="float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                f"{self.name} is computed from the whole batch at once, so it takes no "
                f"per-sample weight. Expected sample_weight=None. Received: "
                f"sample_weight of type {type(sample_weight).__name__}"
            )
        return super().__call__(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, y_pred = _one_score_per_sample(y_true, y_pred, "float32", self.name)
        # One value for the whole batch, shaped (1,) so that Keras's reduction divides
        # it by the number of replicas under tf.distribute, as for its own losses.
        return ops.reshape(self.batch_loss(y_true, y_pred), (1,))

    def batch_loss(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}


class _NormalizingLoss(_BatchLoss):
    """A batch loss that centres scores and divides them by their norm (+ epsilon)."""

    def __init__(self, epsilon: float, name: str):
        if not (is_finite_number(epsilon) and epsilon > 0):
            raise ValueError(f"`epsilon` must be a positive number. Received: epsilon={epsilon!r}")
        super().__init__(name=name)
        self.epsilon = float(epsilon)

    def unit_deviation(self, scores, order: float = 2.0):
        """`scores` minus their mean, divided by the `order`-norm of that (+ epsilon)."""
        deviation = scores - ops.mean(scores)
        return deviation / (_norm(deviation, order) + self.epsilon)

    def pearson(self, x, y):
        """Pearson's correlation of two vectors; 0 when either is constant."""
        return ops.sum(self.unit_deviation(x) * self.unit_deviation(y))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="iqa_keras")
class PLCCLoss(_NormalizingLoss):
    """1 - Pearson's linear correlation of `y_pred` with `y_true` over the batch.

    It ranges from 0 (scores on a line with positive slope) to 2, and ignores the
    offset and scale of the predictions. A batch where either input is constant (a run
    time batch of one sample, in particular) has correlation 0 and loss 1.

    Args:
        epsilon: added to every norm, so a constant batch stays finite (see above).
        name: the loss's name in logs.

    Example:
    >>> round(float(PLCCLoss()([1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.5])), 4)
    0.0173
    """

    def __init__(self, epsilon: float = 1e-6, name: str = "plcc_loss"):
        super().__init__(epsilon=epsilon, name=name)

    def batch_loss(self, y_true, y_pred):
        return 1.0 - self.pearson(y_pred, y_true)


@keras.saving.register_keras_serializable(package="iqa_keras")
class SoftSRCCLoss(_NormalizingLoss):
    """1 - Spearman's rank correlation, with soft ranks for the predictions.

    The predictions are standardised over the batch (zero mean, unit standard
    deviation, so the loss ignores their offset and scale like SRCC does) and ranked
    softly by pairwise sigmoids: `rank_i = 0.5 + sum_j sigmoid((z_i - z_j) / t)` with
    `t = regularization_strength`. This costs O(N^2) for a batch of N, which is cheap
    at IQA batch sizes, and tends to the exact ranks (ties averaged) as t -> 0; a
    larger t gives smoother gradients and a looser approximation. The human scores are
    ranked exactly, ties averaged (they need no gradient).

    The loss is 1 - the correlation of the soft ranks with the human scores' ranks,
    where the soft ranks are scaled by the spread of exact ranks (those of a
    permutation of 1..N) rather than by their own spread. That is Spearman's
    correlation in the limit t -> 0 (for distinct predictions), keeps the loss within
    [0, 2] (soft ranks never spread more than exact ones), and does not divide by the
    soft ranks' spread, which vanishes for a constant batch: there the loss is 1 and
    its gradient finite, of order `1 / epsilon` like `PLCCLoss`'s.

    Args:
        regularization_strength: the sigmoid's temperature t, in standard deviations of
            the batch's predictions.
        epsilon: added to every norm, so a constant batch stays finite (see above).
        name: the loss's name in logs.

    Example:
    >>> y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [0.1, 0.3, 0.2, 0.5]
    >>> round(float(SoftSRCCLoss(regularization_strength=1e-3)(y_true, y_pred)), 4)
    0.2
    """

    def __init__(
        self,
        regularization_strength: float = 0.1,
        epsilon: float = 1e-6,
        name: str = "soft_srcc_loss",
    ):
        if not (is_finite_number(regularization_strength) and regularization_strength > 0):
            raise ValueError(
                "`regularization_strength` must be a positive number. Received: "
                f"regularization_strength={regularization_strength!r}"
            )
        super().__init__(epsilon=epsilon, name=name)
        self.regularization_strength = float(regularization_strength)

    def batch_loss(self, y_true, y_pred):
        batch_size = ops.cast(ops.shape(y_pred)[0], "float32")
        standardized = ops.sqrt(batch_size) * self.unit_deviation(y_pred)
        soft_ranks = _ranks(
            standardized, lambda gaps: ops.sigmoid(gaps / self.regularization_strength)
        )
        true_ranks = _ranks(y_true, lambda gaps: (ops.sign(gaps) + 1.0) / 2.0)
        true_deviation = true_ranks - ops.mean(true_ranks)
        permutation_norm = ops.sqrt(batch_size * (batch_size**2 - 1.0) / 12.0)
        covariance = ops.sum((soft_ranks - ops.mean(soft_ranks)) * true_deviation)
        return 1.0 - covariance / (permutation_norm * _norm(true_deviation, 2.0) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "regularization_strength": self.regularization_strength}


@keras.saving.register_keras_serializable(package="iqa_keras")
class PairwiseRankingLoss(_BatchLoss):
    """The mean penalty over the pairs of the batch whose human scores differ.

    For every pair with `y_true[i] > y_true[j]`, the predicted gap `d = y_pred[i] -
    y_pred[j]` is penalised by the margin ranking hinge `max(0, margin - d)`, or, when
    `smoothing` s > 0, by its smooth form `s * log(1 + exp((margin - d) / s))` (with
    margin 0 this is RankNet's logistic loss scaled by s). Pairs with equal human
    scores are left out; a batch whose human scores are all equal (a run time batch
    of one sample, in particular) has no pair and gives 0. The hinge with margin 0 is
    0 for any correctly ordered batch, a constant one included: use it beside a loss
    that sets the scale, or with a margin.

    Args:
        margin: the predicted gap below which a correctly ordered pair is still
            penalised, in units of the predictions.
        smoothing: 0 for the hinge, or the temperature of its smooth form.
        weight_by_difference: weight each pair by `y_true[i] - y_true[j]`, so that pairs
            the humans told apart clearly count more.
        name: the loss's name in logs.

    Example:
    >>> loss = PairwiseRankingLoss(margin=0.5)
    >>> float(loss([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]))  # every gap exceeds the margin
    0.0
    >>> float(loss([1.0, 2.0], [1.0, 0.0]))  # wrong order: 0.5 - (0 - 1)
    1.5
    """

    def __init__(
        self,
        margin: float = 0.0,
        smoothing: float = 0.0,
        weight_by_difference: bool = False,
        name: str = "pairwise_ranking_loss",
    ):
        for argument, value in (("margin", margin), ("smoothing", smoothing)):
            if not (is_finite_number(value) and value >= 0):
                raise ValueError(
                    f"`{argument}` must be a non-negative number. Received: "
                    f"{argument}={value!r}"
                )
        if not isinstance(weight_by_difference, bool):
            raise ValueError(
                "`weight_by_difference` must be True or False. Received: "
                f"weight_by_difference={weight_by_difference!r}"
            )
        super().__init__(name=name)
        self.margin = float(margin)
        self.smoothing = float(smoothing)
        self.weight_by_difference = weight_by_difference

    def batch_loss(self, y_true, y_pred):
        true_gaps = _pairwise_differences(y_true)
        shortfall = self.margin - _pairwise_differences(y_pred)
        if self.smoothing > 0:
            penalties = self.smoothing * ops.softplus(shortfall / self.smoothing)
        else:
            penalties = ops.relu(shortfall)
        weights = ops.cast(true_gaps > 0, "float32")
        if self.weight_by_difference:
            weights = weights * true_gaps
        total_weight = ops.sum(weights)
        has_pairs = total_weight > 0
        return ops.where(
            has_pairs,
            ops.sum(weights * penalties) / ops.where(has_pairs, total_weight, 1.0),
            0.0,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "smoothing": self.smoothing,
            "weight_by_difference": self.weight_by_difference,
        }


@keras.saving.register_keras_serializable(package="iqa_keras")
class NormInNormLoss(_NormalizingLoss):
    """The norm-in-norm loss of Li, Jiang and Jiang (ACM MM 2020).

    Both score vectors are normalised over the batch: the mean is subtracted and the
    result divided by its q-norm (+ epsilon), giving `p'` and `t'`. The loss is the
    authors' released `norm_loss_with_normalization` (their `--loss_type Lp`):

        loss0 = sum |p' - t'|^p / c,        c = 2^p * N^max(0, 1 - p/q)
        loss1 = sum |rho p' - t'|^p / c,    rho = cosine similarity of p' and t'
        loss  = (loss0 + linear_fit_weight * loss1) / (1 + linear_fit_weight)

    c bounds each term to [0, 1]. `loss1` measures what is left after the best linear
    fit of `t'` by `p'` (rho is the PLCC for q = 2); the authors' best model uses
    p = 1, q = 2 and no such term (the defaults here), and they report a variant with
    `linear_fit_weight=0.1`. With p = q = 2, loss0 is (1 - PLCC) / 2. Their separate
    monotonicity regulariser is a `PairwiseRankingLoss` to add with `CombinedLoss`.
    Deviation from the paper, which allows any p, q > 0: p, q >= 1 are required here,
    so that the norms are convex and their gradients finite at zero. A constant batch
    normalises to zeros (a run time batch of one sample gives 0).

    Args:
        p: the power of the error norm (1: robust like MAE, 2: like MSE).
        q: the norm used to normalise each score vector.
        linear_fit_weight: the weight of `loss1` relative to `loss0`.
        epsilon: added to every norm, so a constant batch stays finite (see above).
        name: the loss's name in logs.

    Example:
    >>> y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]
    >>> round(float(NormInNormLoss()(y_true, y_pred)), 6)  # same after normalisation
    0.0
    >>> round(float(NormInNormLoss(p=2, q=2)(y_true, [1.0, 2.0, 4.0, 3.0])), 4)
    0.1
    """

    def __init__(
        self,
        p: float = 1.0,
        q: float = 2.0,
        linear_fit_weight: float = 0.0,
        epsilon: float = 1e-6,
        name: str = "norm_in_norm_loss",
    ):
        for argument, value in (("p", p), ("q", q)):
            if not (is_finite_number(value) and value >= 1):
                raise ValueError(
                    f"`{argument}` must be a number >= 1. Received: {argument}={value!r}"
                )
        if not (is_finite_number(linear_fit_weight) and linear_fit_weight >= 0):
            raise ValueError(
                "`linear_fit_weight` must be a non-negative number. Received: "
                f"linear_fit_weight={linear_fit_weight!r}"
            )
        super().__init__(epsilon=epsilon, name=name)
        self.p = float(p)
        self.q = float(q)
        self.linear_fit_weight = float(linear_fit_weight)

    def batch_loss(self, y_true, y_pred):
        predicted = self.unit_deviation(y_pred, self.q)
        target = self.unit_deviation(y_true, self.q)
        batch_size = ops.cast(ops.shape(y_pred)[0], "float32")
        scale = 2.0**self.p * batch_size ** max(0.0, 1.0 - self.p / self.q)
        error_loss = ops.sum(ops.abs(predicted - target) ** self.p) / scale
        rho = self.pearson(predicted, target)
        fit_loss = ops.sum(ops.abs(rho * predicted - target) ** self.p) / scale
        return (error_loss + self.linear_fit_weight * fit_loss) / (1.0 + self.linear_fit_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "p": self.p,
            "q": self.q,
            "linear_fit_weight": self.linear_fit_weight,
        }


@keras.saving.register_keras_serializable(package="iqa_keras")
class CombinedLoss(keras.losses.Loss):
    """A weighted sum of losses: `sum(weight * loss(y_true, y_pred))`.

    Any Keras loss objects may be combined, these and Keras's own; `sample_weight` is
    passed to each (so it is refused when a batch loss is among them). The nested
    losses are serialized with `keras.saving.serialize_keras_object`.

    Args:
        losses: a non-empty list of `keras.losses.Loss` objects.
        weights: one non-negative number per loss; all 1 when left out.
        name: the loss's name in logs.

    Example:
    >>> import numpy as np
    >>> loss = CombinedLoss([MeanAbsoluteError(), PLCCLoss()], weights=[1.0, 0.5])
    >>> y_true, y_pred = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.0, 4.5]
    >>> expected = MeanAbsoluteError()(y_true, y_pred) + 0.5 * PLCCLoss()(y_true, y_pred)
    >>> bool(np.isclose(loss(y_true, y_pred), expected))
    True
    """

    def __init__(self, losses, weights=None, name: str = "combined_loss"):
        losses = list(losses) if isinstance(losses, (list, tuple)) else losses
        if not isinstance(losses, list) or not losses:
            raise ValueError(
                f"`losses` must be a non-empty list of losses. Received: losses={losses!r}"
            )
        for loss in losses:
            if not isinstance(loss, keras.losses.Loss):
                raise ValueError(
                    "`losses` must hold `keras.losses.Loss` objects. Received: an item "
                    f"of type {type(loss).__name__}: {loss!r}"
                )
        weights = [1.0] * len(losses) if weights is None else list(weights)
        if len(weights) != len(losses):
            raise ValueError(
                f"`weights` must hold one weight per loss, {len(losses)} here. "
                f"Received: weights={weights!r}"
            )
        for weight in weights:
            if not (is_finite_number(weight) and weight >= 0):
                raise ValueError(
                    f"`weights` must be non-negative numbers. Received: weights={weights!r}"
                )
        super().__init__(name=name, dtype="float32")
        self.losses = losses
        self.weights = [float(weight) for weight in weights]

    def __call__(self, y_true, y_pred, sample_weight=None):
        return sum(
            weight * ops.cast(loss(y_true, y_pred, sample_weight), "float32")
            for loss, weight in zip(self.losses, self.weights)
        )

    def call(self, y_true, y_pred):
        return self(y_true, y_pred)

    def get_config(self):
        return {
            "losses": [keras.saving.serialize_keras_object(loss) for loss in self.losses],
            "weights": self.weights,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        losses = [keras.saving.deserialize_keras_object(loss) for loss in config["losses"]]
        return cls(**{**config, "losses": losses})



def _norm(vector, order: float):
    """The `order`-norm of a vector, with gradient 0 (not nan) at the zero vector."""
    total = ops.sum(ops.abs(vector) ** order)
    positive = total > 0
    return ops.where(positive, ops.where(positive, total, 1.0) ** (1.0 / order), 0.0)


def _pairwise_differences(vector):
    """The matrix `vector[i] - vector[j]`."""
    return ops.expand_dims(vector, 1) - ops.expand_dims(vector, 0)


def _ranks(vector, step):
    """1-based ranks `0.5 + sum_j step(vector[i] - vector[j])`.

    With the unit step (0, 1/2 at 0, 1) these are the exact ranks, ties averaged: the
    1/2 from comparing each item with itself and the 0.5 add up to its own place.
    """
    return 0.5 + ops.sum(step(_pairwise_differences(vector)), axis=1)
