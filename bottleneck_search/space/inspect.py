"""Loading a space from a path (YAML spec or `.keras` model) and summarising it for people."""

from __future__ import annotations

import os

from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.flops.report import human
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace


def load_space(spec: str | os.PathLike, unsafe_load: bool = False) -> SearchSpace:
    """A `SearchSpace` from a YAML backbone (`.yaml`/`.yml`) or a `.keras` model file.

    Example:

    ```python
    space = load_space("search_spaces/googlenet.yaml")
    ```
    """
    spec = os.fspath(spec)
    if spec.endswith((".yaml", ".yml")):
        return SearchSpace.from_yaml(spec)
    if spec.endswith((".keras", ".h5")):
        from bottleneck_search.model_io import load_model

        return SearchSpace.from_model(load_model(spec, unsafe_load=unsafe_load))
    raise SearchSpaceError(
        f"'{spec}' is neither a YAML backbone (.yaml) nor a Keras model (.keras). The shipped "
        "backbones are in search_spaces/."
    )


def space_summary(space: SearchSpace, architecture: Architecture | None = None) -> str:
    """Sites, their choices, the number of architectures, and the cost of notable architectures."""
    source = space.source.get("path") or space.source.get("name")
    lines = [
        f"space {space.name} ({source}): {len(space.sites)} sites, {space.size:,} architectures",
        "",
        space.describe(),
        "",
    ]
    named = [("cheapest", space.cheapest()), ("no bottleneck", space.no_bottleneck())]
    if space.reference is not None:
        named.append(("reference", space.reference))
    named.append(("most expensive", space.most_expensive()))
    if architecture is not None:
        named.append(("given", space.validate(architecture)))
    width = max(len(label) for label, _ in named)
    for label, arch in named:
        lines.append(
            f"{label.ljust(width)}  MACs {arch.macs:>15,} ({human(arch.macs):>8})  "
            f"params {arch.params:>12,} ({human(arch.params):>8})  {arch.reduced}/{len(space.sites)} reduced"
        )
    if space.reference is not None and space.block_names:
        lines += ["", "reference architecture per block:"]
        rows = space.block_costs(space.reference)
        name_width = max(len(name) for name, _, _ in rows)
        lines.append(f"{'block'.ljust(name_width)}  {'MACs':>15}  {'params':>12}")
        for name, macs, params in rows:
            lines.append(f"{name.ljust(name_width)}  {macs:>15,}  {params:>12,}")
    return "\n".join(lines)
