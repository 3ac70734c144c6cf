"""`FlopPenalty`: validation accuracy and an architecture's MACs combined into one score.

| mode | score | default weight |
| --- | --- | --- |
| `soft` | `acc * (macs / target) ** w` (MnasNet's soft constraint) | `w = -0.07` |
| `hard` | `acc` if `macs <= target`, else `acc * (macs / target) ** w` (MnasNet's hard constraint) | `w = -1.0` |
| `linear` | `acc - w * macs / target` | `w = 0.1` |

A metric to minimise (a loss, MAE) is penalised the other way round: `value * (macs / target) **
-w` (soft, hard) or `value + w * macs / target` (linear), so more MACs always make a score worse.

The default target is the MACs of the space's reference architecture (the hand-designed widths,
e.g. GoogLeNet's paper widths): the search then looks for networks at least as good per MAC as
the design it starts from. A space without a reference uses its no-bottleneck architecture.
"""

from __future__ import annotations

import dataclasses
import math

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.training.task import direction_sign

# The tuner's objective: the epoch-log key `CostMetrics` writes the penalised score to.
OBJECTIVE = "val_score"
MODES = ("soft", "hard", "linear")
DEFAULT_WEIGHTS = {"soft": -0.07, "hard": -1.0, "linear": 0.1}
# The score of a rejected architecture when lower is better: a loss has no upper bound, so a
# finite value far above any a training reaches (JSON has no infinity).
UNTRAINED_MIN_SCORE = 1e30


@dataclasses.dataclass(frozen=True)
class FlopPenalty:
    """How MACs penalise accuracy.

    Attributes:
        mode: `"soft"`, `"hard"` or `"linear"` (see the module docstring).
        target_macs: the MACs at which the penalty is neutral (soft, hard) or one `weight` of
            accuracy (linear); None means "the space's default" (see `resolve`).
        weight: the exponent (soft, hard) or the slope (linear); None means the mode's default.

    Example:

    ```python
    penalty = FlopPenalty("soft", target_macs=5_000_000)
    penalty.score(0.9, 10_000_000)   # 0.9 * 2 ** -0.07 = 0.857
    ```
    """

    mode: str = "soft"
    target_macs: int | None = None
    weight: float | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise SearchConfigError(
                f"Unknown penalty mode '{self.mode}'; expected one of {', '.join(MODES)}."
            )
        if self.target_macs is not None and (
            not isinstance(self.target_macs, int | float) or self.target_macs <= 0
        ):
            raise SearchConfigError(
                f"target_macs must be a positive number. Received: {self.target_macs!r}."
            )
        if self.weight is not None and not math.isfinite(self.weight):
            raise SearchConfigError(f"weight must be a finite number. Received: {self.weight!r}.")

    @property
    def w(self) -> float:
        return DEFAULT_WEIGHTS[self.mode] if self.weight is None else self.weight

    def resolve(self, space) -> FlopPenalty:
        """This penalty with `target_macs` filled in from `space` when it is None."""
        if self.target_macs is not None:
            return self
        default = space.reference if space.reference is not None else space.no_bottleneck()
        return dataclasses.replace(self, target_macs=default.macs)

    def score(self, accuracy: float, macs: int, direction: str = "max") -> float:
        """The penalised score of an architecture with `macs` that reached `accuracy` (or any
        metric value; `direction="min"` for one where lower is better)."""
        if self.target_macs is None:
            raise SearchConfigError(
                "FlopPenalty.score() needs target_macs; call resolve(space) first."
            )
        ratio = macs / self.target_macs
        sign = direction_sign(direction)
        if self.mode == "soft":
            return accuracy * ratio ** (sign * self.w)
        if self.mode == "hard":
            return accuracy if ratio <= 1 else accuracy * ratio ** (sign * self.w)
        return accuracy - sign * self.w * ratio

    def floor(self, max_macs: int, direction: str = "max") -> float:
        """A score worse than that of any trained architecture up to `max_macs`, given to rejected
        ones: below any accuracy's, or (`direction="min"`) `UNTRAINED_MIN_SCORE`."""
        if direction == "min":
            return UNTRAINED_MIN_SCORE
        return min(0.0, self.score(0.0, max_macs)) - 1.0
