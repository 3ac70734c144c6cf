"""Choosing widths for every site under a MAC (or latency) budget from a sensitivity table.

Both costs are treated as sums over sites: MACs exactly (latency as its table predicts it) (a reduction changes its own site's cost
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
    space: SearchSpace, table: SensitivityTable, budget: float, count: int, cost: str = "macs"
) -> list[Architecture]:
    """Up to `count` architectures within `budget`, least estimated accuracy drop first.

    Args:
        space: the warm-started space the table was measured on (with `cost="latency"`, with
            its latency table attached, `SearchSpace.with_latency`).
        table: its `SensitivityTable`.
        budget: MACs per image, or with `cost="latency"` predicted microseconds per call.
        count: how many candidates.
        cost: `macs` or `latency`: both are sums of per-site changes (`latency.table`).

    Raises:
        SearchConfigError: the budget is below the space's cheapest (fastest) architecture.
    """
    check_budget(space, budget, cost)
    latency = space.latency_table

    def change(site, width, saved) -> float:
        return -saved.get(width, 0) if cost == "macs" else latency.change_us(site.name, width)

    start = space.no_bottleneck().macs if cost == "macs" else latency.base_us
    # (cost, estimated drop, choices so far)
    partial: list[tuple[float, float, tuple]] = [(start, 0.0, ())]
    for site in space.sites:
        saved = {row.width: row.macs_saved for row in table.rows if row.site == site.name}
        grown = [
            (
                value + change(site, width, saved),
                drop + table.drop(site.name, width),
                (*choices, width),
            )
            for value, drop, choices in partial
            for width in site.choices
        ]
        partial = _thinned(_pareto_layers(grown, count))
    # Every site's change is the closed form's own, so the sum agrees with it; the budget is
    # checked on the space's own figure all the same.
    names = [site.name for site in space.sites]
    within = [
        space.validate(dict(zip(names, choices, strict=True)))
        for value, _, choices in sorted(partial, key=lambda p: (p[1], p[0]))
        if value <= budget
    ]
    return [a for a in within if cost_of(a, cost) <= budget][:count]


def cost_of(architecture: Architecture, cost: str) -> float:
    """An architecture's MACs, or its predicted latency."""
    return architecture.macs if cost == "macs" else architecture.latency_us


def check_budget(space: SearchSpace, max_macs: float, cost: str = "macs") -> None:
    """Refuses a budget below the space's cheapest (with `cost="latency"`: fastest)
    architecture.

    Raises:
        SearchConfigError: naming the budget, the cheapest architecture's cost and what to change.
    """
    if cost == "latency":
        fastest = space.fastest().latency_us
        if max_macs < fastest:
            raise SearchConfigError(
                f"The latency budget {max_macs / 1000:.3f} ms is below the fastest architecture "
                f"of '{space.name}' ({fastest / 1000:.3f} ms predicted by its latency table); "
                "raise --max-latency, lower --latency-ratio, or offer narrower --widths."
            )
        return
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
