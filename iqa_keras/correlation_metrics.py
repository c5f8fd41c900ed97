"""Streaming Keras metrics: SRCC and PLCC over a whole epoch inside `model.fit`.

They compute what `iqa_keras.evaluation.srcc` and `plcc` (raw) compute on all
predictions at once, from per-batch updates, on every backend and across replicas.

Example:
>>> metric = SRCC(capacity=8)
>>> metric.update_state([1.0, 2.0, 3.0], [0.1, 0.3, 0.2])
>>> round(float(metric.result()), 4)
0.5
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["PLCC", "SRCC"]

@keras.saving.register_keras_serializable(package="iqa_keras")
class PLCC(keras.metrics.Metric):
    """Pearson's correlation of `y_pred` with `y_true` over all samples seen, raw.

    The epoch's value, not a mean of per-batch correlations: each batch's count, means,
    sums of squared deviations and co-deviation are merged into running totals (Chan et
    al.'s pairwise update, accurate in float32). `y_true` and `y_pred` hold one score per
    sample, shape `(N,)` or `(N, 1)`; `sample_weight` is ignored. With fewer than 2
    samples, or constant values, the result is nan.

    Example:
    >>> metric = PLCC()
    >>> metric.update_state([1.0, 2.0], [1.0, 3.0])
    >>> metric.update_state([3.0, 4.0], [2.0, 4.0])
    >>> from iqa_keras.evaluation import plcc
    >>> round(float(metric.result()), 4) == round(plcc([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    True
    """

    def __init__(self, name: str = "plcc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_accumulating_dtype(self.dtype)
        self.count = self._scalar("count")
        self.mean_true = self._scalar("mean_true")
        self.mean_pred = self._scalar("mean_pred")
        self.squares_true = self._scalar("squares_true")
        self.squares_pred = self._scalar("squares_pred")
        self.products = self._scalar("products")

    def _scalar(self, name):
        return self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, aggregation="only_first_replica", name=name
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _gathered_from_all_replicas(
            *_one_score_per_sample(y_true, y_pred, self.dtype, self.name)
        )
        batch_count = ops.cast(ops.shape(y_true)[0], self.dtype)
        batch_mean_true, batch_mean_pred = _batch_mean(y_true, batch_count), _batch_mean(y_pred, batch_count)
        deviation_true, deviation_pred = y_true - batch_mean_true, y_pred - batch_mean_pred

        count = self.count + batch_count
        shift_true, shift_pred = batch_mean_true - self.mean_true, batch_mean_pred - self.mean_pred
        batch_share = ops.divide_no_nan(batch_count, count)
        cross_weight = self.count * batch_share  # n_a * n_b / (n_a + n_b)
        self.squares_true.assign_add(
            ops.sum(deviation_true**2) + shift_true**2 * cross_weight
        )
        self.squares_pred.assign_add(
            ops.sum(deviation_pred**2) + shift_pred**2 * cross_weight
        )
        self.products.assign_add(
            ops.sum(deviation_true * deviation_pred) + shift_true * shift_pred * cross_weight
        )
        self.mean_true.assign_add(shift_true * batch_share)
        self.mean_pred.assign_add(shift_pred * batch_share)
        self.count.assign(count)

    def result(self):
        # 0 / 0 = nan for fewer than two samples or a constant input.
        return self.products / (ops.sqrt(self.squares_true) * ops.sqrt(self.squares_pred))


def _batch_mean(scores, count):
    """The mean of `scores`, taken about the first one: a constant batch's mean is then
    that constant exactly (its float32 sum over `count` need not be), so that the
    deviations from it are exact zeros and a constant input's correlation is nan.
    """
    first = ops.sum(scores[:1])  # 0 for an empty batch
    return first + ops.divide_no_nan(ops.sum(scores - first), count)


def _check_accumulating_dtype(dtype: str) -> None:
    """Correlations sum squares over an epoch: float16 and bfloat16 overflow or round them."""
    if dtype not in ("float32", "float64"):
        raise ValueError(
            "`dtype` must be float32 or float64: the metric sums squares over an epoch, "
            f"which float16 overflows and bfloat16 rounds. Received: dtype={dtype!r}"
        )


@keras.saving.register_keras_serializable(package="iqa_keras")
class SRCC(keras.metrics.Metric):
    """Spearman's rank correlation of `y_pred` with `y_true` over all samples seen.

    Ranks need every value, so the scores are kept in two buffers of `capacity` floats
    each; `result()` ranks the filled part (ties get their average rank) and correlates
    the ranks. `y_true` and `y_pred` hold one score per sample, shape `(N,)` or
    `(N, 1)`; `sample_weight` is ignored. The result is nan with fewer than 2 samples,
    with a constant input, with a non-finite score, and once more than `capacity`
    samples were seen since the last `reset_state()` (the extra ones are not stored):
    set `capacity` to at least the number of samples of an epoch.

    Args:
        capacity: how many samples can be stored, in two buffers of `capacity` scores.
            Keras calls `result()` at every step and it sorts the whole buffers, so a
            capacity far above the epoch's size costs time at every step.
        name: the metric's name in logs.
        dtype: the dtype of the stored scores: float32 (the default) or float64.

    Example:
    >>> metric = SRCC(capacity=8)
    >>> metric.update_state([1.0, 2.0], [1.0, 3.0])
    >>> metric.update_state([2.0, 4.0], [2.0, 4.0])
    >>> from iqa_keras.evaluation import srcc
    >>> round(float(metric.result()), 4) == round(srcc([1, 2, 2, 4], [1, 3, 2, 4]), 4)
    True
    """

    def __init__(self, capacity: int = 65536, name: str = "srcc", dtype=None):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)):
            raise TypeError(f"`capacity` must be an int. Received: capacity={capacity!r}")
        if capacity < 2:
            raise ValueError(f"`capacity` must be at least 2. Received: capacity={capacity}")
        super().__init__(name=name, dtype=dtype)
        _check_accumulating_dtype(self.dtype)
        self.capacity = int(capacity)
        self.true_scores = self._buffer("true_scores")
        self.pred_scores = self._buffer("pred_scores")
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype="int32", aggregation="only_first_replica", name="count"
        )

    def _buffer(self, name):
        return self.add_variable(
            shape=(self.capacity,),
            initializer="zeros",
            dtype=self.dtype,
            aggregation="only_first_replica",
            name=name,
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _gathered_from_all_replicas(
            *_one_score_per_sample(y_true, y_pred, self.dtype, self.name)
        )
        if y_true.shape[0] is not None and y_true.shape[0] > self.capacity:
            raise ValueError(
                f"A batch of {y_true.shape[0]} samples does not fit in {self.name}'s "
                f"buffer. Expected `capacity` >= the epoch's sample count. Received: "
                f"capacity={self.capacity}"
            )
        count = self.count.value
        end = count + ops.cast(ops.shape(y_true)[0], "int32")
        fits = end <= self.capacity  # when not, the result is nan: keep the buffer as is
        for buffer, scores in ((self.true_scores, y_true), (self.pred_scores, y_pred)):
            stored = buffer.value
            updated = ops.slice_update(stored, ops.reshape(count, (1,)), scores)
            buffer.assign(ops.where(fits, updated, stored))
        self.count.assign(end)

    def result(self):
        count, true_scores, pred_scores = (
            variable.value for variable in (self.count, self.true_scores, self.pred_scores)
        )
        filled = ops.arange(self.capacity) < count
        correlation = _masked_pearson(
            _average_ranks(true_scores, filled), _average_ranks(pred_scores, filled), filled
        )
        all_finite = ops.all(ops.isfinite(ops.where(filled, true_scores + pred_scores, 0.0)))
        usable = ops.logical_and(count <= self.capacity, all_finite)
        return ops.where(usable, correlation, ops.cast(float("nan"), self.dtype))

    def get_config(self):
        return {**super().get_config(), "capacity": self.capacity}


def _gathered_from_all_replicas(*tensors):
    """Every replica's part of the batch, concatenated, under a `tf.distribute` strategy.

    A correlation over an epoch needs all its samples in one place, and `tf.distribute`
    splits each batch over the replicas: so each replica gathers the whole batch and
    keeps the whole epoch, and reading the metric takes the first replica's copy
    (`aggregation="only_first_replica"`). With one replica, or another backend, the
    tensors are returned as they are. This is the one TensorFlow call of the metrics.
    """
    if keras.backend.backend() != "tensorflow":
        return tensors
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    return tuple(context.all_gather(tensor, axis=0) for tensor in tensors)


def _one_score_per_sample(y_true, y_pred, dtype, metric_name):
    """Both scores as 1-D tensors of `dtype`; (N,) and (N, 1) are accepted."""
    flattened = []
    for name, scores in (("y_true", y_true), ("y_pred", y_pred)):
        scores = ops.convert_to_tensor(scores, dtype=dtype)
        shape = tuple(scores.shape)
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] not in (1, None)):
            raise ValueError(
                f"{metric_name} expects one score per sample, `{name}` of shape (N,) or "
                f"(N, 1). Received: {name}.shape={shape}"
            )
        flattened.append(ops.reshape(scores, (-1,)))
    true_length, pred_length = flattened[0].shape[0], flattened[1].shape[0]
    if None not in (true_length, pred_length) and true_length != pred_length:
        raise ValueError(
            f"{metric_name} expects as many predictions as targets. Received: "
            f"y_true with {true_length} scores, y_pred with {pred_length}"
        )
    return flattened


def _average_ranks(values, mask):
    """1-based ranks of `values[mask]` with ties averaged; entries outside `mask` are junk.

    Sort-based (O(n log n) in time, O(n) in memory), so that it also compiles with XLA
    for a buffer of tens of thousands of scores.
    """
    size = values.shape[0]
    # Unused entries become +inf and sort last, so they do not shift any used entry's rank.
    keyed = ops.where(mask, values, ops.cast(float("inf"), values.dtype))
    order = ops.argsort(keyed)
    ordered = ops.take(keyed, order)
    starts_group = ops.concatenate([ops.ones((1,), "bool"), ordered[1:] != ordered[:-1]])
    group = ops.cumsum(ops.cast(starts_group, "int32")) - 1
    counts = ops.segment_sum(ops.ones_like(ordered), group, num_segments=size)
    ranks_by_group = ops.cumsum(counts) - counts + (counts + 1.0) / 2.0
    ordered_ranks = ops.take(ranks_by_group, group)
    return ops.scatter(ops.expand_dims(order, -1), ordered_ranks, (size,))


def _masked_pearson(x, y, mask):
    weight = ops.cast(mask, x.dtype)
    count = ops.sum(weight)
    deviation_x = (x - ops.sum(x * weight) / count) * weight
    deviation_y = (y - ops.sum(y * weight) / count) * weight
    return ops.sum(deviation_x * deviation_y) / (
        ops.sqrt(ops.sum(deviation_x**2)) * ops.sqrt(ops.sum(deviation_y**2))
    )
