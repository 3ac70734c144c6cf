"""Compile, fit and evaluate under a `Task`: the one place any model of the package is trained.

Trials (`BottleneckHyperModel`), confirmation runs (`train_architecture`), export's retraining,
compress' fine-tuning and the supernet all call these, so a loss or metric is never written out
anywhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence

import keras

from bottleneck_search.compat import build_training_state
from bottleneck_search.training.task import Task

# A training prints its per-epoch line only once it has run this long (tiny ones stay quiet).
QUIET_SECONDS = 5.0


def compile_model(
    model: keras.Model, task: Task, optimizer="adam", in_model_strategy: bool = False
) -> None:
    """`model.compile` with the task's loss and fresh metrics.

    With `in_model_strategy`, this happens inside the model's `tf.distribute` strategy (a model
    recompiled outside the scope it was built in): the optimizer's variables must live where
    the model's do, so pass `optimizer` as a function that makes it, called in the scope.
    """
    strategy = getattr(model, "distribute_strategy", None) if in_model_strategy else None
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
            optimizer = optimizer()
        model.compile(optimizer=optimizer, loss=task.new_loss(), metrics=task.new_metrics())


def fit_model(
    model: keras.Model,
    *data,
    epochs: int = 1,
    validation_data=None,
    callbacks: Sequence = (),
    on_progress: Callable[[str], None] | None = None,
    label: str = "",
    progress_after: float = QUIET_SECONDS,
    shuffle: bool | None = False,
    **fit_kwargs,
):
    """`model.fit` (already compiled) with a line per epoch to `on_progress` once it runs long:
    the one fit of every training in the package (trials, confirmation, export's retraining,
    compress' fine-tuning, the supernet).

    Args:
        model: a compiled model.
        *data: what `model.fit` takes positionally: `x` (a `tf.data.Dataset`, a `PyDataset`,
            arrays) and, for arrays, `y`.
        epochs: epochs to train.
        validation_data: as for `model.fit`.
        callbacks: Keras callbacks, run before the progress line's.
        on_progress: called with one line per epoch (`EpochProgress`); None prints nothing.
        label: what the line says it belongs to (`trial 3`, `supernet`).
        progress_after: seconds of training before the first line is printed (0: every epoch).
        shuffle: `model.fit`'s; our pipelines shuffle themselves, so False; None leaves Keras'
            own default (a Keras Tuner search passes on what its user gave).
        **fit_kwargs: the rest of `model.fit`'s arguments (`verbose` defaults to 0).

    Returns:
        Keras' `History`.

    Example:

    ```python
    model = space.build(space.cheapest())
    compile_model(model, Task())
    history = fit_model(model, data.train, epochs=1, validation_data=data.val, on_progress=print)
    assert len(history.history["val_accuracy"]) == 1
    ```
    """
    progress = (
        [EpochProgress(on_progress, epochs, label, progress_after)]
        if on_progress is not None
        else []
    )
    build_training_state(model, data[0] if data else fit_kwargs.get("x"))
    if shuffle is not None:
        fit_kwargs["shuffle"] = shuffle
    return model.fit(
        *data,
        validation_data=validation_data,
        epochs=epochs,
        verbose=fit_kwargs.pop("verbose", 0),
        callbacks=[*callbacks, *progress],
        **fit_kwargs,
    )


def evaluate_model(model: keras.Model, data) -> dict[str, float]:
    """The compiled metrics of `model` on `data`, by name (`loss`, `accuracy`, ...): the one
    evaluation of the package (scores, confirmation, the supernet's subnetworks).

    Example:

    ```python
    model = space.build(space.cheapest())
    compile_model(model, Task())
    assert set(evaluate_model(model, data.test)) == {"loss", "accuracy"}
    ```
    """
    build_training_state(model, data)
    results = model.evaluate(data, verbose=0, return_dict=True)
    return {name: float(value) for name, value in results.items()}


def prepared(data, task: Task):
    """A `Dataset` with its labels in the form `task` takes: class indices one-hot for
    categorical losses, as they are otherwise (and targets always: see `Dataset.num_classes`)."""
    if task.labels != "one_hot" or data.num_classes is None:
        return data
    classes = task.classes or data.num_classes

    def one_hot(images, labels):
        return images, keras.ops.one_hot(labels, classes)

    return dataclasses.replace(
        data, **{part: getattr(data, part).map(one_hot) for part in ("train", "val", "test")}
    )


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: `  <label>  epoch k/E  loss ...  <metrics>  elapsed m:ss  ETA m:ss`,
    once the training has run `quiet_seconds` (Keras' own bar needs a terminal and `verbose=1`).

    The metrics shown are the validation ones when there are (any task's: `val_accuracy`,
    `val_mae`, ...), else the training ones, as Keras logged them: nothing assumes a classifier.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        epochs: int,
        label: str = "",
        quiet_seconds: float = QUIET_SECONDS,
    ):
        super().__init__()
        self.emit = emit
        self.epochs = epochs
        self.quiet_seconds = quiet_seconds
        # Indented under the line of what it belongs to (readers pick trial lines by their start).
        self.label = f"  {label}  " if label else "  "

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.monotonic() - self.started
        if elapsed < self.quiet_seconds:
            return
        logs = logs or {}
        done = epoch + 1
        validation = [key for key in logs if key.startswith("val_")]
        others = validation or [key for key in logs if key not in ("loss", "learning_rate")]
        shown = [key for key in ("loss", *others) if key in logs][:4]
        values = "  ".join(f"{key} {float(logs[key]):.4f}" for key in shown)
        remaining = elapsed / done * (self.epochs - done)
        self.emit(
            f"{self.label}epoch {done}/{self.epochs}  {values}  elapsed {clock(elapsed)}  "
            f"ETA {clock(remaining)}"
        )


def clock(seconds: float) -> str:
    """`m:ss`, e.g. `clock(75) == "1:15"`."""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
