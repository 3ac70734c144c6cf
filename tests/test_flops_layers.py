"""Hand-counted costs of single layers. Every expected number is worked out in the comment."""

import keras
import pytest

from bottleneck_search import count_flops

L = keras.layers


def cost_of(layer, input_shape):
    inputs = keras.Input(input_shape)
    report = count_flops(keras.Model(inputs, layer(inputs)))
    return report.macs, report.flops


def test_seed_table_of_the_mission():
    inputs = keras.Input((14, 14, 480))
    direct = L.Conv2D(48, 5, padding="same", use_bias=False)(inputs)
    assert count_flops(keras.Model(inputs, direct)).macs == 112_896_000
    reduce = L.Conv2D(16, 1, use_bias=False, name="reduce")
    conv = L.Conv2D(48, 5, padding="same", use_bias=False, name="conv")
    report = count_flops(keras.Model(inputs, conv(reduce(inputs))))
    assert [row.macs for row in report.rows] == [1_505_280, 3_763_200]
    assert report.macs == 5_268_480


CONV_CASES = [
    # 15x15x8, 3x3 stride 2 valid -> 7x7x16: 7*7*16 * 3*3*8
    ("stride2_valid_odd", L.Conv2D(16, 3, strides=2, use_bias=False), (15, 15, 8), 56_448),
    # 15x15x8, 3x3 stride 2 same -> 8x8x16: 8*8*16 * 3*3*8
    (
        "stride2_same_odd",
        L.Conv2D(16, 3, strides=2, padding="same", use_bias=False),
        (15, 15, 8),
        73_728,
    ),
    # 16x16x4, 3x3 dilation 2 valid (span 5) -> 12x12x8: 12*12*8 * 3*3*4
    ("dilation2", L.Conv2D(8, 3, dilation_rate=2, use_bias=False), (16, 16, 4), 41_472),
    # 8x8x16, 32 filters in 4 groups, 3x3 same: 8*8*32 * 3*3*(16/4)
    ("groups4", L.Conv2D(32, 3, groups=4, padding="same", use_bias=False), (8, 8, 16), 73_728),
    # non-square kernel 1x5 on 9x9x3 valid -> 9x5x6: 9*5*6 * 1*5*3
    ("kernel1x5", L.Conv2D(6, (1, 5), use_bias=False), (9, 9, 3), 4_050),
    # channels_first 4x10x10, 3x3 same -> 8x10x10: 8*10*10 * 9*4
    (
        "channels_first",
        L.Conv2D(8, 3, padding="same", data_format="channels_first", use_bias=False),
        (4, 10, 10),
        28_800,
    ),
    # Conv1D 20x6, kernel 5 valid -> 16x10: 16*10 * 5*6
    ("conv1d", L.Conv1D(10, 5, use_bias=False), (20, 6), 4_800),
    # Conv1D stride 3 same on 20 -> ceil(20/3)=7 positions: 7*10 * 5*6
    (
        "conv1d_stride3_same",
        L.Conv1D(10, 5, strides=3, padding="same", use_bias=False),
        (20, 6),
        2_100,
    ),
    # Conv3D 6x6x6x2, 3x3x3 valid -> 4x4x4x4: 64*4 * 27*2
    ("conv3d", L.Conv3D(4, 3, use_bias=False), (6, 6, 6, 2), 13_824),
    # Conv2DTranspose scatters each input element: 5*5*8 inputs * 3*3 kernel * 4 filters
    ("conv2d_transpose", L.Conv2DTranspose(4, 3, strides=2, use_bias=False), (5, 5, 8), 7_200),
    # Conv1DTranspose 7x3 inputs * kernel 4 * 5 filters
    (
        "conv1d_transpose",
        L.Conv1DTranspose(5, 4, strides=2, padding="same", use_bias=False),
        (7, 3),
        420,
    ),
    # Conv3DTranspose 3x3x3x2 inputs * 2*2*2 kernel * 3 filters
    ("conv3d_transpose", L.Conv3DTranspose(3, 2, strides=2, use_bias=False), (3, 3, 3, 2), 1_296),
    # Depthwise 10x10x6, multiplier 2, 3x3 same -> 10x10x12: 10*10*12 * 9
    (
        "depthwise2d",
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False),
        (10, 10, 6),
        10_800,
    ),
    # Depthwise 1-D 12x4, kernel 3 valid -> 10x4: 10*4 * 3
    ("depthwise1d", L.DepthwiseConv1D(3, use_bias=False), (12, 4), 120),
    # Separable 10x10x6 -> 8: depthwise 10*10*6*9 = 5400 + pointwise 10*10*6*8 = 4800
    ("separable2d", L.SeparableConv2D(8, 3, padding="same", use_bias=False), (10, 10, 6), 10_200),
    # Separable 1-D 12x4, kernel 3 valid, multiplier 2 -> 10 positions: 10*8*3 + 10*8*5
    ("separable1d", L.SeparableConv1D(5, 3, depth_multiplier=2, use_bias=False), (12, 4), 640),
    # Dense on a sequence 5x12 -> 5x7: 5 * 12*7
    ("dense_3d", L.Dense(7, use_bias=False), (5, 12), 420),
    # EinsumDense abc,cd->abd on 5x12 -> 5x7: a*b*c*d = 1*5*12*7
    ("einsum_dense", L.EinsumDense("abc,cd->abd", output_shape=(5, 7)), (5, 12), 420),
    # EinsumDense with ellipsis on 3x4x6 -> 3x4x2: 3*4 * 6*2
    ("einsum_ellipsis", L.EinsumDense("...b,bc->...c", output_shape=2), (3, 4, 6), 144),
]


