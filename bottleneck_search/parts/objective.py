"""`SearchObjective`: what a search weighs accuracy against, and its hard budgets."""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_choice, check_count, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts.base import Part
from bottleneck_search.policy import COSTS, MODES


@dataclasses.dataclass(frozen=True)
class SearchObjective(Part):
    """What accuracy is weighed against (see `CostPenalty`), and what is never trained.

    Args:
        penalty: `soft`, `hard` or `linear`.
        target_macs: the penalty's target in MACs per image; the space's reference when None.
        max_macs: hard budget: architectures above it are never trained.
        cost: `macs`, or `latency` (predicted by the space's latency table, measured on this
            machine once and cached).
        target_latency: the penalty's target with `cost="latency"`, milliseconds per call (None:
            the reference's predicted latency).
        max_latency: hard budget, milliseconds per call predicted (with either cost).

    Raises:
        SearchConfigError: an argument out of range, or `target_latency` with `cost="macs"`.

    Example:

    ```python
    SearchObjective(penalty="soft", target_macs=5_000_000, max_macs=20_000_000)
    SearchObjective(cost="latency", max_latency=4.0)
    ```
    """

    penalty: str = "soft"
    target_macs: int | None = None
    max_macs: int | None = None
    cost: str = "macs"
    target_latency: float | None = None
    max_latency: float | None = None

    def __post_init__(self):
        check_choice("penalty", self.penalty, MODES)
        for name in ("target_macs", "max_macs"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        check_choice("cost", self.cost, COSTS)
        for name in ("target_latency", "max_latency"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), unit="milliseconds")
        if self.target_latency is not None and self.cost != "latency":
            raise SearchConfigError(
                "`target_latency` is the latency penalty's target; this search weighs MACs. Set "
                "cost='latency' or give target_macs instead. Received: "
                f"target_latency={self.target_latency!r}, cost={self.cost!r}.",
                argument="target_latency",
            )

    @property
    def uses_latency(self) -> bool:
        """Whether the search needs the space's latency table (a latency cost or budget)."""
        return self.cost == "latency" or self.max_latency is not None
