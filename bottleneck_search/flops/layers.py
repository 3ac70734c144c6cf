"""Counting functions for the built-in Keras 3 layers, one per layer family.

Conventions (also in docs/counting.md):

| quantity | rule |
| --- | --- |
| `macs` | multiply-accumulates of convolutions and matrix products (Conv*, Depthwise*, Separable*, *Transpose, Dense, EinsumDense); biases excluded |
| `flops` | `2 * macs` plus the elementwise work below |
| bias | 1 per output element |
| activation (fused `activation=` or an activation layer) | 1 per element; `linear` is free |
| BatchNormalization | 2 per element (inference: scale and shift with folded statistics) |
| LayerNormalization, GroupNormalization | 5 per element (mean 1, variance 2, normalise 2), +1 for `scale`, +1 for `center` |
| Normalization | 2 per element (subtract mean, divide by std) |
| Rescaling | 1 per element, +1 when `offset` is not 0 |
| Max/AveragePooling | `prod(pool_size)` per output element |
| Global pooling | 1 per input element |
| Add, Subtract, Multiply, Maximum, Minimum | `(inputs - 1)` per output element |
| Average | `inputs` per output element (`inputs - 1` adds and a divide) |
| UpSampling2D / Resizing | nearest: 0; otherwise `2 * taps - 1` per output element (bilinear 4 taps, bicubic 16, lanczos3 36, lanczos5 100); `area`: 1 per input element + 1 per output element |
| MultiHeadAttention | projections and the two attention products as MACs (below); biases, the query scaling and the softmax 1 per element |
| ConvNeXt's LayerScale | 1 per element; InceptionResNetV2's CustomScaleLayer (`a + b * scale`) 2 per element; StochasticDepth 0 (inference); KerasHub's HGNetV2LearnableAffineBlock 2 per element |
| Concatenate, reshaping, padding, cropping, dropout, noise, Embedding, InputLayer | 0 |

Operations on tensors (`x + y`, `keras.ops.matmul`) are counted in `flops/operations.py`.

Convolution MACs: `output elements * prod(kernel_size) * input_channels / groups`. A transposed
convolution scatters every input element through the kernel: `input elements * prod(kernel_size) *
filters`. Strides, padding and dilation enter only through the shapes.

MultiHeadAttention, for `T` query and `S` key/value positions per example, `h` heads of key size
`dk` and value size `dv`: the four projections (`T*d_q*h*dk`, `S*d_k*h*dk`, `S*d_v*h*dv`,
`T*h*dv*d_out`), plus `h*T*S*dk` for the scores and `h*T*S*dv` for the weighted values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from bottleneck_search.compat import KERAS_HUB_AFFINE_LAYER, application_layer_classes
from bottleneck_search.convolution import split_shape
from bottleneck_search.errors import UnsupportedLayerError
from bottleneck_search.flops.einsum import einsum_letter_sizes
from bottleneck_search.flops.registry import Cost, Shape, per_output_element, register_counter

L = keras.layers


def _channels(layer, shape: Shape) -> int:
    return split_shape(shape, getattr(layer, "data_format", None))[0]


def _activation_flops(layer, elements: int) -> int:
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return 0
    return elements


def _bias_flops(layer, elements: int) -> int:
    return elements if getattr(layer, "use_bias", False) else 0


def _with_elementwise(layer, macs: int, output: Shape) -> Cost:
    elements = math.prod(output)
    flops = 2 * macs + _bias_flops(layer, elements) + _activation_flops(layer, elements)
    return Cost(macs=macs, flops=flops)


@register_counter(L.Conv1D, L.Conv2D, L.Conv3D)
def count_conv(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    in_channels = _channels(layer, inputs[0])
    macs = math.prod(outputs[0]) * math.prod(layer.kernel_size) * (in_channels // layer.groups)
    return _with_elementwise(layer, macs, outputs[0])


@register_counter(L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
def count_conv_transpose(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    macs = math.prod(inputs[0]) * math.prod(layer.kernel_size) * layer.filters
    return _with_elementwise(layer, macs, outputs[0])


@register_counter(L.DepthwiseConv1D, L.DepthwiseConv2D)
def count_depthwise_conv(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    macs = math.prod(outputs[0]) * math.prod(layer.kernel_size)
    return _with_elementwise(layer, macs, outputs[0])


@register_counter(L.SeparableConv1D, L.SeparableConv2D)
def count_separable_conv(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    in_channels = _channels(layer, inputs[0])
    batch_and_space = outputs[0][0] * math.prod(split_shape(outputs[0], layer.data_format)[1])
    depthwise_channels = in_channels * layer.depth_multiplier
    depthwise = batch_and_space * depthwise_channels * math.prod(layer.kernel_size)
    pointwise = batch_and_space * depthwise_channels * layer.filters
    return _with_elementwise(layer, depthwise + pointwise, outputs[0])


@register_counter(L.Dense)
def count_dense(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    macs = math.prod(inputs[0]) * layer.units
    return _with_elementwise(layer, macs, outputs[0])


@register_counter(L.EinsumDense)
def count_einsum_dense(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    kernel_shape = tuple(layer.kernel.shape)
    sizes = einsum_letter_sizes(layer.equation, [inputs[0], kernel_shape, outputs[0]])
    macs = math.prod(sizes.values())
    elements = math.prod(outputs[0])
    flops = 2 * macs + (elements if layer.bias_axes else 0) + _activation_flops(layer, elements)
    return Cost(macs=macs, flops=flops)


@register_counter(L.LayerNormalization, L.GroupNormalization)
def count_statistics_normalization(
    layer, inputs: Sequence[Shape], outputs: Sequence[Shape]
) -> Cost:
    per_element = 5 + int(bool(layer.scale)) + int(bool(layer.center))
    return Cost(flops=per_element * math.prod(outputs[0]))


@register_counter(L.Activation, L.ReLU, L.LeakyReLU, L.PReLU, L.ELU, L.Softmax)
def count_activation(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    if isinstance(layer, L.Activation) and layer.activation is keras.activations.linear:
        return Cost()
    return Cost(flops=math.prod(outputs[0]))


@register_counter(L.Rescaling)
def count_rescaling(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    offset = layer.offset
    has_offset = bool(offset) if isinstance(offset, int | float) else True
    return Cost(flops=(1 + int(has_offset)) * math.prod(outputs[0]))


@register_counter(
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.MaxPooling3D,
    L.AveragePooling1D,
    L.AveragePooling2D,
    L.AveragePooling3D,
)
def count_pooling(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=math.prod(outputs[0]) * math.prod(layer.pool_size))


@register_counter(
    L.GlobalMaxPooling1D,
    L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D,
    L.GlobalAveragePooling1D,
    L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D,
)
def count_global_pooling(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=math.prod(inputs[0]))


@register_counter(L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum)
def count_elementwise_merge(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=(len(inputs) - 1) * math.prod(outputs[0]))


@register_counter(L.Average)
def count_average_merge(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=len(inputs) * math.prod(outputs[0]))


_INTERPOLATION_TAPS = {"nearest": 0, "bilinear": 4, "bicubic": 16, "lanczos3": 36, "lanczos5": 100}


@register_counter(L.UpSampling2D, L.Resizing)
def count_interpolation(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    interpolation = layer.interpolation
    if interpolation == "area":
        return Cost(flops=math.prod(inputs[0]) + math.prod(outputs[0]))
    if interpolation not in _INTERPOLATION_TAPS:
        raise UnsupportedLayerError(
            f"Layer '{layer.name}' ({type(layer).__name__}) uses interpolation="
            f"'{interpolation}', which the counter has no rule for. Known: "
            f"{sorted([*_INTERPOLATION_TAPS, 'area'])}. Register your own rule with "
            f"@register_counter({type(layer).__name__})."
        )
    taps = _INTERPOLATION_TAPS[interpolation]
    return Cost(flops=max(2 * taps - 1, 0) * math.prod(outputs[0]))


@register_counter(
    keras.layers.InputLayer,
    L.Concatenate,
    L.Flatten,
    L.Reshape,
    L.Permute,
    L.RepeatVector,
    L.UpSampling1D,
    L.UpSampling3D,
    L.ZeroPadding1D,
    L.ZeroPadding2D,
    L.ZeroPadding3D,
    L.Cropping1D,
    L.Cropping2D,
    L.Cropping3D,
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianNoise,
    L.GaussianDropout,
    L.AlphaDropout,
    L.ActivityRegularization,
    L.Identity,
    L.Masking,
    L.Embedding,
)
def count_free(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost()


# Keras' image augmentation layers change images in training only and pass them on unchanged at
# inference (`RandomCrop` centre-crops: data movement, no arithmetic). Keras' own image
# examples put them at the start of the model. Looked up by name: the set grows with Keras.
AUGMENTATION_LAYERS = tuple(
    getattr(L, name)
    for name in (
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomBrightness",
        "RandomCrop",
        "RandomColorDegeneration",
        "RandomColorJitter",
        "RandomElasticTransform",
        "RandomErasing",
        "RandomGaussianBlur",
        "RandomGrayscale",
        "RandomHue",
        "RandomInvert",
        "RandomPerspective",
        "RandomPosterization",
        "RandomSaturation",
        "RandomSharpness",
        "RandomShear",
        "Solarization",
        "RandAugment",
        "AugMix",
        "MixUp",
        "CutMix",
    )  # fmt: skip
    if hasattr(L, name)
)


@register_counter(*AUGMENTATION_LAYERS)
def count_augmentation(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost()


@register_counter(L.MultiHeadAttention)
def count_multi_head_attention(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    batch = query[0]
    positions_q, positions_v = math.prod(query[1:-1]), math.prod(value[1:-1])
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    projections = {
        layer.query_dense: batch * positions_q,
        layer.key_dense: batch * positions_v,
        layer.value_dense: batch * positions_v,
        layer.output_dense: batch * positions_q,
    }
    macs = sum(rows * math.prod(dense.kernel.shape) for dense, rows in projections.items())
    scores = batch * heads * positions_q * positions_v
    macs += scores * (key_dim + value_dim)
    elements = {
        "query": batch * positions_q * heads * key_dim,
        "key": batch * positions_v * heads * key_dim,
        "value": batch * positions_v * heads * value_dim,
        "output": math.prod(outputs[0]),
    }
    biases = sum(elements.values()) if layer.use_bias else 0
    return Cost(macs=macs, flops=2 * macs + biases + elements["query"] + scores)


_APPLICATION_LAYERS = application_layer_classes()


count_layer_scale = register_counter(_APPLICATION_LAYERS["LayerScale"])(per_output_element(1))

# A scale and a shift per element (batch norm with folded statistics; KerasHub's affine layer).
count_affine = register_counter(
    L.BatchNormalization,
    L.Normalization,
    _APPLICATION_LAYERS["CustomScaleLayer"],
    KERAS_HUB_AFFINE_LAYER,
)(per_output_element(2))


@register_counter(_APPLICATION_LAYERS["StochasticDepth"])
def count_stochastic_depth(layer, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost()