@pytest.mark.parametrize(
    "layer, input_shape, expected_macs", [c[1:] for c in CONV_CASES], ids=[c[0] for c in CONV_CASES]
)
def test_matrix_product_macs(layer, input_shape, expected_macs):
    macs, flops = cost_of(layer, input_shape)
    assert macs == expected_macs
    assert flops == 2 * expected_macs  # no bias, no activation


def test_bias_and_activation_add_one_flop_per_output_element():
    # 8x8x3 -> 8x8x4 with 3x3 same: macs 8*8*4*27 = 6912; bias 256, relu 256
    macs, flops = cost_of(L.Conv2D(4, 3, padding="same", activation="relu"), (8, 8, 3))
    assert (macs, flops) == (6_912, 2 * 6_912 + 256 + 256)
    macs, flops = cost_of(L.Dense(3, activation="linear"), (5,))
    assert (macs, flops) == (15, 30 + 3)


ELEMENTWISE_CASES = [
    ("batchnorm", L.BatchNormalization(), (4, 4, 8), 2 * 128),
    ("layernorm", L.LayerNormalization(), (6, 10), 7 * 60),
    ("layernorm_no_center", L.LayerNormalization(center=False), (6, 10), 6 * 60),
    ("groupnorm", L.GroupNormalization(groups=2), (4, 4, 8), 7 * 128),
    ("relu", L.ReLU(), (4, 4, 8), 128),
    ("softmax", L.Softmax(), (10,), 10),
    ("linear_activation", L.Activation("linear"), (10,), 0),
    ("rescaling_no_offset", L.Rescaling(1 / 255), (4, 4, 3), 48),
    ("rescaling_offset", L.Rescaling(1 / 127.5, offset=-1), (4, 4, 3), 96),
    # 8x8x2 max pool 2x2 -> 4x4x2 outputs, 4 comparisons each
    ("maxpool", L.MaxPooling2D(2), (8, 8, 2), 32 * 4),
    # 9x9x1 average 3x3 stride 1 same -> 81 outputs * 9
    ("avgpool_same", L.AveragePooling2D(3, strides=1, padding="same"), (9, 9, 1), 729),
    ("avgpool1d", L.AveragePooling1D(2), (8, 3), 4 * 3 * 2),
    ("maxpool3d", L.MaxPooling3D(2), (4, 4, 4, 1), 8 * 8),
    ("global_avg", L.GlobalAveragePooling2D(), (5, 5, 4), 100),
    ("global_max1d", L.GlobalMaxPooling1D(), (7, 3), 21),
    # bilinear: 4 taps -> 7 flops per output element, 8x8x2 outputs
    ("upsampling_bilinear", L.UpSampling2D(2, interpolation="bilinear"), (4, 4, 2), 7 * 128),
    ("upsampling_nearest", L.UpSampling2D(2), (4, 4, 2), 0),
    ("resizing_bilinear", L.Resizing(6, 6), (3, 3, 1), 7 * 36),
    ("flatten", L.Flatten(), (4, 4, 2), 0),
    ("zero_padding", L.ZeroPadding2D(1), (4, 4, 2), 0),
    ("cropping", L.Cropping2D(1), (4, 4, 2), 0),
    ("dropout", L.Dropout(0.5), (4, 4, 2), 0),
    ("reshape", L.Reshape((8, 4)), (4, 4, 2), 0),
    ("permute", L.Permute((2, 1)), (4, 3), 0),
    # augmentation acts in training only: at inference the image passes unchanged
    ("random_flip", L.RandomFlip(), (4, 4, 3), 0),
    ("random_rotation", L.RandomRotation(0.1), (4, 4, 3), 0),
    ("random_zoom", L.RandomZoom(0.1), (4, 4, 3), 0),
]


