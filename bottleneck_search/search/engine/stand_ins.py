"""The trials that never train: an architecture over a hard budget, or one whose build failed.

`build` returns a weightless stand-in for them (a tuner needs a model), and `fit` reports them at
once through the tuner's own callbacks, so no tuner stalls or aborts.
"""

from __future__ import annotations

import dataclasses

import keras

from bottleneck_search.compat import is_hparams_callback
from bottleneck_search.space.architecture import Architecture


@dataclasses.dataclass(frozen=True)
class BuiltModel:
    """What `build` made of one model: its architecture, and why it will not train (over the
    budget, or its build failed), if so."""

    architecture: Architecture
    infeasible: bool = False
    build_error: str | None = None


def stand_in_model() -> keras.Model:
    """A weightless model standing in for one that is not trained."""
    inputs = keras.Input((1,), name="infeasible")
    return keras.Model(inputs, inputs, name="infeasible")


def report_without_training(model: keras.Model, callbacks: list, logs: dict) -> None:
    """Runs the callback protocol for one pseudo-epoch with `logs`, so the tuner records the
    metrics and its best-epoch checkpoint (of the stand-in, which Hyperband may reload) exactly
    as for a trained model. TensorBoard's callbacks are left out: nothing was trained."""
    reporting = [
        c
        for c in callbacks
        if not isinstance(c, keras.callbacks.TensorBoard) and not is_hparams_callback(c)
    ]
    callback_list = keras.callbacks.CallbackList(reporting, model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_begin(0)
    callback_list.on_epoch_end(0, dict(logs))
    callback_list.on_train_end(dict(logs))
