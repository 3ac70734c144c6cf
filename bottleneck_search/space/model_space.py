"""The constructor arguments of a `SearchSpace` over an existing model (`SearchSpace.from_model`):
its sites, how an architecture is built from the model, and what rebuilds the space."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.site import ReductionOptions
from bottleneck_search.space.space_config import model_config

# How `from_model` initialises the architectures it builds.
INITS = ("scratch", "carry", "lowrank")


def model_space_arguments(
    model: keras.Model,
    min_kernel_size: int,
    name_pattern: str | None,
    skip_reduced: bool,
    widths: Sequence[float | int] | None,
    round_to: int,
    reduction: ReductionOptions | None,
    init: str,
    init_data: Iterable | None,
    include_frozen: bool,
    model_file,
) -> dict[str, Any]:
    """`SearchSpace(**arguments)` for `model` (see `SearchSpace.from_model` for every option).

    Raises:
        SearchSpaceError: not a model, a bad option, or no conv can be a site.
    """
    from bottleneck_search.space.from_model import find_sites, no_sites_message, rewrite_model
    from bottleneck_search.space.lowrank import LINEAR_REDUCTION, fitted_warm_start

    if not isinstance(model, keras.Model):
        raise SearchSpaceError(
            f"from_model() takes a keras.Model. Received: {type(model).__name__}."
        )
    check_choice("init", init, INITS, error=SearchSpaceError)
    if init == "lowrank" and reduction not in (None, LINEAR_REDUCTION):
        raise SearchSpaceError(
            f"init='lowrank' makes linear reductions (no bias, batch norm or activation); "
            f"it cannot honour reduction={reduction}. Leave reduction unset."
        )
    sites, passed_over = find_sites(
        model,
        min_kernel_size,
        name_pattern,
        skip_reduced,
        widths,
        round_to,
        include_frozen,
        plain_only=init == "lowrank",  # the factorisation is of a plain kernel
    )
    if not sites:
        raise SearchSpaceError(no_sites_message(model.name, passed_over))
    warm_start = fitted_warm_start(model, sites, init_data) if init == "lowrank" else None
    if init == "lowrank":
        reduction = LINEAR_REDUCTION
    reduction = reduction or ReductionOptions()

    def build(chosen):
        built = rewrite_model(model, chosen, reduction, carry_weights=init != "scratch")
        if warm_start is not None:
            warm_start.apply(built, chosen)
        return built

    return dict(
        name=model.name,
        sites=sites,
        build_function=build,
        reduction=reduction,
        source={
            "kind": "model",
            "name": model.name,
            "input_shape": list(model.inputs[0].shape[1:]),
            "classes": model.outputs[0].shape[-1],
            "output_shape": list(model.outputs[0].shape[1:]),
            "init": init,
            "passed_over": dict(passed_over),
        },
        base_model=model,
        warm_start=warm_start,
        config=model_config(
            model_file,
            min_kernel_size=min_kernel_size,
            name_pattern=name_pattern,
            skip_reduced=skip_reduced,
            widths=list(widths) if widths is not None else None,
            round_to=round_to,
            reduction=reduction,
            init=init,
            include_frozen=include_frozen,
            fitted_on_data=init_data is not None and init == "lowrank",
        ),
    )
