"""Counting functions for `keras.ops` operations.

They appear in a functional graph when a model computes on tensors directly (`x + y`,
`keras.ops.mean(x)`), and inside custom layers, which the counter traces on symbolic tensors
(see `count_flops`). The rules, also in docs/counting.md:

| operations | cost |
| --- | --- |
| `matmul` | MACs: output elements * the contracted size |
| `dot_product_attention` | MACs: the scores and the weighted values, as in `MultiHeadAttention`; scaling and softmax 1 per element |
| `einsum` | MACs: the product of every letter's size |
| arithmetic, comparisons, `where`, `clip`, math functions, activations (`relu`, `gelu`, `softmax` ...) | 1 per output element |
| reductions: `sum`, `mean`, `max`, `min`, `prod`, `argmax`, `argmin`, `logsumexp` | 1 per input element |
| `var`, `std` | 3 per input element |
| reshaping, transposing, slicing, joining, padding, casting, `stop_gradient` | 0 |

An operation not listed has no counting function and is reported like an unknown layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bottleneck_search.compat import operation_classes
from bottleneck_search.flops.einsum import einsum_letter_sizes
from bottleneck_search.flops.registry import Cost, Shape, register_counter

_FREE = (
    "core.Cast core.ConvertToTensor core.Slice core.SliceUpdate core.StopGradient core.Unstack "
    "nn.DepthToSpace nn.SpaceToDepth numpy.ArraySplit numpy.BroadcastTo numpy.Concatenate "
    "numpy.Copy numpy.ExpandDims numpy.Flip numpy.GetItem numpy.Hstack numpy.Moveaxis "
    "numpy.OnesLike numpy.Pad numpy.Ravel numpy.Repeat numpy.Reshape numpy.Roll numpy.Split "
    "numpy.Squeeze numpy.Stack numpy.Swapaxes numpy.Take numpy.TakeAlongAxis numpy.Tile "
    "numpy.Transpose numpy.Tril numpy.Triu numpy.Vstack numpy.ZerosLike"
)
_PER_OUTPUT_ELEMENT = (
    "math.Erf math.Rsqrt nn.Celu nn.Elu nn.Gelu nn.Glu nn.HardSigmoid nn.HardSilu nn.LeakyRelu "
    "nn.LogSigmoid nn.LogSoftmax nn.Relu nn.Relu6 nn.Selu nn.Sigmoid nn.Silu nn.Softmax "
    "nn.Softplus nn.Softsign numpy.Abs numpy.Absolute numpy.Add numpy.Ceil numpy.Clip numpy.Cos "
    "numpy.Divide numpy.DivideNoNan numpy.Equal numpy.Exp numpy.Expm1 numpy.Floor "
    "numpy.FloorDivide numpy.Greater numpy.GreaterEqual numpy.Less numpy.LessEqual numpy.Log "
    "numpy.Log1p numpy.LogicalAnd numpy.LogicalNot numpy.LogicalOr numpy.Maximum numpy.Minimum "
    "numpy.Mod numpy.Multiply numpy.Negative numpy.NotEqual numpy.Power numpy.Reciprocal "
    "numpy.Round numpy.Sign numpy.Sin numpy.Sqrt numpy.Square numpy.Subtract numpy.Tanh "
    "numpy.TrueDivide numpy.Where"
)
_PER_INPUT_ELEMENT = (
    "math.Logsumexp numpy.Amax numpy.Amin numpy.Argmax numpy.Argmin numpy.Max numpy.Mean "
    "numpy.Min numpy.Prod numpy.Sum"
)
_THREE_PER_INPUT_ELEMENT = "numpy.Std numpy.Var"
_OPERATIONS = operation_classes(
    " ".join(
        (_FREE, _PER_OUTPUT_ELEMENT, _PER_INPUT_ELEMENT, _THREE_PER_INPUT_ELEMENT)
        + ("numpy.Matmul", "numpy.Einsum", "nn.DotProductAttention")
    ).split()
)


def _classes(names: str) -> tuple[type, ...]:
    return tuple(_OPERATIONS[name] for name in names.split())


@register_counter(*_classes(_FREE))
def count_free_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost()


@register_counter(*_classes(_PER_OUTPUT_ELEMENT))
def count_elementwise_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=math.prod(outputs[0]))


@register_counter(*_classes(_PER_INPUT_ELEMENT))
def count_reduction_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=math.prod(inputs[0]))


@register_counter(*_classes(_THREE_PER_INPUT_ELEMENT))
def count_spread_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    return Cost(flops=3 * math.prod(inputs[0]))


@register_counter(_OPERATIONS["numpy.Matmul"])
def count_matmul_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    left = inputs[0]
    contracted = left[-1] if left else 1
    macs = math.prod(outputs[0]) * contracted
    return Cost(macs=macs, flops=2 * macs)


@register_counter(_OPERATIONS["numpy.Einsum"])
def count_einsum_op(operation, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> Cost:
    terms = operation.subscripts.replace(" ", "")
    shapes = [*inputs, outputs[0]] if "->" in terms else list(inputs)
    macs = math.prod(einsum_letter_sizes(terms, shapes).values())
    return Cost(macs=macs, flops=2 * macs)


@register_counter(_OPERATIONS["nn.DotProductAttention"])
def count_dot_product_attention_op(
    operation, inputs: Sequence[Shape], outputs: Sequence[Shape]
) -> Cost:
    # query (B, T, N, H), key (B, S, N, H), value (B, S, N, Hv): the scores and the weighted sum.
    query, key, value = inputs[:3]
    batch, positions_q, heads, key_size = query
    scores = batch * heads * positions_q * key[1]
    macs = scores * (key_size + value[-1])
    # Scaling the query, and the softmax over the scores.
    return Cost(macs=macs, flops=2 * macs + math.prod(query) + scores)
