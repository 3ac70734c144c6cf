"""Facts about Keras convolutions that the counter and the space both need: which class has which
rank, and where the channels of a shape are."""

from __future__ import annotations

import keras

# The convolutions a 1x1 reduction can precede (and be made of), by number of spatial dimensions.
CONV_BY_RANK = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
SPATIAL_CONVS = tuple(CONV_BY_RANK.values())
# Separable convolutions, which a reduction can precede too (before their depthwise step).
SEPARABLE_CONVS = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
# Transposed convolutions (decoders), which a reduction can precede too (at their input size).
TRANSPOSED_CONVS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
# Every convolution a site can be.
SITE_CONVS = SPATIAL_CONVS + SEPARABLE_CONVS + TRANSPOSED_CONVS


def channel_axis(data_format: str | None) -> int:
    """The channel axis of a batched shape: 1 for `channels_first`, -1 otherwise."""
    return 1 if data_format == "channels_first" else -1


def split_shape(shape, data_format: str | None) -> tuple[int | None, tuple]:
    """`(channels, spatial size)` of a batched shape, e.g. `(8, 14, 14, 480) -> (480, (14, 14))`."""
    if data_format == "channels_first":
        return shape[1], tuple(shape[2:])
    return shape[-1], tuple(shape[1:-1])
