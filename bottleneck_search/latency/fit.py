"""`fit_terms`: the two terms that carry a latency table's entries into the whole network.

A table's entries are timed on each site's conv alone; a few whole architectures, timed beside
the base, say how much of those changes the network keeps (`scale`) and what each reduction
costs it beyond that (`per_reduction`, in microseconds: the launches of the reduction's layers,
where a call is bound by launches rather than arithmetic). See `latency.table`.

The second term is kept only where the fitted architectures show it is needed (leaving each
out predicts it better): fitted always, it fits a noisy machine's noise; where launches bind a
call (a GPU at batch 1), it is the whole effect. docs/latency.md has the measurements.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence


def fit_terms(points: Sequence[tuple[float, int, float]]) -> tuple[float, float]:
    """`(scale, per_reduction_us)` of `measured = scale * summed + per_reduction * reductions`
    for points `(summed changes, reductions, measured change)`, by least squares.

    `scale` alone is fitted first, through the origin and held at zero or above (timings too
    noisy to show the sign leave no site's change in the prediction, rather than turning them
    around); it is 1 when the points cannot decide it (none, or every sum zero). With 4 points
    or more, of two reduction counts or more (a cost per reduction cannot be told from a
    constant where every point has as many), both terms are fitted too (`scale` held at zero or
    above again: then `per_reduction` alone), and kept if they predict each point better when it
    is left out of the fit (the root mean square of those errors) than `scale` alone does: a
    second term on a few noisy points is otherwise as likely to fit their noise.
    `build_latency_table` also drops it where it would predict the space's fastest architecture
    to take no time.

    Example:

    ```python
    # Two architectures whose networks kept 0.8 of what their convs alone saved: too few points
    # to test a second term, so the scale alone.
    assert fit_terms([(-100.0, 2, -80.0), (-300.0, 3, -240.0)]) == (0.8, 0.0)
    ```
    """
    points = list(points)
    if len(points) < 4 or len({reductions for _, reductions, _ in points}) < 2:
        return fit_scale(points), 0.0

    def left_out_error(fit) -> float:
        errors = []
        for i, (summed, reductions, measured) in enumerate(points):
            scale, per_reduction = fit(points[:i] + points[i + 1 :])
            errors.append(scale * summed + per_reduction * reductions - measured)
        return math.sqrt(statistics.mean(e * e for e in errors))

    def scale_alone(chosen):
        return fit_scale(chosen), 0.0

    if left_out_error(_fit_both) < left_out_error(scale_alone):
        return _fit_both(points)
    return scale_alone(points)


def fit_inputs(
    fitted: Sequence[Mapping[str, int | None]], fit_points: Sequence[tuple[float, float]]
) -> list[tuple[float, int, float]]:
    """The points `fit_terms` takes, `(summed changes, reductions, measured change)`, from a
    table's fitted architectures (`{site: width or None}`) and their `(summed, measured)`."""
    return [
        (summed, sum(width is not None for width in widths.values()), measured)
        for widths, (summed, measured) in zip(fitted, fit_points, strict=True)
    ]


def fit_scale(points: Sequence[tuple[float, int, float]]) -> float:
    """The least-squares `scale` of `measured = scale * summed` alone, through the origin and
    held at zero or above, for points `(summed changes, reductions, measured change)`; 1 when
    the points cannot decide it (none, or every sum zero)."""
    denominator = sum(summed * summed for summed, _, _ in points)
    if denominator <= 0:
        return 1.0
    return max(0.0, sum(summed * measured for summed, _, measured in points) / denominator)


def _fit_both(points: Sequence[tuple[float, int, float]]) -> tuple[float, float]:
    """Least squares of both terms through the origin (the normal equations of two unknowns);
    `per_reduction` alone where `scale` would come out negative or the two cannot be told
    apart."""
    ss = sum(s * s for s, _, _ in points)
    sn = sum(s * n for s, n, _ in points)
    nn = sum(n * n for _, n, _ in points)
    sm = sum(s * m for s, _, m in points)
    nm = sum(n * m for _, n, m in points)
    determinant = ss * nn - sn * sn
    if determinant > 1e-9 * ss * nn:
        scale = (sm * nn - nm * sn) / determinant
        if scale >= 0:
            return scale, (nm * ss - sm * sn) / determinant
    return 0.0, nm / nn if nn else 0.0
