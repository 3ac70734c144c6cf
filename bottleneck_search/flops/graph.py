"""`count_flops`: walks a functional or Sequential model's graph and counts every layer call."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import keras

from bottleneck_search.compat import nodes_by_depth, sequential_graph, variable_shape
from bottleneck_search.errors import FlopCountError, UnsupportedLayerError

# Importing the module registers the built-in counting functions.
from bottleneck_search.flops import layers as _builtin_counters  # noqa: F401
from bottleneck_search.flops.registry import counter_for
from bottleneck_search.flops.report import FlopReport, LayerRow


def count_flops(
    model: keras.Model,
    batch_size: int = 1,
    strict: bool = True,
    input_shape: Sequence[int] | None = None,
) -> FlopReport:
    """Counts MACs, FLOPs and parameters of a Keras model from its layer configs and shapes.

    Nothing is run: the costs follow from the shapes in the model's graph. Every layer call is
    counted, so a shared layer called twice costs twice (its parameters count once). Nested
    models are counted layer by layer.

    Args:
        model: a functional or Sequential `keras.Model` with fixed input shapes (the batch
            dimension may be `None`).
        batch_size: the batch size that replaces a `None` batch dimension.
        strict: if True, a layer with no counting function raises `UnsupportedLayerError`; if
            False it is counted as zero and listed in `FlopReport.skipped`.
        input_shape: the shape of one example (no batch dimension), for a model whose input
            has free dimensions, such as `keras.applications.MobileNetV3Small()` with its
            default `(None, None, 3)`: the model's graph is rebuilt at this shape (a clone; the
            model itself is untouched). Its parameters are counted as they are.

    Returns:
        A `FlopReport`.

    Raises:
        UnsupportedLayerError: a layer has no counting function (and `strict` is True).
        FlopCountError: the model has no static graph or no fixed shapes.

    Example:

    ```python
    inputs = keras.Input((14, 14, 480))
    outputs = keras.layers.Conv2D(48, 5, padding="same", use_bias=False)(inputs)
    report = count_flops(keras.Model(inputs, outputs))
    assert report.macs == 112_896_000
    ```
    """
    if not isinstance(model, keras.Model):
        raise FlopCountError(
            f"count_flops() takes a keras.Model. Received: {type(model).__name__}. "
            "Wrap a single layer in a model: keras.Model(inputs, layer(inputs))."
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise FlopCountError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}."
        )
    if input_shape is not None:
        model = _at_input_shape(model, input_shape)
    walker = _GraphWalker(batch_size=batch_size, strict=strict)
    walker.walk(model)
    return FlopReport(rows=tuple(walker.rows), batch_size=batch_size, skipped=tuple(walker.skipped))


class _GraphWalker:
    def __init__(self, batch_size: int, strict: bool):
        self.batch_size = batch_size
        self.strict = strict
        self.rows: list[LayerRow] = []
        self.skipped: list[str] = []
        self._params_seen: set[int] = set()
        self._calls: Counter[str] = Counter()

    def walk(self, model: keras.Model) -> None:
        for prefix, node in layer_calls(model):
            self._count_call(node.operation, node, prefix)

    def _count_call(self, operation, node, prefix: str) -> None:
        name = f"{prefix}{operation.name}"
        self._calls[name] += 1
        if self._calls[name] > 1:
            name = f"{name}#{self._calls[name]}"
        inputs = [self._concrete(t.shape, name) for t in node.input_tensors]
        outputs = [self._concrete(t.shape, name) for t in node.output_tensors]
        params, trainable = self._params_once(operation)
        counter = counter_for(type(operation))
        if counter is None:
            if self.strict:
                raise UnsupportedLayerError(
                    f"Layer '{name}' of class {type(operation).__name__} has no FLOP counting "
                    "function. Register one with @bottleneck_search.register_counter("
                    f"{type(operation).__name__}), or pass strict=False to count it as zero "
                    "and list it in the report."
                )
            self.skipped.append(name)
            cost_macs = cost_flops = 0
        else:
            cost = counter(operation, inputs, outputs)
            cost_macs, cost_flops = int(cost.macs), int(cost.flops)
        output_shape = outputs[0] if len(outputs) == 1 else tuple(outputs)
        self.rows.append(
            LayerRow(
                name=name,
                class_name=type(operation).__name__,
                output_shape=output_shape,
                macs=cost_macs,
                flops=cost_flops,
                params=params,
                trainable_params=trainable,
                counted=counter is not None,
            )
        )

    def _params_once(self, operation) -> tuple[int, int]:
        if id(operation) in self._params_seen or not isinstance(operation, keras.layers.Layer):
            return 0, 0
        self._params_seen.add(id(operation))
        weights = operation.weights
        if not weights:
            return 0, 0
        sizes = [(_size(w), w.trainable) for w in weights]
        params = sum(size for size, _ in sizes)
        # Same rule as Layer.trainable_weights, without listing the weights a second time.
        trainable = (
            sum(size for size, is_trainable in sizes if is_trainable) if operation.trainable else 0
        )
        return params, trainable

    def _concrete(self, shape: tuple, name: str) -> tuple[int, ...]:
        if shape and shape[0] is None:
            shape = (self.batch_size, *shape[1:])
        if None in shape:
            raise FlopCountError(
                f"Layer '{name}' has an undefined dimension in shape {shape}; the counter "
                "needs fixed shapes. Pass the shape of one example, count_flops(model, "
                "input_shape=(224, 224, 3)) (CLI: --input-shape 224,224,3), or build the model "
                "with a fixed input shape, e.g. keras.Input((224, 224, 3))."
            )
        return shape


def _at_input_shape(model: keras.Model, input_shape: Sequence[int]) -> keras.Model:
    """A clone of a single-input model whose graph has the shapes of `input_shape` examples."""
    shape = tuple(input_shape)
    if not shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise FlopCountError(
            f"input_shape must be positive integers, one per dimension of an example (no batch "
            f"dimension), e.g. (224, 224, 3). Received: input_shape={input_shape!r}."
        )
    if len(model.inputs) != 1:
        raise FlopCountError(
            f"input_shape fills the free dimensions of a single-input model; '{model.name}' has "
            f"{len(model.inputs)} inputs. Build it with fixed input shapes instead."
        )
    expected = tuple(model.inputs[0].shape[1:])
    fixed = [(i, d) for i, d in enumerate(expected) if d is not None]
    if len(expected) != len(shape) or any(shape[i] != d for i, d in fixed):
        raise FlopCountError(
            f"input_shape {shape} does not fit model '{model.name}', whose examples have shape "
            f"{expected} (None is free)."
        )
    inputs = keras.Input(shape, dtype=model.inputs[0].dtype)
    return keras.models.clone_model(model, input_tensors=inputs)


def _size(variable) -> int:
    return math.prod(variable_shape(variable))


def layer_calls(model: keras.Model, prefix: str = ""):
    """Yields `(prefix, node)` for every layer call of `model` in execution order.

    Nested models are entered (their calls get the prefix `outer/`); input layers are skipped.
    `node.operation` is the layer; `node.input_tensors` and `node.output_tensors` its tensors.
    """
    for node in _nodes_in_order(model, prefix):
        operation = node.operation
        if isinstance(operation, keras.layers.InputLayer):
            continue
        if isinstance(operation, keras.Model):
            yield from layer_calls(operation, f"{prefix}{operation.name}/")
            continue
        yield prefix, node


def _nodes_in_order(model: keras.Model, prefix: str):
    graph = model
    if isinstance(model, keras.Sequential):
        graph = sequential_graph(model)
        if graph is None:
            raise FlopCountError(
                f"Sequential model '{prefix}{model.name}' has no input shape yet, so it has no "
                "graph to count. Start it with keras.Input(shape) or call model.build(input_shape)."
            )
    depths = nodes_by_depth(graph)
    if depths is None:
        raise FlopCountError(
            f"Model '{prefix}{model.name}' ({type(model).__name__}) is a subclassed model with no "
            "static graph. count_flops() needs a functional or Sequential model; rebuild it with "
            "the functional API, or count its layers in a functional wrapper."
        )
    for depth in sorted(depths, reverse=True):
        yield from depths[depth]