@pytest.mark.parametrize(
    "layer, input_shape, expected_flops",
    [c[1:] for c in ELEMENTWISE_CASES],
    ids=[c[0] for c in ELEMENTWISE_CASES],
)
def test_elementwise_flops(layer, input_shape, expected_flops):
    assert cost_of(layer, input_shape) == (0, expected_flops)


@pytest.mark.parametrize(
    "merge, n_inputs, expected_flops",
    [
        (L.Add(), 3, 2 * 12),  # three 3x4 inputs: two adds per element
        (L.Subtract(), 2, 12),
        (L.Multiply(), 3, 2 * 12),
        (L.Maximum(), 3, 2 * 12),
        (L.Minimum(), 3, 2 * 12),
        (L.Average(), 3, 3 * 12),  # two adds and a divide
        (L.Concatenate(), 3, 0),
    ],
)
def test_merge_layers(merge, n_inputs, expected_flops):
    inputs = [keras.Input((3, 4)) for _ in range(n_inputs)]
    report = count_flops(keras.Model(inputs, merge(inputs)))
    assert (report.macs, report.flops) == (0, expected_flops)


def test_tensor_arithmetic_operations_are_counted():
    a, b = keras.Input((4, 5)), keras.Input((4, 5))
    report = count_flops(keras.Model([a, b], a * b + a))
    assert report.flops == 2 * 20  # one multiply and one add per element of 4x5


def test_multi_head_attention_by_hand():
    query, value = keras.Input((4, 8)), keras.Input((6, 8))
    attention = L.MultiHeadAttention(num_heads=2, key_dim=3)
    report = count_flops(keras.Model([query, value], attention(query, value)))
    # T=4 query and S=6 value positions, d=8, 2 heads of size 3 (value size 3 too), output d=8.
    # projections: q 4*8*6=192, k 6*8*6=288, v 6*8*6=288, out 4*6*8=192;
    # scores 2*4*6*3=144; weighted values 2*4*6*3=144.
    assert report.macs == 192 + 288 + 288 + 192 + 144 + 144 == 1248
    # biases: q 4*6, k 6*6, v 6*6, out 4*8 = 128; query scaling 4*6 = 24; softmax 2*4*6 = 48
    assert report.flops == 2 * 1248 + 128 + 24 + 48


def test_layers_of_keras_applications():
    from bottleneck_search.compat import application_layer_classes

    classes = application_layer_classes()
    inputs = keras.Input((4, 4, 8))
    scaled = classes["LayerScale"](1e-6, 8)(inputs)
    dropped = classes["StochasticDepth"](0.1)(scaled)
    mixed = classes["CustomScaleLayer"](0.17)([inputs, dropped])
    rows = count_flops(keras.Model(inputs, mixed)).rows
    # 4*4*8 = 128 elements: a multiply each; nothing at inference; a multiply and an add each
    assert [(row.class_name, row.flops) for row in rows] == [
        ("LayerScale", 128),
        ("StochasticDepth", 0),
        ("CustomScaleLayer", 256),
    ]
