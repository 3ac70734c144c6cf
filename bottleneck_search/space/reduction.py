"""The inserted 1x1 reduction: its layers, and its exact cost as a closed form."""

from __future__ import annotations

import functools
import math

import keras

from bottleneck_search.convolution import CONV_BY_RANK, channel_axis
from bottleneck_search.flops.registry import counter_for
from bottleneck_search.space.site import ReductionOptions, Site

# Keras' default momentum (0.99) leaves the moving statistics far from the data after the few
# hundred steps of a search trial, so validation accuracy collapses; 0.9 settles within an epoch.
BATCH_NORM_MOMENTUM = 0.9


def _is_linear(activation) -> bool:
    return activation in (None, "linear")


def reduction_layers(
    site_name: str,
    rank: int,
    width: int,
    options: ReductionOptions,
    data_format="channels_last",
    dtype=None,
) -> list[keras.layers.Layer]:
    """The layers of `<site>_reduce`: a 1x1 conv to `width` channels, then an optional batch
    norm and activation (`options`); `apply_reduction` applies them, `reduction_delta` counts
    them. `dtype` is their dtype policy (None: Keras' global policy when they are made), so a
    reduction runs in the precision of the conv it feeds."""
    conv = CONV_BY_RANK[rank]
    if not options.batch_norm:
        return [
            conv(
                width,
                1,
                activation=options.activation,
                use_bias=options.use_bias,
                data_format=data_format,
                dtype=dtype,
                name=f"{site_name}_reduce",
            )
        ]
    layers = [
        conv(
            width,
            1,
            use_bias=options.use_bias,
            data_format=data_format,
            dtype=dtype,
            name=f"{site_name}_reduce",
        ),
        keras.layers.BatchNormalization(
            axis=channel_axis(data_format),
            momentum=BATCH_NORM_MOMENTUM,
            dtype=dtype,
            name=f"{site_name}_reduce_bn",
        ),
    ]
    if not _is_linear(options.activation):
        layers.append(
            keras.layers.Activation(options.activation, dtype=dtype, name=f"{site_name}_reduce_act")
        )
    return layers


def apply_reduction(
    x,
    site_name: str,
    width: int,
    options: ReductionOptions,
    data_format: str = "channels_last",
    dtype=None,
):
    """Applies `<site>_reduce` (1x1 conv), optional `<site>_reduce_bn` and `<site>_reduce_act` to
    `x`, in the dtype policy `dtype` (that of the conv they feed; None: the global policy)."""
    for layer in reduction_layers(site_name, len(x.shape) - 2, width, options, data_format, dtype):
        x = layer(x)
    return x


@functools.cache
def reduction_delta(
    site: Site, width: int | None, options: ReductionOptions
) -> tuple[int, int, int]:
    """Exact change in (MACs, FLOPs, params) at batch 1 when `site` gets a reduction of `width`.

    MACs and FLOPs are counted by the counter's own functions (`flops.registry.counter_for`),
    never restated: the reduction's layers at the site's input size, plus the site's conv fed
    `width` channels instead of `in_channels` (a stand-in of its kind: plain, grouped, separable
    or transposed, at its input and output sizes). The layers are never built (building draws
    initial weights from Keras' global seed, which would make a search's models depend on what
    was costed before them), so parameters are counted here: the 1x1 conv's kernel and bias, a
    batch norm's 4 per channel, and the change in the site's kernel. Cached per site, width and
    options.
    """
    if width is None:
        return 0, 0, 0
    rank = len(site.kernel_size)
    shape = (1, *site.input_size, site.in_channels)
    macs = flops = 0
    for layer in reduction_layers(_PROBE, rank, width, options):
        out = (1, *site.input_size, width)
        cost = _counted(layer, shape, out)
        macs, flops, shape = macs + cost.macs, flops + cost.flops, out
    output = (1, *site.output_size, site.out_channels)
    reduced = _counted(_site_conv(site), (1, *site.input_size, width), output)
    full = _counted(_site_conv(site), (1, *site.input_size, site.in_channels), output)
    kernel = math.prod(site.kernel_size)
    if site.separable:  # per input channel: its depthwise kernels, then their pointwise weights
        conv_params = (
            site.depth_multiplier * (kernel + site.out_channels) * (width - site.in_channels)
        )
    else:  # a grouped conv's kernel spans in_channels / groups (widths are multiples of groups)
        conv_params = kernel * site.out_channels * (width - site.in_channels) // site.groups
    params = site.in_channels * width + (width if options.use_bias else 0)
    params += 4 * width if options.batch_norm else 0
    return macs + reduced.macs - full.macs, flops + reduced.flops - full.flops, params + conv_params


# Named, so that the stand-ins take no auto-generated name (`conv2d_3`) from a user's layers.
_PROBE = "bottleneck_search_probe"


def _site_conv(site: Site) -> keras.layers.Layer:
    """A bias-free stand-in for `site`'s conv (its bias and activation cost the same either way;
    its output size is given to the counter)."""
    rank, kernel, filters = len(site.kernel_size), site.kernel_size, site.out_channels
    if site.separable:
        separable = {1: keras.layers.SeparableConv1D, 2: keras.layers.SeparableConv2D}[rank]
        return separable(
            filters,
            kernel,
            depth_multiplier=site.depth_multiplier,
            use_bias=False,
            padding="same",
            name=_PROBE,
        )
    if site.transposed:
        transposed = {
            1: keras.layers.Conv1DTranspose,
            2: keras.layers.Conv2DTranspose,
            3: keras.layers.Conv3DTranspose,
        }[rank]
        return transposed(filters, kernel, use_bias=False, name=_PROBE)
    return CONV_BY_RANK[rank](filters, kernel, groups=site.groups, use_bias=False, name=_PROBE)


def _counted(layer: keras.layers.Layer, input_shape: tuple, output_shape: tuple):
    """The counter's `Cost` of `layer` called on `input_shape` to `output_shape` (unbuilt)."""
    return counter_for(type(layer))(layer, [input_shape], [output_shape])
