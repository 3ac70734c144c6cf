"""Ranking trials on two objectives, as NSGA-II does: non-dominated fronts of (quality up, cost
down), and crowding distance within a front. Pure Python, the package's one Pareto rule:
`EvolutionOracle` selects parents with it and the run directory's Pareto front
(`rundir.trial_log.nondominated`, so `pareto_front`, the report and confirmation) is its first
front. Of points equal on both objectives (the same architecture scored twice), the first is in
the front and the others one front behind it."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]  # (quality: higher is better, e.g. accuracy; cost: lower is better)


def dominates(a: Point, b: Point) -> bool:
    """Whether `a` is at least as good as `b` on both objectives and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def nondominated_fronts(points: Sequence[Point]) -> list[list[int]]:
    """The indices of `points` in successive non-dominated fronts, best front first.

    Example:

    ```python
    nondominated_fronts([(0.9, 10), (0.8, 5), (0.7, 8)])   # [[0, 1], [2]]
    ```
    """
    remaining = list(range(len(points)))
    fronts = []
    while remaining:
        front = [
            i
            for i in remaining
            if not any(
                dominates(points[j], points[i]) or (points[j] == points[i] and j < i)
                for j in remaining
                if j != i
            )
        ]
        fronts.append(front)
        remaining = [i for i in remaining if i not in front]
    return fronts


def crowding_distances(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each index of `front`: for each objective, the gap between
    its two neighbours in the front, as a share of the front's range, summed; the two ends of
    each objective get infinity, so a front's extremes are kept."""
    distance = dict.fromkeys(front, 0.0)
    if len(front) <= 2:
        return dict.fromkeys(front, math.inf)
    for objective in (0, 1):
        ordered = sorted(front, key=lambda i: points[i][objective])
        low, high = points[ordered[0]][objective], points[ordered[-1]][objective]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[here] += (points[after][objective] - points[before][objective]) / (high - low)
    return distance


def pareto_order(points: Sequence[Point]) -> list[tuple[int, float]]:
    """For each point, `(front, -crowding distance)`: smaller is better (a lower front, then a
    less crowded place in it)."""
    order: list[tuple[int, float]] = [(0, 0.0)] * len(points)
    for rank, front in enumerate(nondominated_fronts(points)):
        for index, distance in crowding_distances(points, front).items():
            order[index] = (rank, -distance)
    return order
