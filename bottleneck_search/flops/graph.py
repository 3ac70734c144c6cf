"""`count_flops`: walks a functional or Sequential model's graph and counts every layer call."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import keras

from bottleneck_search.argument_validation import check_count
from bottleneck_search.compat import (
    call_arguments,
    nodes_by_depth,
    sequential_graph,
    variable_shape,
)
from bottleneck_search.errors import FlopCountError, UnsupportedLayerError

# Importing the module registers the built-in counting functions.
from bottleneck_search.flops import layers as _builtin_counters  # noqa: F401
from bottleneck_search.flops import operations as _operation_counters  # noqa: F401
from bottleneck_search.flops.registry import CountingFunction, counter_for
from bottleneck_search.flops.report import FlopReport, LayerRow
from bottleneck_search.flops.trace import UntraceableLayer, traced_call


def count_flops(
    model: keras.Model,
    batch_size: int = 1,
    strict: bool = True,
    input_shape: Sequence[int] | None = None,
    counters: Mapping[type | str, CountingFunction] | None = None,
) -> FlopReport:
    """Counts MACs, FLOPs and parameters of a Keras model from its layer configs and shapes.

    Nothing is computed on data: the costs follow from the shapes in the model's graph. Every
    layer call is counted, so a shared layer called twice costs twice (its parameters count
    once). Nested models are counted layer by layer. A layer with no counting function is traced:
    its `call` runs on symbolic tensors, and the layers and `keras.ops` calls it makes are
    counted (`bottleneck_search/flops/trace.py`).

    Args:
        model: a functional or Sequential `keras.Model` with fixed input shapes (the batch
            dimension may be `None`).
        batch_size: the batch size that replaces a `None` batch dimension.
        strict: if True, a layer that has no counting function and cannot be traced (or an
            operation with no counting function) raises `UnsupportedLayerError`; if False it is
            counted as zero and listed in `FlopReport.skipped`.
        input_shape: the shape of one example (no batch dimension), for a model whose input
            has free dimensions, such as `keras.applications.MobileNetV3Small()` with its
            default `(None, None, 3)`: the model's graph is rebuilt at this shape (a clone; the
            model itself is untouched). Its parameters are counted as they are.
        counters: counting functions for this call only, `{layer class or its full name:
            function}`, looked up before the registered ones (`register_counter` registers for
            the whole process; `unregister_counter` removes).

    Returns:
        A `FlopReport`.

    Raises:
        UnsupportedLayerError: a layer or operation cannot be counted (and `strict` is True).
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
    check_count("batch_size", batch_size, error=FlopCountError)
    if input_shape is not None:
        model = _at_input_shape(model, input_shape)
    walker = _GraphWalker(batch_size=batch_size, strict=strict, counters=counters)
    walker.walk(model)
    return FlopReport(rows=tuple(walker.rows), batch_size=batch_size, skipped=tuple(walker.skipped))


