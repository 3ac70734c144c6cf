"""Tracing a custom layer's `call` into a graph of the layers and `keras.ops` it uses.

A layer with no counting function of its own (KerasHub's `ViTEncoder`, a user's residual block)
is usually built from layers and `keras.ops` calls the counter knows. Running its `call` on
symbolic tensors of the shapes it was called with records those calls as a functional graph,
which the counter then walks like any other. A `call` that leaves `keras.ops` (raw TensorFlow,
JAX or PyTorch functions) cannot be traced; such a layer needs a registered counting function.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator

import keras

from bottleneck_search.compat import call_arguments, graph_unchanged


class UntraceableLayer(Exception):
    """A layer's `call` could not be run on symbolic tensors; the message says why."""


@contextlib.contextmanager
def traced_call(layer, node, shape_of: Callable[[keras.KerasTensor], tuple]) -> Iterator:
    """Yields a functional model of what `layer` computes in the call `node` records.

    The layer is called at inference (`training=False` where `call` takes it), with fresh
    symbolic inputs shaped `shape_of(tensor)` for each tensor of the original call and the same
    other arguments. On exit the layer's graph is left as it was.

    Yields None when the call returns no symbolic tensor: its outputs depend on the layer's
    weights and its inputs' shapes only, so there is nothing per example to count.

    Raises:
        UntraceableLayer: the call failed on symbolic tensors.
    """
    args, kwargs = call_arguments(node)
    inputs: list[keras.KerasTensor] = []

    def fresh(value):
        if not isinstance(value, keras.KerasTensor):
            return value
        tensor = keras.Input(
            batch_shape=shape_of(value), dtype=value.dtype, name=f"{layer.name}_in{len(inputs)}"
        )
        inputs.append(tensor)
        return tensor

    args, kwargs = keras.tree.map_structure(fresh, (tuple(args), dict(kwargs)))
    if "training" in inspect.signature(layer.call).parameters:
        kwargs["training"] = False
    # Keras' warnings about this throwaway call (masks it drops, say) are not the user's concern.
    with graph_unchanged(layer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            outputs = layer.call(*args, **kwargs)
            tensors = [t for t in keras.tree.flatten(outputs) if isinstance(t, keras.KerasTensor)]
            # No symbolic output: computed from weights and shapes alone (a position table),
            # which graph compilers fold into a constant. Nothing runs per example.
            graph = keras.Model(inputs, tensors, name=layer.name) if tensors else None
        except Exception as error:  # noqa: BLE001 - any failure means "not traceable"; say which.
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise UntraceableLayer(f"{type(error).__name__}: {first_line}") from error
        yield graph
