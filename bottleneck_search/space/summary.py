"""`space_summary`: a search space described for people (the `space` command's output)."""

from __future__ import annotations

from bottleneck_search.flops.report import human
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace


def space_summary(space: SearchSpace, architecture: Architecture | None = None) -> str:
    """Sites, their choices, the number of architectures, and the cost of notable architectures.

    Example:

    ```python
    print(space_summary(SearchSpace.from_yaml("search_spaces/inception_mini.yaml")))
    ```
    """
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
