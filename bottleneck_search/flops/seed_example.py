"""The seed arithmetic of the README as two Keras models (GoogLeNet's 5x5 branch of module 4a)."""

from __future__ import annotations

import keras


def seed_example_models() -> list[keras.Model]:
    """A 5x5 conv 480 -> 48 on 14x14, and the same with a 1x1 480 -> 16 reduction first.

    Biases are off so that the counts are the pure multiply-accumulates of the README table.

    Example:

    ```python
    direct, reduced = seed_example_models()
    assert count_flops(direct).macs == 112_896_000
    ```
    """
    inputs = keras.Input((14, 14, 480), name="features")
    direct = keras.layers.Conv2D(48, 5, padding="same", use_bias=False, name="conv5x5")(inputs)
    reduced = keras.layers.Conv2D(16, 1, use_bias=False, name="conv5x5_reduce")(inputs)
    reduced = keras.layers.Conv2D(48, 5, padding="same", use_bias=False, name="conv5x5")(reduced)
    return [
        keras.Model(inputs, direct, name="without_bottleneck"),
        keras.Model(inputs, reduced, name="with_1x1_bottleneck"),
    ]
