"""`SearchSpace`: the sites of a network, their choices, and the closed-form cost of any choice."""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras

from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.reduction import reduction_delta
from bottleneck_search.space.site import DEFAULT_ROUND_TO, ReductionOptions, Site
from bottleneck_search.space.space_config import rebuilt_space, yaml_config

if TYPE_CHECKING:
    from bottleneck_search.space.lowrank import LowRankInit


class SearchSpace:
    """Where 1x1 reductions may go in a network, and how wide they may be.

    A space is a pure description: its sites come from shape arithmetic (YAML) or from an existing
    model's graph, and the cost of any architecture is a closed form: the cost of the network
    without reductions plus an exact per-site change. The no-reduction cost is counted once, on
    first use (for a YAML space that builds the network once); every later query takes
    microseconds.

    Build one with `SearchSpace.from_yaml(path)` or `SearchSpace.from_model(model, ...)`.

    Args:
        name, sites, reduction, source: its name, its `Site`s in network order, how reductions
            are made, and where it came from (as a run records it).
        build_function: builds the Keras model of `{site: width or None}`.
        base_model, warm_start, block_names, config: a model space's model and low-rank
            initialisation, a YAML space's block names, what `get_config` returns.

    Example:

    ```python
    space = SearchSpace.from_yaml("search_spaces/inception_mini.yaml")
    arch = space.sample(random.Random(0))
    print(space.macs(arch), space.size)
    model = space.build(arch)
    ```
    """

    def __init__(
        self,
        name: str,
        sites: Sequence[Site],
        build_function: Callable[[dict[str, int | None]], keras.Model],
        reduction: ReductionOptions,
        source: Mapping[str, Any],
        base_model: keras.Model | None = None,
        block_names: Sequence[str] = (),
        warm_start: LowRankInit | None = None,
        config: Mapping[str, Any] | None = None,
    ):
        if not sites:
            raise SearchSpaceError(
                f"'{name}' has no candidate sites: no convolution with a kernel of 3 or more "
                "offers a width that fits its input channels. Give such a conv narrower widths."
            )
        self.name = name
        self.sites = tuple(sites)
        self.reduction = reduction
        self.source = dict(source)
        self._build_function = build_function
        self._base_model = base_model
        self._by_name = {site.name: site for site in self.sites}
        self.block_names = tuple(block_names)
        self.warm_start = warm_start
        self._config = dict(config or {})
        # The `LatencyTable` architectures' `latency_us` comes from (`with_latency`), or None.
        self.latency_table = None

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | os.PathLike, classes: int | None = None) -> SearchSpace:
        """A space from a YAML backbone spec (schema in `search_spaces/README.md`).

        Args:
            path: the YAML file.
            classes: overrides the spec's `classes` (the width of the softmax head).
        """
        from bottleneck_search.space.backbones.yaml_spec import load_backbone

        backbone = load_backbone(path)
        if classes is not None:
            backbone = dataclasses.replace(backbone, classes=classes)
        return cls(
            name=backbone.name,
            sites=backbone.sites(),
            build_function=backbone.build,
            reduction=backbone.reduction,
            source={
                "kind": "yaml",
                "path": os.fspath(path),
                "sha256": backbone.sha256,
                "input_shape": list(backbone.input_shape),
                "classes": backbone.classes,
            },
            block_names=[block.name for block in backbone.blocks],
            config=yaml_config(path, backbone.sha256, classes),
        )

    @classmethod
    def from_model(
        cls,
        model: keras.Model,
        min_kernel_size: int = 3,
        name_pattern: str | None = None,
        skip_reduced: bool = False,
        widths: Sequence[float | int] | None = None,
        round_to: int = DEFAULT_ROUND_TO,
        reduction: ReductionOptions | None = None,
        init: str = "scratch",
        init_data: Iterable | None = None,
        include_frozen: bool = False,
        model_file: str | os.PathLike | None = None,
    ) -> SearchSpace:
        """A space over an existing functional or Sequential model (see `find_sites` for the filters).

        Building an architecture clones the model with the reductions inserted; every layer and
        nested model keeps its `trainable` flag, and frozen layers are no sites (unless
        `include_frozen`). What the clone starts from is `init`:

        - `scratch` (default): fresh initial values everywhere but in frozen layers (a frozen part
          is pretrained), so every architecture is compared from the same footing;
        - `carry`: the trained weights of every layer whose shapes did not change; a reduction
          and the conv after it start fresh (this favours architectures that change little);
        - `lowrank` (for trained models): the trained weights, with each reduction and the conv
          after it a low-rank factorisation of the trained conv along its input channels
          (`space.lowrank`): the reduced model starts close to the trained one, exactly it at
          full width. Low-rank reductions are linear 1x1 convs without bias, batch norm or
          activation (`LINEAR_REDUCTION`).

        A conv that receives a reduction always starts from new weights, so it is made trainable
        even if it was frozen.

        Args:
            init: `scratch`, `carry` or `lowrank`.
            init_data: with `lowrank`, batches of the user's (training) data: the factorisation
                then fits the conv's outputs on the first `MOMENT_BATCHES` of them instead of the
                kernel alone.
            include_frozen: let frozen convs be sites too.
            model_file: the `.keras` file `model` was loaded from, recorded so that
                `get_config()` names it.

        Raises:
            SearchSpaceError: not a model, a bad option, or no conv can be a site (the message
                counts the convs passed over by reason and names the options that include them).

        Example:

        ```python
        space = SearchSpace.from_model(my_model, widths=[8, 16], init="lowrank")
        reduced = space.build({"conv2": 16})   # starts near my_model's own conv2, no training
        ```
        """
        from bottleneck_search.space.model_space import model_space_arguments

        return cls(
            **model_space_arguments(
                model,
                min_kernel_size=min_kernel_size,
                name_pattern=name_pattern,
                skip_reduced=skip_reduced,
                widths=widths,
                round_to=round_to,
                reduction=reduction,
                init=init,
                init_data=init_data,
                include_frozen=include_frozen,
                model_file=model_file,
            )
        )

    # -- saving what rebuilds it (Keras' get_config / from_config) ----------------------------
    def get_config(self) -> dict[str, Any]:
        """What rebuilds this space, as JSON (see `space.space_config`).

        Example:

        ```python
        space = SearchSpace.from_yaml("search_spaces/inception_mini.yaml")
        again = SearchSpace.from_config(space.get_config())
        assert again.size == space.size and again.macs(again.cheapest()) == space.macs(space.cheapest())
        ```
        """
        return json.loads(json.dumps(self._config))

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], model: keras.Model | None = None, init_data=None
    ) -> SearchSpace:
        """The space `get_config()` describes; `model`: a model space's model (else its file
        is loaded, safe mode); `init_data`: the batches its warm starts were fitted on.

        Raises:
            SearchSpaceError: an unknown kind, a changed YAML file, or no model nor file.
        """
        return rebuilt_space(cls, config, model, init_data)

    # -- architectures ----------------------------------------------------------------------
    @property
    def base_model(self) -> keras.Model | None:
        """The user's model a `from_model` space rewrites (None for a YAML space)."""
        return self._base_model

    @property
    def size(self) -> int:
        """Number of architectures: the product of the choices (no reduction, or a width) per site."""
        return math.prod(len(site.choices) for site in self.sites)

    @property
    def reference(self) -> Architecture | None:
        """The spec's reference architecture (e.g. GoogLeNet's paper widths), or None if it has none."""
        if all(site.reference is None for site in self.sites):
            return None
        return self._with_costs({site.name: site.reference for site in self.sites})

    def no_bottleneck(self) -> Architecture:
        """The architecture with no reduction anywhere."""
        return self._with_costs({site.name: None for site in self.sites})

    def cheapest(self) -> Architecture:
        """The architecture with the fewest MACs (per-site costs are independent, so this is exact)."""
        return self._extreme(min, lambda site, width: self._delta(site, width)[0])

    def most_expensive(self) -> Architecture:
        """The architecture with the most MACs."""
        return self._extreme(max, lambda site, width: self._delta(site, width)[0])

    def _extreme(self, choose, cost_of) -> Architecture:
        """Each site's choice `choose` (min or max) picks by `cost_of(site, width)`."""
        return self._with_costs(
            {s.name: choose(s.choices, key=lambda w, s=s: cost_of(s, w)) for s in self.sites}
        )

    def sample(self, rng: random.Random | int | None = None) -> Architecture:
        """An architecture with every site's decision drawn uniformly from its choices."""
        if not isinstance(rng, random.Random):
            rng = random.Random(rng)
        return self._with_costs({site.name: rng.choice(site.choices) for site in self.sites})

    def architectures(self) -> Iterator[Architecture]:
        """Every architecture of the space, with its costs, in a fixed order (the first site's
        choices vary slowest). There are `size` of them: mind large spaces.

        Example:

        ```python
        cheap = [a for a in space.architectures() if a.macs <= 5_000_000]
        ```
        """
        names = [site.name for site in self.sites]
        for widths in itertools.product(*(site.choices for site in self.sites)):
            yield self._with_costs(dict(zip(names, widths, strict=True)))

    def validate(self, architecture: Architecture | Mapping[str, int | None]) -> Architecture:
        """Checks an architecture against the space and returns it complete, in site order, with costs.

        Takes an `Architecture` or a mapping in any form `Architecture.from_config` accepts. Sites the
        architecture does not mention get no reduction.

        Raises:
            SearchSpaceError: a site the space lacks, or a width the site does not offer.
        """
        if not isinstance(architecture, Architecture):
            architecture = Architecture.from_config(architecture, source=f"space '{self.name}'")
        widths = architecture.widths
        for name, width in widths.items():
            site = self._by_name.get(name)
            if site is None:
                raise SearchSpaceError(
                    f"The architecture names site '{name}', which space '{self.name}' lacks. "
                    f"Its sites: {', '.join(self._by_name)}."
                )
            if width not in site.choices:
                raise SearchSpaceError(
                    f"Site '{name}' does not offer width {width!r}; it offers null (no reduction) "
                    f"or one of {list(site.widths)}."
                )
        return self._with_costs({site.name: widths.get(site.name) for site in self.sites})

    # -- cost -------------------------------------------------------------------------------
    @functools.cached_property
    def _base_cost(self) -> tuple[int, int, int]:
        from bottleneck_search.flops import count_flops

        model = self._base_model if self._base_model is not None else self._build_function({})
        report = count_flops(model)
        return report.macs, report.flops, report.params

    def _delta(self, site: Site, width: int | None) -> tuple[int, int, int]:
        return reduction_delta(site, width, self.reduction)

    def cost(self, architecture: Architecture | Mapping[str, int | None]) -> tuple[int, int, int]:
        """`(macs, flops, params)` of the built architecture at batch 1, in closed form."""
        widths = architecture.widths if isinstance(architecture, Architecture) else architecture
        macs, flops, params = self._base_cost
        for site in self.sites:
            d_macs, d_flops, d_params = self._delta(site, widths.get(site.name))
            macs, flops, params = macs + d_macs, flops + d_flops, params + d_params
        return macs, flops, params

    def macs(self, architecture: Architecture | Mapping[str, int | None]) -> int:
        """MACs of the built architecture at batch 1, equal to `count_flops(space.build(a)).macs`."""
        return self.cost(architecture)[0]

    def flops(self, architecture: Architecture | Mapping[str, int | None]) -> int:
        """FLOPs of the built architecture at batch 1, equal to `count_flops(space.build(a)).flops`."""
        return self.cost(architecture)[1]

    def params(self, architecture: Architecture | Mapping[str, int | None]) -> int:
        """Parameters of the built architecture."""
        return self.cost(architecture)[2]

    def _with_costs(self, widths: dict[str, int | None]) -> Architecture:
        macs, flops, params = self.cost(widths)
        latency = self.latency_table.predict_us(widths) if self.latency_table is not None else None
        return Architecture.from_widths(
            widths, macs=macs, flops=flops, params=params, latency_us=latency
        )

    # -- latency ----------------------------------------------------------------------------
    def with_latency(self, table) -> SearchSpace:
        """This space with a latency table attached: its architectures then carry
        `latency_us`, predicted in closed form (`latency.LatencyTable`).

        Raises:
            SearchSpaceError: a table of another space, or one missing a site or width.

        Example:

        ```python
        from bottleneck_search.latency import cached_table
        timed = space.with_latency(cached_table(space, repeats=3, validation=2))
        timed.fastest().latency_us
        ```
        """
        missing = table.missing_entries(self)
        if table.space != self.name or missing:
            raise SearchSpaceError(
                f"The latency table of '{table.space}' does not fit space '{self.name}'"
                + (f" (no entry for {', '.join(missing[:5])})" if missing else "")
                + ". Build one for this space: bottleneck-search latency --space SPACE --table."
            )
        timed = copy.copy(self)
        timed.latency_table = table
        return timed

    def fastest(self) -> Architecture:
        """The architecture of least predicted latency (needs a latency table; exact for the
        table's additive form, as `cheapest` is for MACs)."""
        if self.latency_table is None:
            raise SearchSpaceError("fastest() needs a latency table: space.with_latency(table).")
        return self._extreme(min, lambda site, w: self.latency_table.change_us(site.name, w))

    def slowest(self) -> Architecture:
        """The architecture of most predicted latency (needs a latency table)."""
        if self.latency_table is None:
            raise SearchSpaceError("slowest() needs a latency table: space.with_latency(table).")
        return self._extreme(max, lambda site, w: self.latency_table.change_us(site.name, w))

    # -- building ---------------------------------------------------------------------------
    def build(self, architecture: Architecture | Mapping[str, int | None]) -> keras.Model:
        """Builds the Keras model of an architecture (validated first)."""
        architecture = self.validate(architecture)
        return self._build_function(architecture.widths)

    def block_costs(
        self, architecture: Architecture | Mapping[str, int | None]
    ) -> list[tuple[str, int, int]]:
        """`(block, macs, params)` per block of a YAML space for one architecture (builds it
        once; see `space.summary.block_costs`)."""
        from bottleneck_search.space.summary import block_costs

        return block_costs(self, architecture)

    def describe(self) -> str:
        """A text table of the sites, their choices, and the convs passed over (`space.summary`)."""
        from bottleneck_search.space.summary import sites_table

        return sites_table(self)

    def __repr__(self) -> str:
        return f"SearchSpace(name={self.name!r}, sites={len(self.sites)}, size={self.size})"
