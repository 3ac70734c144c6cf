"""`SpaceSource`: what a search searches, a YAML backbone, a model of yours or your own
`build(hp)`, and how a model's sites are found."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from bottleneck_search.argument_validation import check_count, check_flag
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts.base import Part
from bottleneck_search.policy import DEFAULT_SPACE


@dataclasses.dataclass(frozen=True)
class SpaceSource(Part):
    """What is searched.

    Args:
        spec: a YAML backbone path, or the name of one shipped in `search_spaces/` (e.g.
            `googlenet`). Ignored when `model` or `hypermodel` is given.
        model: a `.keras` model to search instead (its convs with kernels of at least
            `min_kernel_size` are the sites), or a `keras.Model` itself.
        warm_start: start every architecture from the model's trained weights (low-rank
            reductions, as `compress`); False trains every architecture from scratch.
        include_frozen: let the model's frozen convs be sites.
        widths: the reduction widths offered at the model's sites: fractions of a site's input
            channels, or counts (None: 0.25 and 0.5).
        min_kernel_size: the smallest kernel that is a site.
        round_to: fractional widths are rounded to a multiple of this (None: 8).
        hypermodel: your own `build(hp)` instead of a space, as `FILE.py:FUNCTION` or
            `package.module:FUNCTION` (a function returning a compiled model, with
            `bottleneck_conv` sites and any hyperparameters of yours, or a
            `keras_tuner.HyperModel`). Every trial's model is built by it and counted
            (`count_flops`); its compile (optimizer, learning rate, loss, metrics) is kept.
            The run records the file's sha256; resuming, confirming and exporting refuse a
            changed file.

    `warm_start` to `round_to` shape a model's space; a YAML backbone sets its own, so they
    are refused without `model`.

    Raises:
        SearchConfigError: an argument out of range, or a model-only one without a model.

    Example:

    ```python
    SpaceSource("googlenet")
    SpaceSource(model="my_model.keras", widths=(0.25, 0.5), warm_start=True)
    ```
    """

    spec: str | os.PathLike | None = DEFAULT_SPACE
    model: Any = None
    warm_start: bool = False
    include_frozen: bool = False
    widths: tuple | list | None = None
    min_kernel_size: int = 3
    round_to: int | None = None
    hypermodel: str | None = None

    def __post_init__(self):
        check_flag("warm_start", self.warm_start)
        check_flag("include_frozen", self.include_frozen)
        check_count("min_kernel_size", self.min_kernel_size)
        if self.round_to is not None:
            check_count("round_to", self.round_to)
        model_only = [
            name
            for name, used in (
                ("warm_start", self.warm_start),
                ("include_frozen", self.include_frozen),
                ("widths", self.widths is not None),
                ("min_kernel_size", self.min_kernel_size != 3),
                ("round_to", self.round_to is not None),
            )
            if used
        ]
        if self.hypermodel is not None:
            self._check_hypermodel(model_only)
        elif model_only and self.model is None:
            raise SearchConfigError(
                f"{', '.join(model_only)} shape the space of a model search; a YAML space sets "
                f"its own widths. Give a model or leave them at their defaults. Received: "
                f"{self._received(model_only)}, model=None.",
                argument=model_only[0],
            )

    def _check_hypermodel(self, model_only: list[str]) -> None:
        if not isinstance(self.hypermodel, str):
            raise SearchConfigError(
                "hypermodel names your build(hp) as FILE.py:FUNCTION or "
                "package.module:FUNCTION, so that trainer processes, workers and resume import "
                "it again. For a function in memory, use BottleneckHyperModel(build) with a "
                f"Keras Tuner tuner. Received: hypermodel={self.hypermodel!r}.",
                argument="hypermodel",
            )
        given = (["model"] if self.model is not None else []) + model_only
        if given:
            raise SearchConfigError(
                f"hypermodel= searches your build(hp), whose sites are its bottleneck_conv "
                f"calls; {', '.join(given)} belong to a search of a model. Received: "
                f"hypermodel={self.hypermodel!r}, {self._received(given)}.",
                argument=given[0],
            )

    def _received(self, names: list[str]) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in names)

    @property
    def name(self) -> str:
        """The model's, the space's or your build function's name, as a run directory's is
        made from."""
        if self.hypermodel is not None:
            return self.hypermodel.rpartition(":")[2]
        named = self.model if self.model is not None else self.spec
        return Path(named).stem if isinstance(named, str | os.PathLike) else named.name
