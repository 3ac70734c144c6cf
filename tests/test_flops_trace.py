"""Custom layers with no counting function: traced through the layers and `keras.ops` they call."""

import math

import keras
import pytest
import tensorflow as tf

from bottleneck_search import (
    Cost,
    UnsupportedLayerError,
    count_flops,
    register_counter,
    unregister_counter,
)

L = keras.layers


class ResidualMLP(L.Layer):
    """`x + W2 gelu(W1 x)`, then layer-normalised: sublayers and `keras.ops` calls only."""

    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def build(self, input_shape):
        width = input_shape[-1]
        self.up = L.Dense(self.hidden, use_bias=False, name="up")
        self.down = L.Dense(width, use_bias=False, name="down")
        self.norm = L.LayerNormalization(name="norm")
        self.gate = self.add_weight(shape=(width,), initializer="ones", name="gate")
        self.up.build(input_shape)
        self.down.build((*input_shape[:-1], self.hidden))
        self.norm.build(input_shape)

    def call(self, x, training=None):
        y = self.down(keras.ops.gelu(self.up(x)))
        if training:
            y = keras.ops.zeros_like(y)  # training-only path the count must not take
        return self.norm(x + y * self.gate)


def test_a_custom_layer_is_counted_through_its_sublayers_and_operations():
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, ResidualMLP(8, name="block")(inputs))
    report = count_flops(model)
    elements, hidden_elements = 6 * 4, 6 * 8
    # up: 6 positions * 4 * 8; down: 6 * 8 * 4
    assert report.macs == 2 * 6 * 4 * 8
    by_name = {row.name: row for row in report.rows}
    assert by_name["block/up"].macs == by_name["block/down"].macs == 192
    assert by_name["block/gelu"].flops == hidden_elements
    assert by_name["block/multiply"].flops == by_name["block/add"].flops == elements
    # LayerNormalization with scale and center: 7 per element.
    assert by_name["block/norm"].flops == 7 * elements
    assert report.flops == 2 * report.macs + hidden_elements + 2 * elements + 7 * elements
    # The layer's own row comes after its calls and holds the weight it created itself.
    assert report.rows[-1].name == "block" and report.rows[-1].params == 4
    assert report.params == model.count_params() and report.skipped == ()


def test_tracing_leaves_the_model_as_it_was():
    block = ResidualMLP(8)
    inputs = keras.Input((6, 4))
    model = keras.Model(inputs, block(inputs))
    before = [len(layer._inbound_nodes) for layer in (block, block.up, block.down, block.norm)]
    count_flops(model)
    count_flops(model, batch_size=3)
    after = [len(layer._inbound_nodes) for layer in (block, block.up, block.down, block.norm)]
    assert after == before
    assert model.predict(keras.ops.ones((2, 6, 4)), verbose=0).shape == (2, 6, 4)


def test_a_nested_model_built_for_free_shapes_is_traced_at_the_call_shape():
    class Wrapped(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = keras.Sequential([L.Dense(3, use_bias=False)], name="body")

        def call(self, x):
            return self.body(x)

    inputs = keras.Input((5, 2))
    report = count_flops(keras.Model(inputs, Wrapped(name="w")(inputs)), batch_size=2)
    assert report.macs == 2 * 5 * 2 * 3


def test_operations_on_constants_count_every_operand():
    class LeftProjection(L.Layer):
        def build(self, input_shape):
            self.mix = self.add_weight(shape=(7, input_shape[1]), name="mix")

        def call(self, x):
            return keras.ops.matmul(self.mix, x)  # (7, 5) @ (batch, 5, 3)

    inputs = keras.Input((5, 3))
    report = count_flops(keras.Model(inputs, LeftProjection(name="p")(inputs)))
    assert report.macs == 7 * 3 * 5
    einsum_inputs = keras.Input((5, 3))
    outputs = keras.ops.einsum("bij,jk->bik", einsum_inputs, keras.ops.ones((3, 4)))
    assert count_flops(keras.Model(einsum_inputs, outputs)).macs == 5 * 3 * 4


def test_a_layer_computing_from_shapes_alone_costs_nothing():
    class PositionTable(L.Layer):
        def call(self, x):
            positions = keras.ops.arange(x.shape[1], dtype="float32")
            return keras.ops.sin(positions)

    inputs = keras.Input((9, 2))
    report = count_flops(keras.Model(inputs, [inputs, PositionTable(name="table")(inputs)]))
    assert report.flops == 0 and report.rows[-1].name == "table" and report.rows[-1].counted


def test_an_untraceable_layer_says_why_and_how_to_fix_it():
    class Sorting(L.Layer):
        def call(self, x):
            return keras.ops.sort(x)  # an operation with no counting function

    class Opaque(L.Layer):
        def call(self, x):
            return tf.math.cumsum(x, axis=-1)  # a backend function, not keras.ops

    inputs = keras.Input((4,))
    sorting = keras.Model(inputs, Sorting(name="s")(inputs))
    with pytest.raises(
        UnsupportedLayerError, match=r"Operation 's/sort' \(keras\.src\.ops\.numpy\.Sort\)"
    ):
        count_flops(sorting)
    assert count_flops(sorting, strict=False).skipped == ("s/sort",)
    opaque = keras.Model(inputs, Opaque(name="o")(inputs))
    with pytest.raises(
        UnsupportedLayerError,
        match=r"'o' of class Opaque.*could not be traced.*KerasTensor cannot be used as input to a "
        r"TensorFlow function.*register_counter\(Opaque\)",
    ):
        count_flops(opaque)
    report = count_flops(opaque, strict=False)
    assert report.skipped == ("o",) and not report.rows[-1].counted


def test_a_registered_counter_wins_over_tracing_and_may_name_the_class():
    class Doubling(L.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((10,))
    model = keras.Model(inputs, Doubling()(inputs))
    assert count_flops(model).flops == 10  # traced: one multiply per element
    register_counter(f"{Doubling.__module__}.{Doubling.__qualname__}")(
        lambda layer, inputs, outputs: Cost(flops=3 * math.prod(outputs[0]))
    )
    assert count_flops(model).flops == 30
    unregister_counter(f"{Doubling.__module__}.{Doubling.__qualname__}")
    assert count_flops(model).flops == 10
    with pytest.raises(TypeError, match="full name 'package.module.ClassName'"):
        register_counter("Doubling")