class _GraphWalker:
    def __init__(self, batch_size: int, strict: bool, counters=None):
        self.batch_size = batch_size
        self.strict = strict
        self.counters = dict(counters or {})
        self.rows: list[LayerRow] = []
        self.skipped: list[str] = []
        self._weights_seen: set[int] = set()
        self._calls: Counter[str] = Counter()

    def walk(self, model: keras.Model) -> None:
        for prefix, node in layer_calls(model):
            self._count_call(node.operation, node, prefix)

    def _count_call(self, operation, node, prefix: str) -> None:
        name = f"{prefix}{_stable_name(operation)}"
        self._calls[name] += 1
        if self._calls[name] > 1:
            name = f"{name}#{self._calls[name]}"
        inputs = self._input_shapes(operation, node, name)
        outputs = [self._concrete(t.shape, name) for t in node.output_tensors]
        counter = counter_for(type(operation), self.counters)
        counted = True
        if counter is not None:
            cost = counter(operation, inputs, outputs)
            cost_macs, cost_flops = int(cost.macs), int(cost.flops)
        else:
            # Its layers and operations get rows of their own, before this one.
            counted = self._count_traced(operation, node, name)
            cost_macs = cost_flops = 0
        params, trainable = self._params_once(operation)
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
                counted=counted,
            )
        )

    def _count_traced(self, operation, node, name: str) -> bool:
        """Counts the calls inside `operation`'s call; False if it cannot be traced (and not strict)."""
        kind = type(operation).__name__
        if not isinstance(operation, keras.layers.Layer):
            if self.strict:
                raise UnsupportedLayerError(
                    f"Operation '{name}' ({type(operation).__module__}.{kind}) has no FLOP "
                    f"counting function. Register one with @bottleneck_search.register_counter("
                    f"{kind}) on that class, or pass strict=False to count it as zero and list "
                    "it in the report."
                )
            self.skipped.append(name)
            return False
        try:
            with traced_call(operation, node, lambda t: self._concrete(t.shape, name)) as graph:
                for inner_prefix, inner_node in layer_calls(graph, f"{name}/") if graph else ():
                    self._count_call(inner_node.operation, inner_node, inner_prefix)
            return True
        except UntraceableLayer as error:
            reason = str(error)
        if self.strict:
            raise UnsupportedLayerError(
                f"Layer '{name}' of class {kind} has no FLOP counting function, and its call "
                f"could not be traced through keras.ops ({reason}). Register one with "
                f"@bottleneck_search.register_counter({kind}), or pass strict=False to count "
                "it as zero and list it in the report."
            )
        self.skipped.append(name)
        return False

    def _input_shapes(self, operation, node, name: str) -> list[tuple[int, ...]]:
        if isinstance(operation, keras.layers.Layer):
            return [self._concrete(t.shape, name) for t in node.input_tensors]
        # An operation's operands may be constants or variables (`x @ kernel`): keep them all,
        # in call order, so that `inputs[i]` is the i-th operand.
        args, _ = call_arguments(node)
        return [
            self._concrete(tuple(arg.shape), name)
            for arg in keras.tree.flatten(args)
            if hasattr(arg, "shape") and hasattr(arg, "dtype")
        ]

    def _params_once(self, operation) -> tuple[int, int]:
        """Sizes of the layer's weights not counted yet: shared layers and weights count once."""
        if not isinstance(operation, keras.layers.Layer):
            return 0, 0
        weights = [w for w in operation.weights if id(w) not in self._weights_seen]
        if not weights:
            return 0, 0
        self._weights_seen.update(id(w) for w in weights)
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
    if not isinstance(model, keras.Sequential | keras.Model) or not getattr(model, "inputs", None):
        raise FlopCountError(
            f"input_shape fills the free dimensions of a functional or Sequential model's "
            f"graph; '{model.name}' ({type(model).__name__}) has none (a subclassed model). "
            "Build it first, e.g. model(keras.Input((224, 224, 3))), then count it without "
            "input_shape, or count a functional model."
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


def _stable_name(operation) -> str:
    """The operation's name; for `keras.ops` calls without the process-wide counter Keras adds.

    `x + y` is named `add`, `add_1`, ... in creation order across the whole process, so the same
    model would get different row names on each count; repeats become `add#2` here instead.
    """
    if isinstance(operation, keras.layers.Layer):
        return operation.name
    return re.sub(r"_\d+$", "", operation.name)


def _size(variable) -> int:
    return math.prod(variable_shape(variable))


def layer_calls(model: keras.Model, prefix: str = ""):
    """Yields `(prefix, node)` for every layer call of `model` in execution order.

    Nested models are entered (their calls get the prefix `outer/`); input layers are skipped.
    `node.operation` is the layer; `node.input_tensors` and `node.output_tensors` its tensors.
    """
    for node in nodes_in_order(model, prefix):
        operation = node.operation
        if isinstance(operation, keras.layers.InputLayer):
            continue
        if graph_fits_call(operation, node):
            yield from layer_calls(operation, f"{prefix}{operation.name}/")
            continue
        yield prefix, node


def graph_fits_call(operation, node) -> bool:
    """Whether `operation` is a model whose own graph has the shapes of this call.

    A nested model built for free dimensions (a `Sequential` inside a custom layer, say) has a
    graph with `None` where this call has sizes; such a call is traced instead of walked.
    """
    if not isinstance(operation, keras.Model):
        return False
    graph = functional_graph(operation)
    if graph is None or nodes_by_depth(graph) is None:
        return False
    inner = keras.tree.flatten(graph.inputs)
    return len(inner) == len(node.input_tensors) and all(
        tuple(a.shape[1:]) == tuple(b.shape[1:])
        for a, b in zip(inner, node.input_tensors, strict=True)
    )


def functional_graph(model: keras.Model):
    """The graph holding a model's nodes: a `Sequential`'s inner one (None before it has an input
    shape), else the model itself."""
    return sequential_graph(model) if isinstance(model, keras.Sequential) else model


def nodes_in_order(model: keras.Model, prefix: str):
    graph = functional_graph(model)
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
