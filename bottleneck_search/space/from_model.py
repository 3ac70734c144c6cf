"""Sites of an existing Keras model, and rewriting it with reductions inserted.

The rewrite is Keras' own `clone_model` with a `call_function` that puts the reduction in front
of each chosen conv; every layer whose weight shapes did not change gets the original weights.
"""

from __future__ import annotations

import re
from collections import Counter

import keras

from bottleneck_search.convolution import SPATIAL_CONVS, split_shape
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.flops.graph import layer_calls
from bottleneck_search.space.reduction import apply_reduction
from bottleneck_search.space.site import DEFAULT_ROUND_TO, ReductionOptions, Site, resolve_widths


def find_sites(
    model: keras.Model,
    min_kernel_size: int = 3,
    name_pattern: str | None = None,
    skip_reduced: bool = False,
    widths=None,
    round_to: int = DEFAULT_ROUND_TO,
) -> tuple[Site, ...]:
    """Finds the candidate sites of a functional or Sequential model (nested models included).

    A site is a Conv1D/2D/3D layer, called once, with `groups == 1`, a kernel of at least
    `min_kernel_size` in some spatial dimension, whose name matches `name_pattern` (a regular
    expression, `re.search`), and for which at least one width fits its input channels.

    Args:
        model: the model.
        min_kernel_size: smallest kernel size (in any spatial dimension) that makes a site.
        name_pattern: only convs whose name matches this regular expression.
        skip_reduced: skip convs whose input already comes from a 1x1 conv.
        widths: width specs (see `resolve_widths`); fractions of the input channels by default.
        round_to: multiple that fractional widths round to.

    Returns:
        The sites in execution order.
    """
    pattern = _compile(name_pattern)
    calls = list(layer_calls(model))
    times_called = Counter(id(node.operation) for _, node in calls)
    sites: list[Site] = []
    for _, node in calls:
        layer = node.operation
        if not isinstance(layer, SPATIAL_CONVS):
            continue
        if (
            times_called[id(layer)] > 1
            or layer.groups != 1
            or max(layer.kernel_size) < min_kernel_size
        ):
            continue
        if pattern is not None and not pattern.search(layer.name):
            continue
        if skip_reduced and _fed_by_pointwise_conv(node):
            continue
        in_shape, out_shape = node.input_tensors[0].shape, node.output_tensors[0].shape
        in_channels, in_size = split_shape(in_shape, layer.data_format)
        out_size = split_shape(out_shape, layer.data_format)[1]
        if None in in_size or None in out_size or in_channels is None:
            raise SearchSpaceError(
                f"Conv '{layer.name}' has an undefined input or output size ({in_shape} -> "
                f"{out_shape}); build the model with a fixed input shape, e.g. input_shape=(224, 224, 3)."
            )
        offered = resolve_widths(widths, in_channels, round_to, where=f"layer '{layer.name}': ")
        if not offered:
            continue
        sites.append(
            Site(
                name=layer.name,
                kernel_size=tuple(layer.kernel_size),
                in_channels=in_channels,
                out_channels=layer.filters,
                input_size=in_size,
                output_size=out_size,
                widths=offered,
            )
        )
    names = Counter(site.name for site in sites)
    duplicates = [name for name, count in names.items() if count > 1]
    if duplicates:
        raise SearchSpaceError(
            f"Layer names {duplicates} occur in more than one nested model; site names must be "
            "unique. Rename the layers (name=...) so each conv has its own name."
        )
    return tuple(sites)


def _compile(name_pattern: str | None):
    if name_pattern is None:
        return None
    try:
        return re.compile(name_pattern)
    except re.error as error:
        raise SearchSpaceError(
            f"name_pattern '{name_pattern}' is not a valid regular expression: {error}."
        ) from error


def _fed_by_pointwise_conv(node) -> bool:
    parents = node.parent_nodes
    if not parents:
        return False
    producer = parents[0].operation
    return (
        isinstance(producer, SPATIAL_CONVS)
        and all(k == 1 for k in producer.kernel_size)
        and all(s == 1 for s in producer.strides)
    )


def rewrite_model(
    model: keras.Model, widths: dict[str, int | None], reduction: ReductionOptions
) -> keras.Model:
    """Clones `model` with a reduction of `widths[name]` channels before each named conv.

    Layers whose weights keep their shapes get the original weights (the convs that receive a
    reduction change their kernel's input channels and start from fresh initial values).
    """
    chosen = {name: width for name, width in widths.items() if width is not None}

    def reduce(layer, x):
        if layer.name not in chosen or not isinstance(layer, SPATIAL_CONVS):
            return x
        return apply_reduction(x, layer.name, chosen[layer.name], reduction, layer.data_format)

    return clone_with_inputs_mapped(model, reduce)


def clone_with_inputs_mapped(model: keras.Model, map_input) -> keras.Model:
    """Clones `model` (nested models too), passing each layer's first input through
    `map_input(layer, x)` first; every layer whose weight shapes are unchanged keeps its weights."""

    def clone_layer(layer):
        if isinstance(layer, keras.Model):
            return _clone(layer)
        return layer.__class__.from_config(layer.get_config())

    def call_layer(layer, *args, **kwargs):
        if args:
            args = (map_input(layer, args[0]), *args[1:])
        return layer(*args, **kwargs)

    def _clone(inner):
        return keras.models.clone_model(
            as_functional(inner), clone_function=clone_layer, call_function=call_layer
        )

    clone = _clone(model)
    _copy_matching_weights(model, clone)
    return clone


def as_functional(model: keras.Model) -> keras.Model:
    """`model` as a functional model (a Sequential is wrapped; anything else is returned as is)."""
    if isinstance(model, keras.Sequential):
        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def layers_by_path(model: keras.Model, prefix: str = "") -> dict[str, keras.layers.Layer]:
    """Every non-model layer by its path through nested models, e.g. `inner/inner_conv`."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(layers_by_path(layer, f"{prefix}{layer.name}/"))
        else:
            found[f"{prefix}{layer.name}"] = layer
    return found


def _copy_matching_weights(source: keras.Model, target: keras.Model) -> None:
    originals = layers_by_path(source)
    for path, layer in layers_by_path(target).items():
        original = originals.get(path)
        if original is None or not layer.weights:
            continue
        old = original.get_weights()
        if len(old) == len(layer.weights) and all(
            a.shape == tuple(b.shape) for a, b in zip(old, layer.weights, strict=True)
        ):
            layer.set_weights(old)
