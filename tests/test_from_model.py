"""SearchSpace.from_model: sites of existing Keras models, and rewriting them."""

import random

import keras
import numpy as np
import pytest

from bottleneck_search import SearchSpace, SearchSpaceError, apply_bottlenecks, count_flops

L = keras.layers


@pytest.fixture(scope="module")
def resnet50():
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=4)


@pytest.mark.slow
def test_resnet50_sites_follow_an_independent_rule(resnet50):
    # Independent rule: every Conv2D with a kernel of 3+ whose input has at least 8 channels
    # (the narrowest default width, a quarter of the channels rounded to a multiple of 8).
    expected = [
        layer.name
        for layer in resnet50.layers
        if isinstance(layer, L.Conv2D)
        and max(layer.kernel_size) >= 3
        and layer.input.shape[-1] >= 8
    ]
    space = SearchSpace.from_model(resnet50)
    assert [site.name for site in space.sites] == expected
    assert len(expected) == 16  # the 3x3 conv of each of ResNet50's 16 bottleneck blocks


@pytest.mark.slow
def test_resnet50_rewrite_trains_and_keeps_unchanged_weights(resnet50):
    space = SearchSpace.from_model(resnet50, init="carry")
    architecture = space.sample(random.Random(3))
    assert architecture.reduced > 0
    model = space.build(architecture)
    report = count_flops(model)
    assert (report.macs, report.flops, report.params) == space.cost(architecture)
    reduced = {name for name, width in architecture.decisions if width is not None}
    for name in reduced:
        assert model.get_layer(f"{name}_reduce").filters == architecture.widths[name]
    kept = 0
    for layer in resnet50.layers:
        if layer.weights and layer.name not in reduced:
            for old, new in zip(
                layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True
            ):
                np.testing.assert_array_equal(old, new)
            kept += 1
    assert kept == 53 + 53 + 1 - len(reduced)  # ResNet50: 53 convs, 53 batch norms, 1 dense
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(
        np.random.default_rng(0).random((4, 32, 32, 3)), np.array([0, 1, 2, 3])
    )
    assert np.isfinite(loss)


def nested_model():
    inner = keras.Sequential(
        [keras.Input((8, 8, 16)), L.Conv2D(16, 3, padding="same", name="inner_conv")], name="inner"
    )
    inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(16, 3, padding="same", name="outer_conv")(inputs)
    x = inner(x)
    x = L.Conv2D(16, 1, name="pointwise")(x)
    x = L.Conv2D(8, 5, padding="same", name="after_pointwise")(x)
    outputs = L.Dense(2)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="nested")


def test_nested_model_sites_and_rewrite():
    space = SearchSpace.from_model(nested_model(), widths=[4, 8])
    assert [s.name for s in space.sites] == ["outer_conv", "inner_conv", "after_pointwise"]
    architecture = space.validate({"inner_conv": 4, "after_pointwise": 8})
    model = space.build(architecture)
    assert count_flops(model).macs == space.macs(architecture)
    assert model.get_layer("inner").get_layer("inner_conv_reduce").filters == 4


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"name_pattern": "^outer"}, ["outer_conv"]),
        ({"min_kernel_size": 5}, ["after_pointwise"]),
        ({"skip_reduced": True}, ["outer_conv", "inner_conv"]),
    ],
)
def test_site_filters(kwargs, expected):
    space = SearchSpace.from_model(nested_model(), **kwargs)
    assert [s.name for s in space.sites] == expected


def test_model_with_no_sites_is_refused():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, L.Conv2D(4, 3)(inputs), name="rgb_only")
    with pytest.raises(SearchSpaceError, match="'rgb_only' has no candidate sites"):
        SearchSpace.from_model(model)


def test_apply_bottlenecks_from_json_file_around_a_user_model(tmp_path):
    space = SearchSpace.from_model(nested_model(), widths=[4, 8])
    architecture = space.validate({"outer_conv": 8})
    path = tmp_path / "architecture.json"
    path.write_text(architecture.to_json())
    model = apply_bottlenecks(nested_model(), path)
    assert count_flops(model).macs == architecture.macs
    with pytest.raises(
        SearchSpaceError, match="cannot take width 32: it exceeds the conv.s 16 input channels"
    ):
        apply_bottlenecks(nested_model(), {"outer_conv": 32})


def test_top_level_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 16)),
            L.Conv2D(16, 3, padding="same", name="first"),
            L.Conv2D(4, 3, name="second"),
        ],
        name="seq",
    )
    space = SearchSpace.from_model(model, widths=[8], init="carry")
    assert [s.name for s in space.sites] == ["first", "second"]
    architecture = space.validate({"second": 8})
    rebuilt = space.build(architecture)
    # second: a 1x1 16->8 at 8x8, then 3x3 valid 8->4 on 6x6 outputs; first unchanged
    assert (
        count_flops(rebuilt).macs
        == 64 * 9 * 16 * 16 + 64 * 16 * 8 + 36 * 9 * 8 * 4
        == space.macs(architecture)
    )
    np.testing.assert_array_equal(
        rebuilt.get_layer("first").get_weights()[0], model.get_layer("first").get_weights()[0]
    )


def test_reductions_take_the_precision_of_the_conv_they_feed():
    """A model made under mixed_float16 (how most GPU users train) keeps it when reductions are
    inserted later under the default policy, and a `bottleneck_conv` given `dtype` passes it to
    its reduction: no float32 island with casts in a half-precision network."""
    from keras_tuner import HyperParameters

    from bottleneck_search import bottleneck_conv

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = nested_model()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    space = SearchSpace.from_model(model, widths=[4, 8])
    rebuilt = space.build(space.validate({"outer_conv": 4, "inner_conv": 8}))
    reduced = [rebuilt.get_layer("outer_conv_reduce")]
    reduced.append(rebuilt.get_layer("inner").get_layer("inner_conv_reduce"))
    assert [layer.dtype_policy.name for layer in reduced] == ["mixed_float16"] * 2
    assert rebuilt.get_layer("outer_conv").dtype_policy.name == "mixed_float16"
    assert count_flops(rebuilt).macs == space.macs(
        space.validate({"outer_conv": 4, "inner_conv": 8})
    )

    hp = HyperParameters()
    hp.Fixed("conv/reduce", True)
    hp.Fixed("conv/width", 4)
    inputs = keras.Input((8, 8, 16))
    outputs = bottleneck_conv(hp, inputs, 8, 3, name="conv", widths=[4], dtype="mixed_bfloat16")
    built = keras.Model(inputs, outputs)
    assert built.get_layer("conv_reduce").filters == 4
    assert built.get_layer("conv_reduce").dtype_policy.name == "mixed_bfloat16"
