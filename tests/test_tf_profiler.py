"""`count_flops` against TensorFlow's own profiler (published figures: test_flops_graph.py)."""

import keras
import pytest
from tf_profiler import CONV_AND_MATMUL_OPS, profile_flops

from bottleneck_search import count_flops

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("free_models")]


# One application per kind of graph: inverted residuals and depthwise convs (MobileNetV2),
# concatenation (DenseNet121), separable convs (Xception). ResNet50 (plain convs, Dense, adds,
# all in MobileNetV2's graph) took 19 s of CI's 15 minutes here; its count is still checked
# against the published figure in test_flops_graph.py.
@pytest.mark.parametrize(
    "name, input_shape",
    [
        ("MobileNetV2", (96, 96, 3)),
        ("DenseNet121", (64, 64, 3)),
        ("Xception", (71, 71, 3)),
    ],
)
def test_agrees_with_tensorflow_profiler(name, input_shape):
    model = getattr(keras.applications, name)(weights=None, input_shape=input_shape)
    ours = count_flops(model)
    theirs = profile_flops(model)
    conv_and_matmul = sum(flops for op, flops in theirs.items() if op in CONV_AND_MATMUL_OPS)
    assert 2 * ours.macs == conv_and_matmul
    # Totals differ only in elementwise rules: TF gives activations 0 FLOPs, we give them 1 per element.
    assert ours.flops == pytest.approx(sum(theirs.values()), rel=0.01)


def test_profiler_assigns_nothing_to_grouped_convolutions():
    """Why the agreement test avoids grouped convs (e.g. ConvNeXt): TF's profiler has no FLOP rule
    for the op Keras lowers a grouped Conv2D to, so it reports 0 where the true count is not."""
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(
        inputs, keras.layers.Conv2D(16, 3, groups=4, padding="same", use_bias=False)(inputs)
    )
    assert count_flops(model).macs == 8 * 8 * 16 * 9 * 4
    assert profile_flops(model).get("Conv2D", 0) == 0
