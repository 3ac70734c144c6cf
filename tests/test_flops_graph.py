"""Walking whole models: nesting, shared layers, several inputs and outputs, the registry, errors."""

import json
import math

import keras
import pytest

from bottleneck_search import (
    Cost,
    FlopCountError,
    UnsupportedLayerError,
    count_flops,
    per_output_element,
    register_counter,
    unregister_counter,
)
from bottleneck_search.model_io import application_names

pytestmark = pytest.mark.usefixtures("free_models")

L = keras.layers


def small_cnn():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", use_bias=False)(inputs)  # 8*8*4*27 = 6912
    x = L.BatchNormalization()(x)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(2, use_bias=False)(x)  # 4*2 = 8
    return keras.Model(inputs, outputs, name="small")


def test_nested_models_are_counted_layer_by_layer():
    inner = keras.Sequential(
        [keras.Input((8, 8, 3)), L.Conv2D(5, 3, use_bias=False, name="c")], name="inner"
    )
    inputs = keras.Input((8, 8, 3))
    outputs = L.Conv2D(2, 1, use_bias=False, name="head")(inner(inputs))
    report = count_flops(keras.Model(inputs, outputs))
    # inner: 6*6*5 * 27 = 4860; head: 6*6*2 * 5 = 360
    assert [(row.name, row.macs) for row in report.rows] == [("inner/c", 4_860), ("head", 360)]
    assert report.params == keras.Model(inputs, outputs).count_params()


def test_shared_layer_is_counted_per_call_and_its_params_once():
    shared = L.Dense(4, use_bias=False, name="shared")
    a, b = keras.Input((6,)), keras.Input((6,))
    model = keras.Model([a, b], L.Add()([shared(a), shared(b)]))
    report = count_flops(model)
    assert report.macs == 2 * 6 * 4
    assert [row.name for row in report.rows if row.class_name == "Dense"] == ["shared", "shared#2"]
    assert report.params == model.count_params() == 24


def test_several_inputs_and_outputs():
    image, meta = keras.Input((4, 4, 2)), keras.Input((3,))
    features = L.Flatten()(L.Conv2D(3, 1, use_bias=False)(image))  # 16*3*2 = 96
    joined = L.Concatenate()([features, meta])  # 48 + 3 = 51
    out_a = L.Dense(2, use_bias=False)(joined)  # 102
    out_b = L.Dense(1, use_bias=False)(meta)  # 3
    report = count_flops(keras.Model([image, meta], [out_a, out_b]))
    assert report.macs == 96 + 102 + 3


def test_batch_size_scales_every_count():
    model = small_cnn()
    one, eight = count_flops(model), count_flops(model, batch_size=8)
    assert one.macs == 6_912 + 8
    assert (eight.macs, eight.flops) == (8 * one.macs, 8 * one.flops)
    assert eight.params == one.params


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(FlopCountError, match="batch_size"):
        count_flops(small_cnn(), batch_size=batch_size)


def test_params_match_keras_including_non_trainable():
    model = small_cnn()
    model.get_layer(index=1).trainable = False  # the conv: 108 weights frozen
    report = count_flops(model)
    # conv 3*3*3*4 = 108, batch norm 4 gamma + 4 beta + 8 moving statistics, dense 4*2 = 8
    assert report.params == model.count_params() == 108 + 16 + 8
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert report.trainable_params == trainable == 8 + 8


def test_unsupported_layer_names_layer_class_and_fix():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, L.LSTM(4, name="my_lstm")(inputs))
    with pytest.raises(
        UnsupportedLayerError,
        match=r"'my_lstm' of class LSTM.*register_counter\(LSTM\).*strict=False",
    ):
        count_flops(model)
    report = count_flops(model, strict=False)
    assert report.skipped == ("my_lstm",)
    assert report.macs == 0
    assert "not counted" in report.table()


def test_register_counter_for_a_custom_layer():
    class Scale(L.Layer):
        def call(self, x):
            return x * 3.0

    @register_counter(Scale)
    def count_scale(layer, input_shapes, output_shapes):
        return Cost(flops=math.prod(output_shapes[0]))

    inputs = keras.Input((4, 5))
    model = keras.Model(inputs, Scale()(inputs))
    assert count_flops(model).flops == 20
    unregister_counter(Scale)  # leaves the process as it found it
    assert count_flops(model).flops == 20  # traced again: one multiply per element
    with pytest.raises(KeyError, match="No counting function is registered"):
        unregister_counter(Scale)


def test_counters_scoped_to_one_call_win_and_leave_nothing_behind():
    inputs = keras.Input((4, 5))
    model = keras.Model(inputs, L.ReLU(name="act")(L.Dense(3, name="fc")(inputs)))
    plain = count_flops(model)
    scoped = count_flops(model, counters={L.ReLU: per_output_element(7)})
    assert scoped.flops - plain.flops == (7 - 1) * 4 * 3  # the ReLU's 12 elements at 7, not 1
    assert count_flops(model).flops == plain.flops  # nothing registered for later calls
    assert count_flops(model, counters={L.Layer: per_output_element(0)}).flops == plain.flops


def test_by_module_totals_nested_models_and_any_grouping():
    stem = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, name="conv")], name="stem")
    inputs = keras.Input((8, 8, 3))
    x = stem(inputs)
    model = keras.Model(inputs, L.Dense(2, name="head")(L.Flatten(name="flat")(x)))
    report = count_flops(model)
    modules = report.by_module()
    assert list(modules) == ["stem", "flat", "head"]
    assert modules["stem"]["macs"] == 6 * 6 * 3 * 3 * 3 * 4 and modules["head"]["macs"] == 144 * 2
    assert sum(m["macs"] for m in modules.values()) == report.macs
    halves = report.by_module(lambda name: "body" if name.startswith("stem") else "rest")
    assert halves["body"]["macs"] == modules["stem"]["macs"]


