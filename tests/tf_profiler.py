"""TensorFlow's own FLOP profiler, run on a model's frozen inference graph.

Test tooling, not part of the package (it reaches into `tensorflow.python`): it cross-checks
`count_flops` in tests/test_tf_profiler.py and times it in bench/counter_speed.py. TensorFlow's profiler counts
`2 * MACs` for Conv2D, DepthwiseConv2dNative and MatMul, one FLOP per element for BiasAdd and
elementwise math, and nothing for Relu and other activations: the totals therefore differ slightly
from `count_flops`, while convolution and matrix-product FLOPs agree exactly.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

CONV_AND_MATMUL_OPS = frozenset(
    {"Conv2D", "Conv3D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2", "Einsum"}
)


def profile_flops(model: keras.Model, batch_size: int = 1) -> dict[str, int]:
    """Returns TensorFlow's FLOP count of one inference call, per TF op type.

    Args:
        model: a Keras model with fixed input shapes.
        batch_size: the batch size of the profiled call.

    Returns:
        `{op_type: flops}` for every op type the profiler assigns FLOPs to.

    Example:

    ```python
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    per_op = profile_flops(model)
    conv_flops = sum(v for k, v in per_op.items() if k in CONV_AND_MATMUL_OPS)
    ```
    """
    specs = [tf.TensorSpec((batch_size, *t.shape[1:]), t.dtype) for t in model.inputs]
    function = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(*specs))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph,
        run_meta=tf.compat.v1.RunMetadata(),
        cmd="op",
        options=options,
    )
    # The "op" view is a chain of nodes, one per op type, each holding its own `float_ops`.
    per_op: dict[str, int] = {}
    pending = list(profile.children)
    while pending:
        node = pending.pop()
        if node.float_ops:
            per_op[node.name] = int(node.float_ops)
        pending.extend(node.children)
    return per_op
