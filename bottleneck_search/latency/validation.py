"""`validate_table`: how well a latency table predicts architectures it was not built from."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bottleneck_search.latency.table import Bench, LatencyTable, unseen_architectures

if TYPE_CHECKING:
    from bottleneck_search.space.architecture import Architecture
    from bottleneck_search.space.search_space import SearchSpace

# Validation figures: predictions within this relative error count as "within".
TOLERANCE = 0.10


def validate_table(
    table: LatencyTable,
    space: SearchSpace,
    architectures: int | Sequence[Architecture] = 10,
    seed: int = 1,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyTable:
    """The table with the validation of its prediction on architectures it was not built from.

    Each architecture is timed side by side with the base network. Two errors are kept: against
    the architecture's measured latency (what a user sees), and against the same measurement
    with the prediction scaled by how much slower or faster the base measured beside it ran
    than the table's base (so the machine's own drift since the table was built, which no table
    can know, is left out). The drift is taken as a factor, not an offset: a busy host slows
    every layer of a call alike (docs/latency.md compares it with an offset).

    Args:
        table: a table of `space`.
        architectures: how many random architectures to draw (with two reductions or more, so
            none is a table entry), or the architectures themselves.
        seed: the draw's seed (the build's fit uses 0).
        on_progress: called with a line per architecture timed.

    Returns:
        A copy of `table` whose `validation` holds `architectures`, `rmspe` and `within` (the
        share within `TOLERANCE`), `rmspe_paired` and `within_paired` (drift left out),
        `base_within` (the share of rows whose base, timed beside the architecture, is within
        `TOLERANCE` of the table's base: how far this machine's own spread lets any prediction
        go), `tolerance` and one row per architecture (`architecture`, `macs`, `predicted_us`,
        `measured_us`, `base_us`: the base timed beside it).

    Example:

    ```python
    tiny = SearchSpace.from_yaml(tiny_space)
    table = validate_table(build_latency_table(tiny, repeats=3, fit=0), tiny, architectures=2)
    assert len(table.validation["rows"]) == 2 and 0 <= table.validation["within"] <= 1
    ```
    """
    settings = table.settings
    used = [tuple(widths.items()) for widths in table.fitted]
    chosen = (
        unseen_architectures(space, architectures, seed, exclude=used)
        if isinstance(architectures, int)
        else list(architectures)
    )
    bench = Bench(
        space, settings["batch_size"], settings["runtime"], settings["threads"], settings["repeats"]
    )
    rows = []
    for number, architecture in enumerate(chosen, start=1):
        base, (measured,) = bench.beside_base([architecture.widths])
        predicted = table.predict_us(architecture)
        rows.append(
            {
                "architecture": architecture.widths,
                "macs": architecture.macs,
                "predicted_us": predicted,
                "measured_us": measured,
                "base_us": base,
            }
        )
        if on_progress is not None:
            on_progress(
                f"latency validation {number}/{len(chosen)}: predicted {predicted / 1000:.3f} ms, "
                f"measured {measured / 1000:.3f} ms (base beside it {base / 1000:.3f} ms)"
            )
    errors = [r["predicted_us"] / r["measured_us"] - 1 for r in rows]
    paired = [drift_left_out(table, row) for row in rows]
    base_errors = [row["base_us"] / table.base_us - 1 for row in rows]
    validation = {
        "architectures": len(rows),
        **error_summary(errors, ""),
        **error_summary(paired, "_paired"),
        "base_within": error_summary(base_errors, "")["within"],
        "tolerance": TOLERANCE,
        "rows": rows,
    }
    return dataclasses.replace(table, validation=validation)


def drift_left_out(table: LatencyTable, row: dict) -> float:
    """A validation row's relative error with the machine's drift left out: the prediction
    scaled by the base timed beside the architecture over the table's base."""
    return row["predicted_us"] * row["base_us"] / table.base_us / row["measured_us"] - 1


def error_summary(errors: Sequence[float], suffix: str) -> dict[str, float]:
    """`rmspe{suffix}` and `within{suffix}` (the share within `TOLERANCE`) of relative errors
    `predicted / measured - 1`; both 0 for none."""
    if not errors:
        return {f"rmspe{suffix}": 0.0, f"within{suffix}": 0.0}
    return {
        f"rmspe{suffix}": math.sqrt(statistics.mean(e * e for e in errors)),
        f"within{suffix}": sum(abs(e) <= TOLERANCE for e in errors) / len(errors),
    }