def test_register_counter_rejects_instances():
    with pytest.raises(TypeError, match="classes, not instances"):
        register_counter(L.Dense(2))


def test_undefined_spatial_shape_is_refused_with_a_fix():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(2, 3)(inputs))
    with pytest.raises(FlopCountError, match=r"input_shape=\(224, 224, 3\)\) \(CLI: --input-shape"):
        count_flops(model)


def test_input_shape_fills_free_dimensions_without_touching_the_model():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(2, 3, use_bias=False)(inputs))
    report = count_flops(model, input_shape=(10, 12, 3))
    assert report.macs == 8 * 10 * 2 * 3 * 3 * 3  # valid 3x3: 8x10 outputs, 2 filters, 27 taps
    assert report.params == 3 * 3 * 3 * 2 == model.count_params()
    assert tuple(model.inputs[0].shape) == (None, None, None, 3)


@pytest.mark.parametrize(
    "input_shape, message",
    [
        ((10, 12, 1), "does not fit"),  # the channels are fixed at 3
        ((10, 12), "does not fit"),
        ((10, 0, 3), "positive integers"),
    ],
)
def test_input_shape_that_does_not_fit_is_refused(input_shape, message):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, L.Conv2D(2, 3)(inputs))
    with pytest.raises(FlopCountError, match=message):
        count_flops(model, input_shape=input_shape)


# Published multiply-accumulates at the default input size (224x224; 299 for InceptionV3,
# Xception and InceptionResNetV2), checked within 0.5% (the papers round to 2-3 digits): Howard et
# al. 2019 Table 3 (MobileNetV3), Howard et al. 2017 Table 8 (MobileNet), Sandler et al. 2018
# Table 4 (MobileNetV2), He et al. 2016 Table 1 (ResNet-50/101/152), Zoph et al. 2018 Table 2
# (NASNet-A Mobile; Inception-v3 and Xception as listed there), Szegedy et al. 2017 (about 13.2G
# for Inception-ResNet-v2), Liu et al. 2022 (ConvNeXt-T/S/B). VGG16 and VGG19 are derived by hand
# below, exactly. No figure is checked for: EfficientNet B0-B7 and V2 (Keras' models are within
# 1-5% of the papers' rounded FLOPs, not within their rounding), DenseNets (published in a figure
# only), the ResNet V2s, RegNets and ConvNeXt L/XL (no table at these settings was at hand):
# those count strictly and their parameters equal Keras' own count.
PUBLISHED_MACS = {
    "MobileNetV3Small": 56.5e6,
    "MobileNetV3Large": 216.6e6,
    "MobileNet": 569e6,
    "MobileNetV2": 300e6,
    "ResNet50": 3.86e9,
    "ResNet101": 7.6e9,
    "ResNet152": 11.3e9,
    "NASNetMobile": 564e6,
    "InceptionV3": 5.72e9,
    "Xception": 8.38e9,
    "InceptionResNetV2": 13.2e9,
    "ConvNeXtTiny": 4.46e9,
    "ConvNeXtSmall": 8.7e9,
    "ConvNeXtBase": 15.4e9,
}


def vgg_macs(convs_per_block: tuple[int, ...]) -> int:
    """VGG's multiply-accumulates at 224x224 by hand: 3x3 'same' convs, a 2x2 pool after each
    block, then 25,088 -> 4,096 -> 4,096 -> 1,000 fully connected."""
    macs, channels, size = 0, 3, 224
    for convs, width in zip(convs_per_block, (64, 128, 256, 512, 512), strict=True):
        for _ in range(convs):
            macs += size * size * 9 * channels * width
            channels = width
        size //= 2
    return macs + 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000


HAND_DERIVED_MACS = {"VGG16": vgg_macs((2, 2, 3, 3, 3)), "VGG19": vgg_macs((2, 2, 4, 4, 4))}


@pytest.mark.slow
@pytest.mark.parametrize("name", application_names())
def test_every_keras_application_counts_strictly(name):
    # Default arguments, no download. In a StatelessScope the variables get their shapes but are
    # not initialised, which halves the build time of the large models; counting reads shapes.
    with keras.StatelessScope():
        model = getattr(keras.applications, name)(weights=None)
    free = None in model.inputs[0].shape[1:]
    report = count_flops(model, input_shape=(224, 224, 3) if free else None)
    assert report.skipped == () and report.macs > 0
    assert report.params == model.count_params()
    if name in PUBLISHED_MACS:
        assert report.macs == pytest.approx(PUBLISHED_MACS[name], rel=0.005)
    if name in HAND_DERIVED_MACS:
        assert report.macs == HAND_DERIVED_MACS[name]


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(keras.ops.zeros((1, 3)))
    with pytest.raises(FlopCountError, match="subclassed"):
        count_flops(net)


def test_report_renderings():
    report = count_flops(small_cnn())
    table = report.table()
    assert "6.92K" in table and "MACs 6,920" in table
    data = json.loads(report.to_json())
    assert data["macs"] == 6_920
    assert data["layers"][0]["output_shape"] == [1, 8, 8, 4]
    by_class = report.by_class()
    assert by_class["Conv2D"] == {"calls": 1, "macs": 6_912, "flops": 13_824, "params": 108}
    assert by_class["BatchNormalization"]["flops"] == 2 * 256
