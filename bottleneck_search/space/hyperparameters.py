"""The Keras Tuner hyperparameters of a search space: `<site>/reduce` and `<site>/width` per site,
their conversion to and from an `Architecture`, and `bottleneck_conv` for a user's own
`build(hp)`. `BottleneckHyperModel` (in `bottleneck_search.search`) builds on these."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_tuner as kt

from bottleneck_search.convolution import CONV_BY_RANK, split_shape
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.reduction import apply_reduction
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.site import DEFAULT_ROUND_TO, ReductionOptions, resolve_widths


def reduce_hp_name(site: str) -> str:
    return f"{site}/reduce"


def width_hp_name(site: str) -> str:
    return f"{site}/width"


def site_widths(hp: kt.HyperParameters) -> dict[str, int | None]:
    """`{site: width or None}` of the sites declared in `hp` (by `bottleneck_conv` or a space),
    in the order they were declared."""
    suffix = reduce_hp_name("")
    return {
        name[: -len(suffix)]: (
            hp.values.get(width_hp_name(name[: -len(suffix)])) if hp.values.get(name) else None
        )
        for name in hp.values
        if name.endswith(suffix)
    }


def declare_site(
    hp: kt.HyperParameters, site: str, widths: Sequence[int], default: int | None = None
) -> int | None:
    """Declares `<site>/reduce` (Boolean) and `<site>/width` (Choice, active only when reducing).

    Returns:
        The width this trial uses at the site, or None for no reduction.
    """
    reduce = hp.Boolean(reduce_hp_name(site), default=False)
    width = hp.Choice(
        width_hp_name(site),
        list(widths),
        default=default if default in widths else widths[-1],
        parent_name=reduce_hp_name(site),
        parent_values=[True],
    )
    return width if reduce else None


def architecture_from_hp(space: SearchSpace, hp: kt.HyperParameters) -> Architecture:
    """Declares every site's hyperparameters in `hp` and returns the architecture they select.

    Args:
        space: the `SearchSpace` whose sites are declared (`<site>/reduce`, and the conditional
            `<site>/width`).
        hp: Keras Tuner's `HyperParameters` of the trial (a new one selects the defaults).

    Returns:
        The `Architecture` `hp`'s values select, with its closed-form costs.

    Example:

    ```python
    hp = keras_tuner.HyperParameters()
    arch = architecture_from_hp(space, hp)   # the defaults: no reduction anywhere
    ```
    """
    widths = {
        site.name: declare_site(hp, site.name, site.widths, site.reference) for site in space.sites
    }
    return space.validate(widths)


def architecture_to_hp(space: SearchSpace, architecture: Architecture) -> kt.HyperParameters:
    """The `HyperParameters` that select `architecture` (the reverse of `architecture_from_hp`).

    Args:
        space: the `SearchSpace` the architecture belongs to.
        architecture: an `Architecture` of `space`, or a `{site: width or None}` mapping.

    Returns:
        Keras Tuner's `HyperParameters`, every site declared and set.

    Raises:
        SearchSpaceError: `architecture` is not one of `space`'s.

    Example:

    ```python
    hp = architecture_to_hp(space, space.reference)
    assert architecture_from_hp(space, hp) == space.reference
    ```
    """
    architecture = space.validate(architecture)
    hp = kt.HyperParameters()
    architecture_from_hp(space, hp)
    for name, width in architecture.decisions:
        hp.values[reduce_hp_name(name)] = width is not None
        if width is not None:
            hp.values[width_hp_name(name)] = width
    return hp


def bottleneck_conv(
    hp: kt.HyperParameters,
    x,
    filters: int,
    kernel_size: int | Sequence[int],
    name: str,
    widths: Sequence[float | int] | None = None,
    round_to: int = DEFAULT_ROUND_TO,
    reduction: ReductionOptions | None = None,
    **conv_kwargs,
):
    """A convolution whose optional 1x1 reduction is searched: one line in a user's `build(hp)`.

    Declares `<name>/reduce` and `<name>/width` in `hp` (nothing when no width fits the input's
    channels), inserts `<name>_reduce` when chosen, and applies the conv.

    Args:
        hp: the trial's `HyperParameters`.
        x: the input tensor (rank 3, 4 or 5: Conv1D, Conv2D or Conv3D).
        filters, kernel_size, **conv_kwargs: as for `keras.layers.Conv2D`.
        name: the conv's name; also the site's name.
        widths: width specs (channel counts or fractions of the input channels).
        round_to: multiple that fractional widths round to.
        reduction: how the reduction is made (`ReductionOptions`).

    Returns:
        The conv's output tensor.

    Example:

    ```python
    def build(hp):
        inputs = keras.Input((32, 32, 16))
        x = bottleneck_conv(hp, inputs, 32, 3, name="conv1", padding="same", activation="relu")
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    hp = keras_tuner.HyperParameters()
    model = build(hp)   # declares conv1/reduce and, when reducing, conv1/width
    ```
    """
    rank = len(x.shape) - 2
    if rank not in CONV_BY_RANK:
        raise SearchSpaceError(
            f"bottleneck_conv '{name}' needs a batched 1-D, 2-D or 3-D input; received shape {x.shape}."
        )
    data_format = conv_kwargs.get("data_format") or keras.config.image_data_format()
    in_channels, _ = split_shape(x.shape, data_format)
    offered = resolve_widths(widths, in_channels, round_to, where=f"bottleneck_conv '{name}': ")
    if offered:
        width = declare_site(hp, name, offered)
        if width is not None:
            x = apply_reduction(
                x,
                name,
                width,
                reduction or ReductionOptions(),
                data_format,
                conv_kwargs.get("dtype"),  # the conv's own precision, else the global policy
            )
    return CONV_BY_RANK[rank](filters, kernel_size, name=name, **conv_kwargs)(x)
