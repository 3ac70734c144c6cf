"""`apply_bottlenecks`: build one given architecture outside any tuner."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping

import keras

from bottleneck_search import limits
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.from_model import find_sites, rewrite_model
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.site import ReductionOptions, is_activation_name


def apply_bottlenecks(
    model_or_space: keras.Model | SearchSpace,
    architecture: Architecture | Mapping | str | os.PathLike,
    reduction: ReductionOptions | None = None,
) -> keras.Model:
    """Builds `architecture` on a search space, or around a user's own model.

    Args:
        model_or_space: a `SearchSpace`, or a functional/Sequential `keras.Model` whose convs carry
            the architecture's site names (the plug-in path; its weights carry over wherever
            shapes are unchanged).
        architecture: an `Architecture`; a mapping or the path of a JSON file in any form
            `Architecture.from_config` accepts (an export's `architecture.json`, a `trials.jsonl`
            line, or the bare `{site: width or None}`).
        reduction: how reductions are made on a model; by default the JSON's `reduction` entry
            if it has one, else `ReductionOptions()`.

    Returns:
        A new, uncompiled `keras.Model`.

    Raises:
        SearchSpaceError: a site the model or space lacks, or a width it cannot take.

    Example:

    ```python
    resnet = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    reduced = apply_bottlenecks(resnet, {"conv2_block1_2_conv": 32})   # or an architecture.json
    assert reduced.get_layer("conv2_block1_2_conv_reduce").filters == 32
    ```
    """
    keys: dict[str, str] = {}
    if isinstance(architecture, str | os.PathLike):
        architecture, reduction, keys = read_architecture_file(os.fspath(architecture), reduction)
    elif isinstance(architecture, Mapping):
        architecture = Architecture.from_config(architecture)
    if isinstance(model_or_space, SearchSpace):
        return model_or_space.build(architecture)
    if not isinstance(model_or_space, keras.Model):
        raise SearchSpaceError(
            f"apply_bottlenecks() takes a keras.Model or a SearchSpace. Received: {type(model_or_space).__name__}."
        )
    reduction = reduction or ReductionOptions()
    chosen = {name: width for name, width in architecture.decisions if width is not None}
    if not chosen:
        return rewrite_model(model_or_space, {}, reduction)
    sites, _ = find_sites(model_or_space, min_kernel_size=1, widths=[1], include_frozen=True)
    convs = {site.name: site for site in sites}
    chosen = _renamed_by_key(chosen, convs, keys, model_or_space.name)
    for name, width in chosen.items():
        site = convs.get(name)
        if site is None:
            raise SearchSpaceError(
                f"The architecture names site '{name}', but model '{model_or_space.name}' has no "
                f"single-use, ungrouped conv of that name. Its convs: {', '.join(convs) or 'none'}."
            )
        if width > site.in_channels:
            raise SearchSpaceError(
                f"Site '{name}' cannot take width {width}: it exceeds the conv's {site.in_channels} input channels."
            )
    return rewrite_model(model_or_space, chosen, reduction)


def _renamed_by_key(chosen: dict, convs: dict, keys: dict, model_name: str) -> dict:
    """`chosen` with each site name the model lacks replaced by the name of the model's conv
    with the same structural key (`Site.key`), with a warning; unmatched names stay."""
    by_key = {site.key: name for name, site in convs.items()}
    renamed = {
        name: by_key[keys[name]]
        for name in chosen
        if name not in convs and keys.get(name) in by_key
    }
    if not renamed:
        return chosen
    warnings.warn(
        f"Model '{model_name}' has no layers named {sorted(renamed)}; the architecture's sites "
        "were matched by their position and shapes instead: "
        + ", ".join(f"{old} -> {new}" for old, new in renamed.items())
        + ". Name your convs (name=...) to make architecture files independent of rebuilds.",
        stacklevel=3,
    )
    return {renamed.get(name, name): width for name, width in chosen.items()}


def read_architecture_file(path: str, reduction: ReductionOptions | None):
    """Reads an architecture JSON file; returns it, its `reduction` options (or `reduction`) and
    its sites' structural keys (`site_keys`; empty when it has none)."""
    if not os.path.isfile(path):
        raise SearchSpaceError(f"Architecture file '{path}' does not exist. Check the path.")
    if os.path.getsize(path) > limits.MAX_FILE_BYTES:
        raise SearchSpaceError(limits.file_too_large("Architecture file", path))
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    architecture = Architecture.from_json(text, source=path)
    data = json.loads(text)  # a mapping: `from_json` accepted it
    if reduction is None and isinstance(data.get("reduction"), Mapping):
        try:
            reduction = ReductionOptions(**data["reduction"])
        except TypeError as error:
            raise SearchSpaceError(f"{path}: 'reduction' entry is invalid: {error}.") from error
        _check_reduction(reduction, path)
    keys = data.get("site_keys")
    valid = isinstance(keys, Mapping) and all(isinstance(v, str) for v in keys.values())
    return architecture, reduction, dict(keys) if valid else {}


def _check_reduction(reduction: ReductionOptions, path: str) -> None:
    for name in ("batch_norm", "use_bias"):
        if not isinstance(getattr(reduction, name), bool):
            raise SearchSpaceError(
                f"{path}: 'reduction.{name}' must be true or false. Received: {getattr(reduction, name)!r}."
            )
    if not is_activation_name(reduction.activation):
        raise SearchSpaceError(
            f"{path}: 'reduction.activation' {str(reduction.activation)[:80]!r} is not a Keras "
            "activation name (e.g. relu, swish, linear)."
        )
