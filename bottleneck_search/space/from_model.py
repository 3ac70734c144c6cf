"""Sites of an existing Keras model, and rewriting it with reductions inserted.

The rewrite is Keras' own `clone_model` with a `call_function` that puts the reduction in front
of each chosen conv; every layer whose weight shapes did not change gets the original weights.
"""

from __future__ import annotations

import re
from collections import Counter

import keras

from bottleneck_search.calibration import every_layer
from bottleneck_search.convolution import (
    SEPARABLE_CONVS,
    SITE_CONVS,
    SPATIAL_CONVS,
    TRANSPOSED_CONVS,
    split_shape,
)
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
    include_frozen: bool = False,
    plain_only: bool = False,
) -> tuple[tuple[Site, ...], Counter]:
    """Finds the candidate sites of a functional or Sequential model (nested models included).

    A site is a Conv1D/2D/3D, SeparableConv1D/2D or Conv1D/2D/3DTranspose layer (unless
    `plain_only`: the first kind, ungrouped), called once, with a kernel of at least
    `min_kernel_size` in some spatial dimension, whose name matches `name_pattern` (a regular
    expression, `re.search`), trainable (it and every model around it; unless `include_frozen`:
    a frozen backbone is a pretrained one), and for which at least one width fits its input
    channels (for a grouped conv: a width below its input channels and a multiple of its
    `groups`). Every other convolution but a 1x1 is counted under the reason it was passed over
    (docs/spaces.md, "Your own model", lists them and why).

    Args:
        model: the model.
        min_kernel_size: smallest kernel size (in any spatial dimension) that makes a site.
        name_pattern: only convs whose name matches this regular expression.
        skip_reduced: skip convs whose input already comes from a 1x1 conv.
        widths: width specs (see `resolve_widths`); fractions of the input channels by default.
        round_to: multiple that fractional widths round to.
        include_frozen: let frozen convs be sites too (a reduced one is then made trainable).
        plain_only: only ungrouped Conv1D/2D/3D are sites (a low-rank warm start factors plain
            kernels only).

    Returns:
        `(sites in execution order, Counter of the convolutions passed over by reason)`.
    """
    pattern = _compile(name_pattern)
    calls = list(layer_calls(model))
    times_called = Counter(id(node.operation) for _, node in calls)
    frozen = frozen_layer_ids(model)
    sites: list[Site] = []
    passed_over: Counter = Counter()
    counted: set[int] = set()
    position = 0
    for _, node in calls:
        layer = node.operation
        if isinstance(layer, SITE_CONVS) or _other_conv_kind(layer) is not None:
            position += 1
        separable = isinstance(layer, SEPARABLE_CONVS)
        transposed = isinstance(layer, TRANSPOSED_CONVS)
        if not isinstance(layer, SITE_CONVS) or ((separable or transposed) and plain_only):
            kind = _other_conv_kind(layer)
            if kind is not None:
                passed_over[kind] += 1
            continue
        reason = None
        if max(layer.kernel_size) < min_kernel_size:
            if max(layer.kernel_size) == 1:  # a pointwise conv is no candidate: not counted
                continue
            reason = "kernel below min_kernel_size"
        elif times_called[id(layer)] > 1:
            reason = "shared"
        elif getattr(layer, "groups", 1) != 1 and plain_only:
            reason = "grouped"
        elif pattern is not None and not pattern.search(layer.name):
            reason = "name pattern"
        elif skip_reduced and _fed_by_pointwise_conv(node):
            reason = "already after a 1x1"
        elif id(layer) in frozen and not include_frozen:
            reason = "frozen"
        if reason is not None:
            if id(layer) not in counted:  # a shared conv is one conv, however often called
                passed_over[reason] += 1
                counted.add(id(layer))
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
        groups = getattr(layer, "groups", 1)
        if groups != 1:  # the conv after the reduction keeps its groups
            offered = tuple(w for w in offered if w % groups == 0 and w < in_channels)
            if not offered:
                passed_over["grouped"] += 1
                continue
        if not offered:
            passed_over["too narrow"] += 1
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
                key=structural_key(position, layer, in_shape, out_shape),
                groups=groups,
                depth_multiplier=layer.depth_multiplier if separable else None,
                transposed=transposed,
            )
        )
    names = Counter(site.name for site in sites)
    duplicates = [name for name, count in names.items() if count > 1]
    if duplicates:
        raise SearchSpaceError(
            f"Layer names {duplicates} occur in more than one nested model; site names must be "
            "unique. Rename the layers (name=...) so each conv has its own name."
        )
    return tuple(sites), passed_over


_OTHER_CONVS = (
    ((keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D), "depthwise"),
    (SEPARABLE_CONVS, "separable"),
    (TRANSPOSED_CONVS, "transposed"),
)


def _other_conv_kind(layer) -> str | None:
    return next((kind for classes, kind in _OTHER_CONVS if isinstance(layer, classes)), None)


def describe_passed_over(passed_over: Counter) -> str:
    """`3 frozen, 2 grouped` (empty when nothing was passed over)."""
    return ", ".join(f"{count} {reason}" for reason, count in passed_over.most_common())


