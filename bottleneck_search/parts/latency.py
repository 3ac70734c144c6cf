"""`LatencySettings`: how a job's latency table measures."""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.limits import check_latency_settings
from bottleneck_search.parts.base import Part
from bottleneck_search.policy import RUNTIMES


@dataclasses.dataclass(frozen=True)
class LatencySettings(Part):
    """How a latency table (`bottleneck_search.latency`) measures, for a search that weighs or
    budgets latency and for `compress` to a latency budget.

    Args:
        batch_size: images per timed call.
        runtime: `keras` or `onnxruntime`.
        threads: the runtime's threads; None leaves the runtime's own choice.

    Raises:
        SearchConfigError: a value out of range (`limits.check_latency_settings`, the rule the
            measurement itself applies), or an unknown runtime.

    Example:

    ```python
    LatencySettings(batch_size=8, threads=2)
    ```
    """

    batch_size: int = 1
    runtime: str = "keras"
    threads: int | None = None

    def __post_init__(self):
        check_latency_settings(self.batch_size, self.threads)
        check_choice("runtime", self.runtime, RUNTIMES)
