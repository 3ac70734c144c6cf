"""`space_summary`: a search space described for people (the `space` command's output)."""

from __future__ import annotations

from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.flops import count_flops
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


def sites_table(space: SearchSpace) -> str:
    """A text table of a space's sites and their choices, and the convs passed over by reason."""
    rows = [("site", "kernel", "in -> out", "input size", "widths", "reference")]
    for s in space.sites:
        rows.append(
            (
                s.name,
                "x".join(map(str, s.kernel_size)),
                f"{s.in_channels} -> {s.out_channels}",
                "x".join(map(str, s.input_size)),
                ",".join(map(str, s.widths)),
                "-" if s.reference is None else str(s.reference),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    passed_over = space.source.get("passed_over")
    if passed_over:
        counts = ", ".join(f"{n} {reason}" for reason, n in passed_over.items())
        lines.append(f"convs passed over: {counts} (docs/spaces.md, 'Your own model')")
    return "\n".join(lines)


def block_costs(space: SearchSpace, architecture) -> list[tuple[str, int, int]]:
    """`(block, macs, params)` per block of a YAML space for one architecture (builds it once).

    A layer belongs to the block whose name is its longest `<block>` or `<block>_...` prefix;
    the classifier is the block `predictions`.
    """
    if not space.block_names:
        raise SearchSpaceError(
            f"Space '{space.name}' has no blocks (it was not made from a YAML spec)."
        )
    blocks = (*space.block_names, "predictions")

    def block_of(layer_name: str) -> str:  # blocks name their layers `<block>` or `<block>_...`
        owners = [b for b in blocks if layer_name == b or layer_name.startswith(f"{b}_")]
        return max(owners, key=len) if owners else "predictions"

    totals = count_flops(space.build(architecture)).by_module(block_of)
    empty = {"macs": 0, "params": 0}
    return [(b, totals.get(b, empty)["macs"], totals.get(b, empty)["params"]) for b in blocks]
