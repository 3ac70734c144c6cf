"""`activation_memory`: the peak memory of a model's activations at inference, from its shapes.

The model's layer calls run in the graph's execution order; each output tensor is held from the
call that makes it until the last call that reads it (a model output until the end), and a
call's inputs and outputs are held at once while it runs. The peak is the largest such sum over
the calls. Nothing is run on data. Weights are not included (their bytes are the parameter count
times the dtype's size). This is the memory a runtime needs that frees each tensor after its
last use and runs no call in place; a runtime that fuses calls (a batch norm into its conv) or
reuses buffers needs no more than this, and it is what a 1x1 reduction changes: one more tensor
(the reduced one), alive while the conv after it runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import keras

from bottleneck_search.argument_validation import check_count
from bottleneck_search.errors import FlopCountError
from bottleneck_search.flops.graph import functional_graph, graph_fits_call, nodes_in_order


@dataclasses.dataclass(frozen=True)
class ActivationMemory:
    """The peak activation memory of a model at one batch size.

    Attributes:
        peak_bytes: the largest sum of tensors held at once.
        peak_layer: the layer call running at the peak (nested calls as `outer/inner`).
        input_bytes: the model's inputs, held until their last reader ran.
        batch_size: the batch size the shapes were taken at.

    Example:

    ```python
    memory = activation_memory(my_model, batch_size=8)
    print(memory.peak_bytes, memory.peak_layer)
    ```
    """

    peak_bytes: int
    peak_layer: str
    input_bytes: int
    batch_size: int

    def to_json(self) -> str:
        """The figures as JSON text."""
        return json.dumps(dataclasses.asdict(self))


def activation_memory(model: keras.Model, batch_size: int = 1) -> ActivationMemory:
    """The peak activation memory of `model` at inference (see the module docstring).

    Args:
        model: a functional or Sequential model with fixed shapes (batch dimension aside).
        batch_size: replaces a `None` batch dimension.

    Raises:
        FlopCountError: a bad batch size, a model without a static graph, or a free dimension.

    Example:

    ```python
    inputs = keras.Input((8, 8, 4))
    outputs = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    memory = activation_memory(keras.Model(inputs, outputs))
    assert memory.peak_bytes == (8 * 8 * 4 + 8 * 8 * 16) * 4   # input and output, float32
    ```
    """
    if not isinstance(model, keras.Model):
        raise FlopCountError(
            f"activation_memory() takes a keras.Model. Received: {type(model).__name__}."
        )
    check_count("batch_size", batch_size, error=FlopCountError)
    sizes: dict[int, int] = {}
    alias: dict[int, int] = {}
    graph = functional_graph(model)
    inputs = [id(t) for t in keras.tree.flatten(graph.inputs)] if graph is not None else []
    for tensor in keras.tree.flatten(graph.inputs) if graph is not None else ():
        sizes[id(tensor)] = _bytes(tensor, batch_size, model.name)
    calls = list(_calls(model, "", alias, sizes, batch_size))
    outputs = {alias.get(id(t), id(t)) for t in keras.tree.flatten(graph.outputs)}
    last_read = {tensor: len(calls) for tensor in outputs}
    for step, (_, reads, _) in enumerate(calls):
        for tensor in reads:
            last_read[tensor] = max(last_read.get(tensor, step), step)
    held = set(inputs)
    peak, peak_layer = sum(sizes[t] for t in held), "input"
    for step, (name, reads, writes) in enumerate(calls):
        running = sum(sizes[t] for t in held | set(reads) | set(writes))
        if running > peak:
            peak, peak_layer = running, name
        held |= set(writes)
        held = {t for t in held if last_read.get(t, -1) > step}
    return ActivationMemory(
        peak_bytes=peak,
        peak_layer=peak_layer,
        input_bytes=sum(sizes[t] for t in inputs),
        batch_size=batch_size,
    )


def _calls(model, prefix: str, alias: dict, sizes: dict, batch_size: int):
    """`(name, tensors read, tensors written)` of every layer call in execution order, nested
    models entered; the tensors are ids, a nested model's inputs and outputs aliased to the
    tensors of the call that runs it."""
    for node in nodes_in_order(model, prefix):
        operation = node.operation
        if isinstance(operation, keras.layers.InputLayer):
            continue
        reads = [alias.get(id(t), id(t)) for t in node.input_tensors]
        if graph_fits_call(operation, node):
            inner = functional_graph(operation)
            for inner_input, outer in zip(keras.tree.flatten(inner.inputs), reads, strict=True):
                alias[id(inner_input)] = outer
            yield from _calls(operation, f"{prefix}{operation.name}/", alias, sizes, batch_size)
            for outer, inner_output in zip(
                node.output_tensors, keras.tree.flatten(inner.outputs), strict=True
            ):
                alias[id(outer)] = alias.get(id(inner_output), id(inner_output))
            continue
        writes = []
        for tensor in node.output_tensors:
            sizes[id(tensor)] = _bytes(tensor, batch_size, f"{prefix}{operation.name}")
            writes.append(id(tensor))
        yield f"{prefix}{operation.name}", reads, writes


def _bytes(tensor, batch_size: int, where: str) -> int:
    shape = tuple(tensor.shape)
    if shape and shape[0] is None:
        shape = (batch_size, *shape[1:])
    if None in shape:
        raise FlopCountError(
            f"'{where}' has an undefined dimension in shape {shape}; activation memory needs "
            "fixed shapes. Build the model with a fixed input shape, e.g. keras.Input((224, 224, 3))."
        )
    return math.prod(shape) * _itemsize(keras.backend.standardize_dtype(tensor.dtype))


def _itemsize(dtype: str) -> int:
    """Bytes per element of a Keras dtype name (`float32`, `bfloat16`, `int8`, `bool`)."""
    bits = re.search(r"(\d+)$", dtype)
    return int(bits.group(1)) // 8 if bits else 1
