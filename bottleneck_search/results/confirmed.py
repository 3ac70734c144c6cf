"""What the confirmation runs say: each architecture's mean and spread over seeds, and the
architecture to recommend.

The recommendation is made on confirmed validation means (the test split only reports). Two
architectures are told apart only when their means differ by more than the noise margin: twice
the standard error of a difference of two `n`-seed means, from the standard deviation pooled over
every confirmed architecture, `2 * s * sqrt(2 / n)` (about a 95% bound). Every architecture
within that margin of the best is tied with it, and the recommendation is the cheapest of the tied
ones: ties are an answer, and usually the one that matters.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

from bottleneck_search.flops.report import human
from bottleneck_search.rundir.confirmations import (
    NO_BOTTLENECK,
    ConfirmationRecord,
    by_architecture,
)
from bottleneck_search.space.architecture import short_form
from bottleneck_search.stats import mean_and_std
from bottleneck_search.training.task import direction_sign


@dataclasses.dataclass(frozen=True)
class ConfirmedArchitecture:
    """One architecture over its confirmation runs (means and sample standard deviations)."""

    architecture: dict[str, int | None]
    labels: tuple[str, ...]
    macs: int
    params: int
    seeds: int
    val_mean: float
    val_std: float
    test_mean: float
    test_std: float
    trial_id: str | None
    best_run: ConfirmationRecord  # the seed with the best validation score (its weights export)
    metric: str | None = None  # the scoring metric when not an accuracy (`val_mae`)
    direction: str = "max"

    @property
    def sign(self) -> int:
        """+1 when higher means are better, -1 when lower are (a loss, MAE)."""
        return direction_sign(self.direction)

    @classmethod
    def of(cls, records: list[ConfirmationRecord]) -> ConfirmedArchitecture:
        val_mean, val_std = mean_and_std([r.val_accuracy for r in records])
        test_mean, test_std = mean_and_std([r.test_accuracy for r in records])
        first = records[0]
        return cls(
            architecture=first.architecture,
            labels=tuple(dict.fromkeys(label for r in records for label in r.labels)),
            macs=first.macs,
            params=first.params,
            seeds=len(records),
            val_mean=val_mean,
            val_std=val_std,
            test_mean=test_mean,
            test_std=test_std,
            trial_id=next((r.trial_id for r in records if r.trial_id), None),
            best_run=max(
                records, key=lambda r: (direction_sign(r.direction) * r.val_accuracy, -r.seed)
            ),
            metric=first.metric,
            direction=first.direction,
        )


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """The confirmed architectures, the noise margin, and the recommendation.

    Attributes:
        rows: one per architecture, by MACs.
        margin: the noise margin of a difference of two validation means.
        recommended: the cheapest architecture tied with the best validation mean.
        tied: every architecture tied with the best, cheapest first.
        baseline: the no-bottleneck architecture, when confirmed.
    """

    rows: tuple[ConfirmedArchitecture, ...]
    margin: float
    recommended: ConfirmedArchitecture
    tied: tuple[ConfirmedArchitecture, ...]
    baseline: ConfirmedArchitecture | None

    def sentences(self) -> list[str]:
        """The findings in words: ties, the recommendation, and how it compares with the baseline."""
        best = max(self.rows, key=lambda row: row.sign * row.val_mean)
        chosen = self.recommended
        unit = _Units(chosen.metric)
        lines = []
        if len(self.tied) > 1:
            saving = 1 - chosen.macs / max(row.macs for row in self.tied)
            lines.append(
                f"These {len(self.tied)} architectures are indistinguishable at this budget (their "
                f"validation means are within the noise margin, {unit(self.margin)}, of "
                f"the best); the cheapest saves {saving:.0%} of MACs against the most expensive "
                "of them."
            )
        else:
            lines.append(
                f"The best validation mean is ahead of every other architecture by more than the "
                f"noise margin ({unit(self.margin)})."
            )
        lines.append(
            f"Recommended: [{short_form(chosen.architecture)}], {human(chosen.macs)} MACs, "
            f"{unit.validation} {_pm(chosen.val_mean, chosen.val_std)}, test "
            f"{_pm(chosen.test_mean, chosen.test_std)} over {chosen.seeds} seeds"
            + ("." if chosen is best else f" (the best mean is {best.val_mean:.4f}).")
        )
        base = self.baseline
        if base is not None and base is not chosen:
            difference = chosen.val_mean - base.val_mean
            verdict = (
                "within the seed noise: no measurable loss"
                if abs(difference) <= self.margin
                else ("a real gain" if chosen.sign * difference > 0 else "a real loss")
            )
            lines.append(
                f"Against no bottleneck ({human(base.macs)} MACs, {unit.validation} "
                f"{_pm(base.val_mean, base.val_std)}): {base.macs / chosen.macs:.2f}x fewer MACs, "
                f"{unit.validation} {unit(difference, signed=True)} ({verdict}; margin "
                f"{unit(self.margin)}), test {unit(chosen.test_mean - base.test_mean, signed=True)}."
            )
        return lines


def summarise(records: list[ConfirmationRecord]) -> Confirmation | None:
    """The `Confirmation` of a run's confirmation records, or None when there are none."""
    groups = by_architecture(records)
    if not groups:
        return None
    rows = sorted(
        (ConfirmedArchitecture.of(group) for group in groups.values()), key=lambda r: r.macs
    )
    margin = noise_margin(rows)
    sign = rows[0].sign
    best = max(sign * row.val_mean for row in rows)
    tied = tuple(row for row in rows if best - sign * row.val_mean <= margin)
    baseline = next((row for row in rows if NO_BOTTLENECK in row.labels), None)
    return Confirmation(tuple(rows), margin, tied[0], tied, baseline)


def noise_margin(rows: list[ConfirmedArchitecture]) -> float:
    """`2 * pooled std * sqrt(2 / seeds)`: the noise bound on a difference of two means."""
    spread = [row for row in rows if row.seeds > 1]
    if not spread:
        return 0.0
    pooled = math.sqrt(
        sum((row.seeds - 1) * row.val_std**2 for row in spread)
        / sum(row.seeds - 1 for row in spread)
    )
    seeds = statistics.median(row.seeds for row in spread)
    return 2 * pooled * math.sqrt(2 / seeds)


def table(confirmation: Confirmation, base_macs: int) -> list[str]:
    """The confirmed architectures as Markdown rows, with their MAC ratio to no bottleneck."""
    lines = [
        "| architecture | confirmed as | MACs | params | x fewer MACs | seeds | validation mean ± std | test mean ± std |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in confirmation.rows:
        mark = " **(recommended)**" if row is confirmation.recommended else ""
        lines.append(
            f"| `{short_form(row.architecture)}`{mark} | {', '.join(row.labels)} | {row.macs:,} | "
            f"{row.params:,} | {base_macs / row.macs:.2f} | {row.seeds} | "
            f"{_pm(row.val_mean, row.val_std)} | {_pm(row.test_mean, row.test_std)} |"
        )
    return lines


class _Units:
    """How differences of the scoring metric are written: accuracy in points (x100), another
    metric (`val_mae`) in its own units."""

    def __init__(self, metric: str | None):
        self.metric = metric
        self.validation = "validation" if metric is None else metric

    def __call__(self, value: float, signed: bool = False) -> str:
        sign = "+" if signed else ""
        if self.metric is None:
            return f"{value * 100:{sign}.2f} points"
        return f"{value:{sign}.4f}"


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"