# The options (Python; CLI flag) that would make a passed-over conv a site.
_INCLUDED_BY = {
    "frozen": "include_frozen=True (--include-frozen)",
    "already after a 1x1": "skip_reduced=False",
    "too narrow": "narrower widths (widths=, --widths)",
    "kernel below --min-kernel-size": "a smaller min_kernel_size (--min-kernel-size)",
    "name pattern": "another name_pattern (Python)",
}


def no_sites_message(name: str, passed_over: Counter) -> str:
    """Why model `name` has no site: the convs passed over by reason, and what would include them."""
    if not passed_over:
        return (
            f"'{name}' has no candidate sites: it has no convolution with a kernel of 3 or more "
            "(only those take a 1x1 reduction in front)."
        )
    options = [_INCLUDED_BY[reason] for reason in passed_over if reason in _INCLUDED_BY]
    unsupported = [r for r in passed_over if r not in _INCLUDED_BY]
    advice = f" To include some, pass {' or '.join(options)}." if options else ""
    if unsupported:
        advice += f" {', '.join(unsupported)} convs cannot be sites (docs/spaces.md, 'Your own model', says why)."
    return (
        f"'{name}' has no candidate sites: its convolutions were passed over "
        f"({describe_passed_over(passed_over)}).{advice}"
    )


def frozen_layer_ids(model: keras.Model, enclosing_frozen: bool = False) -> set[int]:
    """The ids of the layers that do not train: frozen themselves or inside a frozen model."""
    found = set()
    for layer in model.layers:
        frozen = enclosing_frozen or not layer.trainable
        if isinstance(layer, keras.Model):
            found |= frozen_layer_ids(layer, frozen)
        elif frozen:
            found.add(id(layer))
    return found


def structural_key(position: int, layer, in_shape, out_shape) -> str:
    """`conv 3 Conv2D 14x14x480->14x14x48`: a conv by its place and shapes, not its name."""

    def dims(shape) -> str:
        return "x".join(str(d) for d in shape[1:])

    return f"conv {position} {type(layer).__name__} {dims(in_shape)}->{dims(out_shape)}"


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
    model: keras.Model,
    widths: dict[str, int | None],
    reduction: ReductionOptions,
    carry_weights: bool = True,
) -> keras.Model:
    """Clones `model` with a reduction of `widths[name]` channels before each named conv.

    With `carry_weights`, every layer whose weights keep their shapes gets the original weights;
    without, only frozen layers do (a frozen part is a pretrained one) and the rest start from
    fresh initial values. Either way a conv that receives a reduction starts fresh (its kernel's
    input channels changed), so it is made trainable, and every other layer and nested model
    keeps its `trainable` flag.
    """
    chosen = {name: width for name, width in widths.items() if width is not None}

    def reduce(layer, x):
        if layer.name not in chosen or not isinstance(layer, SITE_CONVS):
            return x
        return apply_reduction(
            x, layer.name, chosen[layer.name], reduction, layer.data_format, layer.dtype_policy
        )

    return clone_with_inputs_mapped(model, reduce, carry_weights, reinitialised=set(chosen))


def clone_with_inputs_mapped(
    model: keras.Model, map_input, carry_weights: bool = True, reinitialised: set = frozenset()
) -> keras.Model:
    """Clones `model` (nested models too), passing each layer's first input through
    `map_input(layer, x)` first; weights are carried as `rewrite_model` says, `trainable` flags
    are kept, and the layers named in `reinitialised` are made trainable (with the models
    around them)."""

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
    _copy_weights(model, clone, carry_weights)
    _copy_trainable(model, clone, reinitialised)
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


def _copy_weights(source: keras.Model, target: keras.Model, carry_all: bool) -> None:
    originals = layers_by_path(source)
    frozen = frozen_layer_ids(source)
    for path, layer in layers_by_path(target).items():
        original = originals.get(path)
        if original is None or not layer.weights:
            continue
        if not carry_all and id(original) not in frozen:
            continue
        old = original.get_weights()
        if len(old) == len(layer.weights) and all(
            a.shape == tuple(b.shape) for a, b in zip(old, layer.weights, strict=True)
        ):
            layer.set_weights(old)


def _copy_trainable(source: keras.Model, target: keras.Model, reinitialised: set) -> bool:
    """Gives every layer and nested model of `target` its `source` counterpart's `trainable`
    flag, except that a layer named in `reinitialised` trains (and so the models around it);
    returns whether `target` holds such a layer."""
    originals = {layer.name: layer for layer in source.layers}
    holds = False
    for layer in target.layers:
        original = originals.get(layer.name)
        if isinstance(layer, keras.Model) and isinstance(original, keras.Model):
            inner = _copy_trainable(original, layer, reinitialised)
            # A model's flag is its layers' gate: set it without touching theirs (Keras' setter
            # would set every sublayer), then put theirs back.
            flags = [(sub, sub.trainable) for sub in every_layer(layer)[1:]]
            layer.trainable = original.trainable or inner
            for sub, flag in flags:
                sub.trainable = flag
            holds = holds or inner
        elif layer.name in reinitialised:
            layer.trainable = True
            holds = True
        elif original is not None:
            layer.trainable = original.trainable
    return holds
