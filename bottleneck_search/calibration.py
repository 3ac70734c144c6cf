"""Batch-norm recalibration: moving statistics set to the exact statistics of a few batches.

A network whose convs changed (a supernet set to one architecture, a conv replaced by a warm-started
low-rank pair) computes features whose statistics differ from what its batch-norm layers learned;
one forward pass over a few training batches with every batch norm's momentum at 0 sets them right.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import keras


def recalibrate_batch_norms(
    model: keras.Model,
    calibration_data: Iterable,
    batches: int,
    layers: Sequence[keras.layers.Layer] | None = None,
) -> int:
    """Sets every batch-norm layer's moving statistics to those of `batches` batches.

    The batches' inputs run through `model` once, together, in training mode (dropout off) with
    every batch norm's momentum at 0, so the moving statistics become the exact statistics of those
    examples. One forward pass of `batches` x batch size examples: lower `batches` for large inputs.

    Args:
        model: the model.
        calibration_data: `(x, y)` batches (or bare inputs) of training data.
        batches: how many of them to use.
        layers: the layers holding the batch norms and dropouts; every layer of `model` and its
            nested models by default.

    Returns:
        The number of batches used.

    Example:

    ```python
    model = space.build(space.cheapest())
    recalibrate_batch_norms(model, data.train, batches=2)
    ```
    """
    inputs = [_inputs(batch) for batch in itertools.islice(iter(calibration_data), batches)]
    if not inputs:
        return 0
    layers = every_layer(model) if layers is None else layers
    norms = [n for n in layers if isinstance(n, keras.layers.BatchNormalization)]
    dropouts = [d for d in layers if isinstance(d, keras.layers.Dropout)]
    saved = [(n, "momentum", n.momentum) for n in norms] + [(d, "rate", d.rate) for d in dropouts]
    try:
        for layer, attribute, _ in saved:
            setattr(layer, attribute, 0.0)
        model(keras.ops.concatenate(inputs, axis=0), training=True)
    finally:
        for layer, attribute, value in saved:
            setattr(layer, attribute, value)
    return len(inputs)


def every_layer(layer) -> list:
    """`layer` and every layer of the models nested in it."""
    found = [layer]
    if isinstance(layer, keras.Model):
        for inner in layer.layers:
            found.extend(every_layer(inner))
    return found


def _inputs(batch):
    """The inputs of a data batch: `x` of `(x, y)` or `(x, y, sample_weight)`."""
    return batch[0] if isinstance(batch, tuple | list) else batch
