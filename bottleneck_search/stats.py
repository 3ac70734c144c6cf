"""The uncertainty of the numbers a search reports: binomial intervals and seed spreads."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

Z_95 = 1.959963984540054


def wilson_interval(accuracy: float, examples: int, z: float = Z_95) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy measured on `examples` examples.

    It says how far the accuracy on unseen data of the same kind may lie from this one from the
    finite number of examples alone (not from the training seed; see `mean_and_std`).

    Example:

    ```python
    low, high = wilson_interval(0.9, 300)
    assert (round(low, 3), round(high, 3)) == (0.861, 0.929)
    ```
    """
    if examples <= 0:
        return 0.0, 1.0
    p = min(max(accuracy, 0.0), 1.0)
    denominator = 1 + z * z / examples
    centre = (p + z * z / (2 * examples)) / denominator
    half = z * math.sqrt(p * (1 - p) / examples + z * z / (4 * examples * examples)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def with_interval(accuracy: float, examples: int | None, digits: int = 3) -> str:
    """`0.912 [0.878, 0.937]`: an accuracy and its 95% Wilson interval (bare without a count)."""
    if not examples:
        return f"{accuracy:.{digits}f}"
    low, high = wilson_interval(accuracy, examples)
    return f"{accuracy:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def metric_text(name: str, value: float, examples: int | None, digits: int = 3) -> str:
    """A scoring metric for progress lines and tables: `val_acc 0.912 [0.878, 0.937]` for an
    accuracy (with its interval, see `with_interval`), else `val_mae 0.0421`."""
    if name == "val_accuracy":
        return f"val_acc {with_interval(value, examples, digits)}"
    return f"{name} {value:.{digits + 1}f}"


def interval_legend(examples: int | None) -> str:
    """One sentence saying what the bracketed intervals are."""
    if not examples:
        return "Accuracies are shown without intervals: the number of validation images is unknown."
    return (
        f"[low, high]: 95% Wilson interval of each validation accuracy from its {examples:,} "
        "validation images alone; trials whose intervals overlap are not told apart by this "
        "validation set, and seed-to-seed noise comes on top."
    )


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for a single value)."""
    values = list(values)
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def chance_ceiling(classes: int, examples: int, z: float = Z_95) -> float:
    """The highest validation accuracy guessing can reach by luck: the upper end of the 95%
    Wilson interval around `1 / classes` on `examples` examples.

    Example:

    ```python
    assert round(chance_ceiling(10, 305), 3) == 0.139
    ```
    """
    return wilson_interval(1 / classes, examples, z)[1]
