"""Choosing widths for every site under a MAC budget from a sensitivity table.

Both costs are treated as sums over sites: MACs exactly (a reduction changes its own site's cost
only), accuracy approximately (the drop of an architecture is estimated as the sum of its sites'
drops measured alone). Minimising the estimated drop under the budget is then a multiple-choice
knapsack, solved by dynamic programming over the sites that keeps, after each site, only the
partial choices that at most `count - 1` others beat on both MACs and estimated drop (the first
`count` Pareto layers): a partial choice beaten by `count` others can only lead to architectures
that `count` others beat, so the `count` best architectures within the budget are kept exactly.

The additive estimate ignores how reductions interact, so the compress job scores the candidates
again with all their reductions together (warm-started, `Supernet.evaluate`) before fine-tuning.
"""

from __future__ import annotations

from bottleneck_search.compress.sensitivity import SensitivityTable
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace

# Partial choices kept per site at most; beyond it the Pareto set is thinned evenly along MACs.
# Exact for every space this package ships and for models of a few dozen sites.
MAX_PARETO_POINTS = 4096


def allocate(
    space: SearchSpace, table: SensitivityTable, max_macs: int, count: int
) -> list[Architecture]:
    """Up to `count` architectures within `max_macs`, least estimated accuracy drop first.

    Args:
        space: the warm-started space the table was measured on.
        table: its `SensitivityTable`.
        max_macs: the budget, MACs per image.
        count: how many candidates.

    Raises:
        SearchConfigError: the budget is below the space's cheapest architecture.
    """
    check_budget(space, max_macs)
    unreduced = space.no_bottleneck()
    # (MACs, estimated drop, choices so far)
    partial: list[tuple[int, float, tuple]] = [(unreduced.macs, 0.0, ())]
    for site in space.sites:
        saved = {row.width: row.macs_saved for row in table.rows if row.site == site.name}
        grown = [
            (macs - saved.get(width, 0), drop + table.drop(site.name, width), (*choices, width))
            for macs, drop, choices in partial
            for width in site.choices
        ]
        partial = _thinned(_pareto_layers(grown, count))
    # Every site's MAC change is exact, so the closed form agrees with the sum; the budget is
    # checked on the space's own count all the same.
    names = [site.name for site in space.sites]
    within = [
        space.validate(dict(zip(names, choices, strict=True)))
        for macs, _, choices in sorted(partial, key=lambda p: (p[1], p[0]))
        if macs <= max_macs
    ]
    return [a for a in within if a.macs <= max_macs][:count]


def check_budget(space: SearchSpace, max_macs: int) -> None:
    """Refuses a budget below the space's cheapest architecture.

    Raises:
        SearchConfigError: naming the budget, the cheapest architecture's MACs and what to change.
    """
    cheapest = space.cheapest()
    if max_macs < cheapest.macs:
        raise SearchConfigError(
            f"The MAC budget {max_macs:,} is below the cheapest architecture of "
            f"'{space.name}' ({cheapest.macs:,} MACs, every site at its narrowest useful width); "
            "raise --max-macs, lower --macs-ratio, or offer narrower --widths."
        )


def _pareto_layers(points: list, layers: int) -> list:
    """The points in the first `layers` Pareto fronts (fewer MACs, smaller drop), peeled in turn."""
    kept, rest = [], sorted(points, key=lambda p: (p[0], p[1]))
    for _ in range(layers):
        front, behind, best_drop = [], [], float("inf")
        for point in rest:
            (front if point[1] < best_drop else behind).append(point)
            best_drop = min(best_drop, point[1])
        kept += front
        rest = behind
        if not rest:
            break
    return kept


def _thinned(front: list) -> list:
    if len(front) <= MAX_PARETO_POINTS:
        return front
    step = len(front) / MAX_PARETO_POINTS
    return [front[int(i * step)] for i in range(MAX_PARETO_POINTS)]
