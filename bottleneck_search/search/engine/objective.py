"""`CostPenalty`: validation accuracy and an architecture's MACs combined into one score.

| mode | score | default weight |
| --- | --- | --- |
| `soft` | `acc * (macs / target) ** w` (MnasNet's soft constraint) | `w = -0.07` |
| `hard` | `acc` if `macs <= target`, else `acc * (macs / target) ** w` (MnasNet's hard constraint) | `w = -1.0` |
| `linear` | `acc - w * macs / target` | `w = 0.1` |

A metric to minimise (a loss, MAE) is penalised the other way round: `value * (macs / target) **
-w` (soft, hard) or `value + w * macs / target` (linear), so more MACs always make a score worse.

The cost is MACs (`cost="macs"`, the default) or the latency a space's latency table predicts
(`cost="latency"`, microseconds; `SearchSpace.with_latency`); `target_macs` or
`target_latency_us` is the target in that unit.

The default target is the cost of the space's reference architecture (the hand-designed widths,
e.g. GoogLeNet's paper widths): the search then looks for networks at least as good per MAC as
the design it starts from. A space without a reference uses its no-bottleneck architecture.
"""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_choice, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.policy import COSTS, MODES
from bottleneck_search.training.task import direction_sign

# The tuner's objective: the epoch-log key `CostMetrics` writes the penalised score to.
OBJECTIVE = "val_score"
DEFAULT_WEIGHTS = {"soft": -0.07, "hard": -1.0, "linear": 0.1}
# The score of a rejected architecture when lower is better: a loss has no upper bound, so a
# finite value far above any a training reaches (JSON has no infinity).
UNTRAINED_MIN_SCORE = 1e30


@dataclasses.dataclass(frozen=True)
class CostPenalty:
    """How an architecture's cost (MACs, or predicted latency) penalises accuracy.

    Attributes:
        mode: `"soft"`, `"hard"` or `"linear"` (see the module docstring).
        target_macs: the MACs at which the penalty is neutral (soft, hard) or one `weight` of
            accuracy (linear); None means "the space's default" (see `resolve`).
        weight: the exponent (soft, hard) or the slope (linear); None means the mode's default.
        cost: `"macs"` or `"latency"` (the space's predicted microseconds per call).
        target_latency_us: with `cost="latency"`, the target in microseconds (None: the
            space's default).

    Example:

    ```python
    penalty = CostPenalty("soft", target_macs=5_000_000)
    penalty.score(0.9, 10_000_000)   # 0.9 * 2 ** -0.07 = 0.857
    ```
    """

    mode: str = "soft"
    target_macs: int | None = None
    weight: float | None = None
    cost: str = "macs"
    target_latency_us: float | None = None

    def __post_init__(self):
        check_choice("mode", self.mode, MODES)
        if self.target_macs is not None:
            check_number("target_macs", self.target_macs)
        check_choice("cost", self.cost, COSTS)
        if self.target_latency_us is not None:
            check_number("target_latency_us", self.target_latency_us, unit="microseconds")
        if self.weight is not None:
            check_number("weight", self.weight, above=None)

    @property
    def w(self) -> float:
        return DEFAULT_WEIGHTS[self.mode] if self.weight is None else self.weight

    @property
    def target(self) -> float | None:
        """The target in the cost's unit (MACs, or microseconds)."""
        return self.target_macs if self.cost == "macs" else self.target_latency_us

    def resolve(self, space) -> CostPenalty:
        """This penalty with its target filled in from `space` (a `SearchSpace`, or a
        `UserBuild`: its default model) when it is None."""
        if self.target is not None:
            return self
        default = space.reference if space.reference is not None else space.no_bottleneck()
        if self.cost == "macs":
            return dataclasses.replace(self, target_macs=default.macs)
        return dataclasses.replace(self, target_latency_us=self.cost_of(default))

    def cost_of(self, architecture) -> float:
        """The architecture's cost in this penalty's unit: its MACs, or its predicted latency.

        Raises:
            SearchConfigError: `cost="latency"` for an architecture of a space without a
                latency table.
        """
        if self.cost == "macs":
            return architecture.macs
        if architecture.latency_us is None:
            raise SearchConfigError(
                "cost='latency' needs the space's latency table: pass space.with_latency(table) "
                "(bottleneck_search.latency.cached_table builds one)."
            )
        return architecture.latency_us

    def score_of(self, accuracy: float, architecture, direction: str = "max") -> float:
        """`score(accuracy, cost_of(architecture), direction)`."""
        return self.score(accuracy, self.cost_of(architecture), direction)

    def score(self, accuracy: float, macs: float, direction: str = "max") -> float:
        """The penalised score of an architecture of cost `macs` (in the cost's unit) that
        reached `accuracy` (or any metric value; `direction="min"` for one where lower is
        better)."""
        if self.target is None:
            raise SearchConfigError(
                "CostPenalty.score() needs its target; call resolve(space) first."
            )
        ratio = macs / self.target
        sign = direction_sign(direction)
        if self.mode == "soft":
            return accuracy * ratio ** (sign * self.w)
        if self.mode == "hard":
            return accuracy if ratio <= 1 else accuracy * ratio ** (sign * self.w)
        return accuracy - sign * self.w * ratio

    def floor(self, max_macs: float, direction: str = "max") -> float:
        """A score worse than that of any trained architecture up to cost `max_macs`, given to rejected
        ones: below any accuracy's, or (`direction="min"`) `UNTRAINED_MIN_SCORE`."""
        if direction == "min":
            return UNTRAINED_MIN_SCORE
        return min(0.0, self.score(0.0, max_macs)) - 1.0


def most_costly(space, cost: str = "macs"):
    """The architecture of `space` with the highest `cost` (`macs` or `latency`)."""
    return space.most_expensive() if cost == "macs" else space.slowest()


def check_budgets(space, max_macs: int | None, max_latency_us: float | None) -> None:
    """Refuses hard budgets no architecture of `space` meets, before anything trains.

    Raises:
        SearchConfigError: a budget below the cheapest (fastest) architecture, or a latency
            budget for a space without a latency table.
    """
    if max_macs is not None:
        cheapest = space.cheapest().macs
        if max_macs < cheapest:
            raise SearchConfigError(
                f"max_macs={max_macs:,} is below the cheapest architecture of space "
                f"'{space.name}' ({cheapest:,} MACs), so nothing could be trained. Raise it to "
                f"at least {cheapest:,}."
            )
    if max_latency_us is not None:
        if space.latency_table is None:
            raise SearchConfigError(
                "max_latency_us needs the space's latency table: pass space.with_latency(table)."
            )
        fastest = space.fastest().latency_us
        if max_latency_us < fastest:
            raise SearchConfigError(
                f"max latency {max_latency_us / 1000:.3f} ms is below the fastest architecture "
                f"of space '{space.name}' ({fastest / 1000:.3f} ms predicted by its latency "
                f"table), so nothing could be trained. Raise it to at least "
                f"{fastest / 1000:.3f} ms."
            )


def over_budget(architecture, max_macs: int | None, max_latency_us: float | None) -> str | None:
    """Why `architecture` exceeds a hard budget, or None when it meets them."""
    if max_macs is not None and architecture.macs > max_macs:
        return f"{architecture.macs:,} MACs exceed max_macs={max_macs:,}"
    latency = architecture.latency_us
    if max_latency_us is not None and latency is not None and latency > max_latency_us:
        return (
            f"{latency / 1000:.3f} ms predicted exceeds the max latency "
            f"{max_latency_us / 1000:.3f} ms"
        )
    return None
