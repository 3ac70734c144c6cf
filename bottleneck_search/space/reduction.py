"""The inserted 1x1 reduction: its layers, and its exact cost as a closed form."""

from __future__ import annotations

import math

import keras

from bottleneck_search.convolution import CONV_BY_RANK, channel_axis
from bottleneck_search.space.site import ReductionOptions, Site

# Keras' default momentum (0.99) leaves the moving statistics far from the data after the few
# hundred steps of a search trial, so validation accuracy collapses; 0.9 settles within an epoch.
BATCH_NORM_MOMENTUM = 0.9


def _is_linear(activation) -> bool:
    return activation in (None, "linear")


def apply_reduction(
    x, site_name: str, width: int, options: ReductionOptions, data_format: str = "channels_last"
):
    """Applies `<site>_reduce` (1x1 conv), optional `<site>_reduce_bn` and `<site>_reduce_act` to `x`."""
    rank = len(x.shape) - 2
    conv = CONV_BY_RANK[rank]
    if not options.batch_norm:
        return conv(
            width,
            1,
            activation=options.activation,
            use_bias=options.use_bias,
            data_format=data_format,
            name=f"{site_name}_reduce",
        )(x)
    x = conv(
        width, 1, use_bias=options.use_bias, data_format=data_format, name=f"{site_name}_reduce"
    )(x)
    x = keras.layers.BatchNormalization(
        axis=channel_axis(data_format), momentum=BATCH_NORM_MOMENTUM, name=f"{site_name}_reduce_bn"
    )(x)
    if _is_linear(options.activation):
        return x
    return keras.layers.Activation(options.activation, name=f"{site_name}_reduce_act")(x)


def reduction_delta(
    site: Site, width: int | None, options: ReductionOptions
) -> tuple[int, int, int]:
    """Exact change in (MACs, FLOPs, params) at batch 1 when `site` gets a reduction of `width`.

    The 1x1 conv runs at the site's input size; the site's conv then sees `width` input channels
    instead of `in_channels`. Follows the counter's rules (bias and activation 1 FLOP per element,
    batch norm 2, a BatchNormalization has 4 weights per channel).
    """
    if width is None:
        return 0, 0, 0
    reduced = math.prod(site.input_size) * width
    reduce_macs = math.prod(site.input_size) * site.in_channels * width
    kernel = math.prod(site.kernel_size)
    if site.separable:  # per input channel: its depthwise kernels, then their pointwise weights
        per_channel = site.depth_multiplier * (kernel + site.out_channels)
        conv_params = per_channel * (width - site.in_channels)
    else:  # a grouped conv's kernel spans in_channels / groups (widths are multiples of groups)
        conv_params = kernel * site.out_channels * (width - site.in_channels) // site.groups
    # A transposed conv's kernel runs once per input position; any other once per output.
    positions = site.input_size if site.transposed else site.output_size
    conv_macs = math.prod(positions) * conv_params
    macs = reduce_macs + conv_macs
    flops = 2 * macs
    flops += reduced if options.use_bias else 0
    flops += 2 * reduced if options.batch_norm else 0
    flops += 0 if _is_linear(options.activation) else reduced
    params = site.in_channels * width + (width if options.use_bias else 0)
    params += 4 * width if options.batch_norm else 0
    params += conv_params
    return macs, flops, params
