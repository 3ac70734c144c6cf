"""A site's conv on its own, with and without its reduction: the models a latency table times.

A table's entry for `(site, width)` is how much faster the site's conv runs when a 1x1
reduction to `width` channels goes before it, timed on the conv alone at its input shape (not
in the whole network): the conv's own layer, rebuilt from its config, against the reduction's
layers (`space.reduction`) followed by the same conv. A block call takes a fraction of the
network's, so it can be timed many times for the cost of one network call, and its timing
noise is a fraction of the network's too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from bottleneck_search.errors import LatencyError
from bottleneck_search.space.from_model import layers_by_path
from bottleneck_search.space.reduction import reduction_layers

if TYPE_CHECKING:
    from bottleneck_search.space.search_space import SearchSpace
    from bottleneck_search.space.site import Site


def site_conv(base_model: keras.Model, site: Site) -> keras.layers.Layer:
    """The layer of `base_model` (nested models entered) that `site` names."""
    for path, layer in layers_by_path(base_model).items():
        if path.rsplit("/", 1)[-1] == site.name:
            return layer
    raise LatencyError(
        f"Site '{site.name}' is not a layer of the network '{base_model.name}' its space builds, "
        "so its conv cannot be timed on its own. Build the space again from the model or YAML "
        "file it came from."
    )


def block_model(
    conv: keras.layers.Layer, site: Site, space: SearchSpace, batch_size: int, width: int | None
) -> keras.Model:
    """`conv` rebuilt from its config on an input of the site's shape, after a reduction to
    `width` channels (None: none), as a model of fixed `batch_size`."""
    data_format = getattr(conv, "data_format", "channels_last")
    if data_format == "channels_first":
        shape = (site.in_channels, *site.input_size)
    else:
        shape = (*site.input_size, site.in_channels)
    inputs = keras.Input(shape, batch_size=batch_size)
    x = inputs
    if width is not None:
        for layer in reduction_layers(
            site.name, len(site.input_size), width, space.reduction, data_format
        ):
            x = layer(x)
    try:
        rebuilt = type(conv).from_config(conv.get_config())
    except (TypeError, ValueError) as error:
        raise LatencyError(
            f"The conv of site '{site.name}' ({type(conv).__name__}) cannot be rebuilt from its "
            f"config to be timed on its own: {error}."
        ) from error
    return keras.Model(inputs, rebuilt(x), name=f"{site.name}_block")
