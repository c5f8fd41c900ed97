"""Training a `HallucinatedIQA` on the JAX backend.

Keras' JAX trainer carries one optimizer's state through `model.fit`, and a
`HallucinatedIQA` has three (generator, discriminator, regressor). So on JAX,
`fit_hallucinated_iqa` runs the model's own step (`training_parts`,
`training_losses`: the same forward pass and losses as `train_step` under TensorFlow)
as one jitted, stateless function: the variables are substituted through a
`keras.StatelessScope`, each part's gradient is the pull-back of its own loss alone
(one `jax.vjp`), and each part's optimizer applies it with `stateless_apply`. The
variables are written back to the model at the end of every epoch, before `on_epoch_end`,
and read back from it at the start of the next.

Float32 and `mixed_bfloat16` are supported; `mixed_float16` would need loss scaling and
is refused.

Example (JAX backend):
    model = HallucinatedIQA(...); model.compile()
    history = fit_hallucinated_iqa(model, CropBatches(records, crop_size=128), epochs=10)
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from iqa_keras.models import HallucinatedIQA

__all__ = ["fit_hallucinated_iqa"]


def fit_hallucinated_iqa(
    model: HallucinatedIQA,
    batches: keras.utils.PyDataset,
    epochs: int = 1,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    verbose: bool = True,
) -> list[dict]:
    """Trains a compiled `HallucinatedIQA` on `batches` (`(inputs, scores)` items).

    Args:
        model: compiled with `HallucinatedIQA.compile`.
        batches: e.g. `iqa_keras.data.arrays.CropBatches`; with references, the
            generator and discriminator train too (as their `trainable` flags allow).
        epochs: passes over `batches`.
        on_epoch_end: called as `on_epoch_end(epoch, logs)` after the weights are
            written back, e.g. to validate and save a checkpoint.
        verbose: print each epoch's mean losses.

    Returns:
        Each epoch's mean losses, as dicts.
    """
    import jax

    if keras.backend.backend() != "jax":
        raise NotImplementedError(
            f"fit_hallucinated_iqa runs on the JAX backend; use model.fit on TensorFlow. "
            f"Received: backend {keras.backend.backend()!r}"
        )
    if not isinstance(model, HallucinatedIQA) or not model.compiled:
        raise ValueError("`model` must be a compiled HallucinatedIQA.")
    if model.dtype_policy.name == "mixed_float16":
        raise ValueError("`mixed_float16` needs loss scaling; train in float32 or mixed_bfloat16.")
    first_inputs, _ = batches[0]
    parts = model.training_parts("reference" in first_inputs)
    trained = [getattr(model, part).trainable_variables for part, _, _ in parts]
    trainable = [variable for variables in trained for variable in variables]
    trained_ids = {id(variable) for variable in trainable}
    others = [variable for variable in model.variables if id(variable) not in trained_ids]
    optimizers = [optimizer for _, optimizer, _ in parts]
    bounds = np.cumsum([0] + [len(variables) for variables in trained])
    loss_keys = [key for _, _, key in parts]

    def step(trainable_values, other_values, optimizer_values, inputs, scores):
        def forward(values):
            mapping = [*zip(trainable, values), *zip(others, other_values)]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                losses, _ = model.training_losses(inputs, scores, parts)
            updated = [scope.get_current_value(variable) for variable in others]
            updated = [old if new is None else new for old, new in zip(other_values, updated)]
            return {key: losses[key] for key in loss_keys}, (losses, updated)

        part_losses, pull_back, (losses, updated) = jax.vjp(forward, trainable_values, has_aux=True)
        new_values, new_optimizer_values = list(trainable_values), []
        for index, (optimizer, key) in enumerate(zip(optimizers, loss_keys)):
            cotangent = {name: jax.numpy.zeros_like(value) for name, value in part_losses.items()}
            cotangent[key] = jax.numpy.ones_like(part_losses[key])
            (gradients,) = pull_back(cotangent)
            start, stop = bounds[index], bounds[index + 1]
            values, state = optimizer.stateless_apply(
                optimizer_values[index], gradients[start:stop], trainable_values[start:stop]
            )
            new_values[start:stop] = values
            new_optimizer_values.append(state)
        return new_values, updated, new_optimizer_values, losses

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    history = []
    for epoch in range(epochs):
        # Read afresh each epoch: `on_epoch_end` may have replaced the variables' buffers
        # (Keras' JAX `predict` does).
        state = (
            [jax.numpy.array(variable.value) for variable in trainable],
            [jax.numpy.array(variable.value) for variable in others],
            [[jax.numpy.array(variable.value) for variable in optimizer.variables] for optimizer in optimizers],
        )
        totals = {}
        for index in range(len(batches)):
            inputs, scores = batches[index]
            *state, losses = step(*state, inputs, scores)
            for name, value in losses.items():
                totals.setdefault(name, []).append(value)
        batches.on_epoch_end()
        _write_back(state, trainable, others, optimizers)
        logs = {name: float(np.mean(jax.device_get(values))) for name, values in totals.items()}
        history.append(logs)
        if verbose:
            shown = "  ".join(f"{name} {value:.4f}" for name, value in sorted(logs.items()))
            print(f"epoch {epoch + 1}/{epochs}  {shown}", flush=True)
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
    return history


def _write_back(state, trainable, others, optimizers) -> None:
    trainable_values, other_values, optimizer_values = state
    for variable, value in zip(trainable, trainable_values):
        variable.assign(value)
    for variable, value in zip(others, other_values):
        variable.assign(value)
    for optimizer, values in zip(optimizers, optimizer_values):
        for variable, value in zip(optimizer.variables, values):
            variable.assign(value)
