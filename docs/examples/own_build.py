"""A keras.io-style `build(hp)` with two `bottleneck_conv` sites, for 8x8 grey images (the
offline `digits` data): what `search --hypermodel docs/examples/own_build.py:build_model` searches
in docs/own-tuner-code.md."""

import keras

from bottleneck_search import bottleneck_conv


def build_model(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(hp.Int("filters", 8, 16, step=8), 3, padding="same", activation="relu")(
        inputs
    )
    x = bottleneck_conv(hp, x, 16, 3, name="mid1", widths=[4], padding="same", activation="relu")
    x = bottleneck_conv(hp, x, 16, 3, name="mid2", widths=[4], padding="same", activation="relu")
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.2, step=0.1))(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(
        keras.optimizers.Adam(hp.Float("learning_rate", 2e-3, 1e-2, sampling="log")),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
