"""`task_from_model`: the `Task` a user's model was built for, read from the model itself."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.training.inputs import resolve_input_range
from bottleneck_search.training.task import (
    ACCURACIES,
    Task,
    is_classification_loss,
    labels_for,
    metric_name,
)

if TYPE_CHECKING:
    import keras


def task_from_model(
    model: keras.Model,
    compile_config: dict | None = None,
    loss=None,
    metric: str | None = None,
    input_range: str | None = "auto",
) -> Task:
    """The task of `model`: its compiled loss and metrics, else what its output layer implies,
    and the input range it expects (`training.inputs`).

    Args:
        model: the user's model.
        compile_config: the `compile_config` a saved `.keras` file keeps (see
            `model_io.compile_config`); None reads a compiled in-memory model's own.
        loss: overrides the loss (a Keras loss name or object), e.g. from `--loss`.
        metric: overrides the scoring metric (a Keras metric name), e.g. from `--metric`.
        input_range: `auto` (read from the model), `unit` or `raw`, e.g. from `--input-range`.

    Returns:
        The `Task`; its `source` says what it was read from.

    Raises:
        SearchConfigError: a multi-output model that was never compiled (its losses cannot be
            guessed), or an override Keras does not know.

    Example:

    ```python
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(inputs))
    logits = keras.Model(inputs, keras.layers.Dense(10)(x))
    assert task_from_model(logits).from_logits
    ```
    """
    if compile_config is None and getattr(model, "compiled", False):
        compile_config = model.get_compile_config()
    task = _from_compile_config(model, compile_config) if compile_config else None
    if task is None:
        task = _from_output(model)
    if loss is not None or metric is not None:
        task = override(task, loss, metric)
    return with_input_range(task, input_range, model)


def with_input_range(task: Task, choice: str | None, model: keras.Model | None) -> Task:
    """`task` with the input range `choice` resolves to for `model` (None: a YAML space)."""
    input_range, reason = resolve_input_range(choice, model)
    return dataclasses.replace(task, input_range=input_range, input_reason=reason)


def _from_compile_config(model, config: dict) -> Task | None:
    loss = config.get("loss")
    if loss is None:
        return None
    metrics = config.get("metrics") or []
    if isinstance(metrics, dict) or any(isinstance(m, list) or m is None for m in metrics):
        return Task(
            loss=loss,
            metrics=metrics,
            score=_per_output_score(model, metrics),
            labels="given",
            source="the model's compiled losses and metrics (per output)",
        )
    classification = is_classification_loss(loss)
    if classification and not any(metric_name(m) in ACCURACIES for m in metrics):
        metrics = [*metrics, "accuracy"]
    labels = labels_for(loss)
    units = _units(model)
    return Task(
        loss=loss,
        metrics=tuple(metrics),
        labels=labels,
        classes=(2 if units == 1 else units) if classification else None,
        source="the model's compiled loss and metrics",
    )


def _per_output_score(model, metrics) -> str:
    """The epoch-log key scoring a multi-output model compiled with metrics per output: the
    first output's accuracy if any output has one, else the first metric, else `val_loss`."""
    if isinstance(metrics, dict):
        named = [(name, m if isinstance(m, list) else [m]) for name, m in metrics.items()]
    else:
        named = list(zip(model.output_names, [m or [] for m in metrics], strict=False))
    keys = [(name, metric_name(m)) for name, group in named for m in group]
    chosen = next(((n, m) for n, m in keys if m in ACCURACIES), keys[0] if keys else None)
    return f"val_{chosen[0]}_{chosen[1]}" if chosen else "val_loss"


def _from_output(model) -> Task:
    import keras

    if len(model.outputs) != 1:
        raise SearchConfigError(
            f"Model '{model.name}' has {len(model.outputs)} outputs and was not compiled, so their "
            "losses cannot be inferred. Compile it with its losses before saving, or pass a "
            "Task(loss={...}, metrics=[...]) from Python."
        )
    activation = _output_activation(model)
    units = _units(model)
    if activation == "softmax":
        return Task(classes=units, source="the model's softmax output")
    if activation == "sigmoid" and units == 1:
        return Task(
            loss="binary_crossentropy",
            metrics=("accuracy",),
            labels="binary",
            classes=2,
            source="the model's sigmoid output",
        )
    if activation == "sigmoid":
        return Task(
            loss="binary_crossentropy",
            metrics=("binary_accuracy",),
            labels="given",
            source=f"the model's {units}-unit sigmoid output (multi-label)",
        )
    if activation in ("linear", None) and units and units > 1:
        return Task(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            classes=units,
            source="the model's linear output (logits)",
        )
    return Task(
        loss="mean_squared_error",
        metrics=("mae",),
        labels="given",
        source=f"the model's {activation or 'linear'} {units}-unit output (regression)",
    )


def override(task: Task, loss, metric: str | None) -> Task:
    """`task` with its loss and/or scoring metric replaced (`--loss`, `--metric`)."""
    import keras

    try:
        if loss is not None:
            keras.losses.get(loss)
        if metric is not None:
            keras.metrics.get(metric)
    except ValueError as error:
        raise SearchConfigError(
            f"Keras does not know {f'loss={loss!r} (--loss)' if loss is not None else f'metric={metric!r} (--metric)'}: "
            f"{str(error).splitlines()[0]} Use a Keras name such as "
            "sparse_categorical_crossentropy, mae, accuracy."
        ) from error
    new_loss = task.loss if loss is None else loss
    classification = is_classification_loss(new_loss)
    metrics = [metric] if metric is not None else list(task.metrics)
    if metric is None and loss is not None and not classification:
        metrics = [m for m in metrics if metric_name(m) not in ACCURACIES] or ["mae"]
    return Task(
        loss=new_loss,
        metrics=tuple(metrics),
        score=f"val_{metric_name(metric)}" if metric is not None else None,
        labels=labels_for(new_loss) if loss is not None else task.labels,
        classes=task.classes if classification else None,
        source=f"{task.source}, overridden by --loss/--metric",
    )


def _output_layer(model):
    """The layer that makes a single-output model's output, looked for inside nested models."""
    import keras

    layer = model.layers[-1] if model.layers else None
    while isinstance(layer, keras.Model) and layer.layers:
        layer = layer.layers[-1]
    return layer


def _output_activation(model) -> str | None:
    import keras

    layer = _output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = keras.activations.serialize(activation)
    return name if isinstance(name, str) else None


def _units(model) -> int | None:
    shape = model.outputs[0].shape
    return int(shape[-1]) if shape[-1] is not None else None
