"""`expected_input_range`: the pixel range a model was built to be fed.

Keras' own image examples start their models with `Rescaling(1/255)` (or a `Normalization`
adapted on raw images) and feed them raw 0-255 pixels. Feeding such a model images already in
[0, 1] scales them twice, and nothing learns. The rule: run what comes before the model's first
layer with weights (`Rescaling`, `Normalization`, `keras.ops` calls such as a `preprocess_input`
written into the graph; inside a nested model, its `Rescaling` and `Normalization` layers) on a
black and a white 0-255 image. If they map the 0-255 span to at most `RAW_SPAN` (a
range a network is built for: [0, 1], [-1, 1], a few standard deviations), the model expects raw
pixels; otherwise, or with no such layer, [0, 1].

Preprocessing hidden in a custom layer with weights, or in a data pipeline, is not seen: say
`--input-range raw` (or `unit`) for such models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.calibration import every_layer

if TYPE_CHECKING:
    import keras

UNIT = (0.0, 1.0)
RAW = (0.0, 255.0)
RANGES = {"unit": UNIT, "raw": RAW}
# The widest span of preprocessed values a 0-255 image may map to for the model to count as
# built for raw pixels (Rescaling(1/255): 1; Rescaling(1/127.5, -1): 2; Normalization of raw
# pixels: about 255 / 70 = 3.6; of [0, 1] images: about 255 / 0.3 = 850).
RAW_SPAN = 20.0


def expected_input_range(model: keras.Model) -> tuple[tuple[float, float], str]:
    """`(range, reason)`: the pixel range `model` expects and why it was chosen.

    Example:

    ```python
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(x))
    assert expected_input_range(model)[0] == (0.0, 255.0)
    ```
    """
    import keras

    shape = (1, *(int(d) for d in model.inputs[0].shape[1:]))
    low, high = np.zeros(shape, "float32"), np.full(shape, 255.0, "float32")
    prefix, first = _graph_prefix(model)
    if prefix is not None:  # layers or keras.ops calls before the first weighted layer
        applied = [op for op in prefix.operations if not isinstance(op, keras.layers.InputLayer)]
        steps = [prefix]
        names = ", ".join(f"{type(op).__name__} '{op.name}'" for op in applied)
        names = f"{names} (before '{first}')"
    else:  # the first weighted layer is inside a nested model: walk the preprocessing layers
        steps = list(_preprocessing_layers(model))
        names = ", ".join(f"{type(layer).__name__} '{layer.name}'" for layer in steps)
    if not steps:
        return UNIT, "nothing rescales the input before the first weighted layer"
    try:
        for step in steps:
            low, high = (keras.ops.convert_to_numpy(step(x)) for x in (low, high))
    except (ValueError, RuntimeError, TypeError) as error:  # e.g. a Normalization never adapted
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return (
            UNIT,
            f"{names} could not be run on a probe image ({reason}); say input_range= (--input-range)",
        )
    span = float(np.max(np.abs(high - low)))
    if span <= RAW_SPAN:
        return RAW, f"{names}: 0-255 pixels become a span of {span:.3g}, so fed raw 0-255"
    return UNIT, f"{names}: 0-255 pixels would become a span of {span:.3g}, so fed [0, 1]"


def resolve_input_range(
    choice: str | None, model: keras.Model | None
) -> tuple[tuple[float, float], str]:
    """The range for `--input-range`: `unit`, `raw`, or `auto`/None (from `model`; [0, 1] for
    a YAML space, whose networks take [0, 1])."""
    if choice is not None:
        check_choice("input_range", choice, ("auto", *RANGES))
    if choice in RANGES:
        return RANGES[choice], f"input_range={choice!r}"
    if model is None:
        return UNIT, "a YAML space's network takes [0, 1]"
    return expected_input_range(model)


def _graph_prefix(model) -> tuple:
    """`(sub-model, name)`: the part of `model` between its input and its first layer with
    weights (the preprocessing, `keras.ops` calls included), when that layer is a plain layer of
    the top-level graph and something comes before it; else `(None, None)`."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer | keras.layers.Normalization):
            continue
        if not layer.weights:
            continue
        if isinstance(layer, keras.Model) or len(model.inputs) != 1:
            return None, None
        try:
            tensor = layer.input
        except (AttributeError, ValueError):  # called more than once, or not in this graph
            return None, None
        if tensor is model.inputs[0] or not hasattr(tensor, "shape"):
            return None, None
        return keras.Model(model.inputs[0], tensor), layer.name
    return None, None


def _preprocessing_layers(model) -> Iterator:
    """The `Rescaling` and `Normalization` layers met, in order, before any layer with weights."""
    import keras

    for layer in every_layer(model)[1:]:
        if isinstance(layer, keras.Model):
            continue
        if isinstance(layer, keras.layers.Rescaling | keras.layers.Normalization):
            yield layer
        elif layer.weights:
            return
