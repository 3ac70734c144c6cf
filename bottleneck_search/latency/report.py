"""`latency_of_model` and `latency_of_architecture`: a measured latency next to the model's MACs,
its peak activation memory and, for a space with a latency table, the closed-form prediction
(what `bottleneck-search latency` prints)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bottleneck_search.argument_validation import check_count
from bottleneck_search.errors import LatencyError
from bottleneck_search.flops import count_flops
from bottleneck_search.flops.memory import ActivationMemory, activation_memory
from bottleneck_search.latency.cache import cached_table, table_path
from bottleneck_search.latency.measure import (
    DEFAULT_REPEATS,
    Latency,
    check_settings,
    measure_latency,
)
from bottleneck_search.latency.table import LatencyTable

if TYPE_CHECKING:
    import keras

    from bottleneck_search.space.architecture import Architecture
    from bottleneck_search.space.search_space import SearchSpace


@dataclasses.dataclass(frozen=True)
class LatencyReport:
    """A model's measured latency and what explains it.

    Attributes:
        name: the model's (or space's) name; architecture: the space's architecture timed
            (None for a model file).
        latency: the measurement.
        macs, flops, params: per example (batch 1).
        memory: peak activation memory at the measurement's batch size.
        predicted_us: the latency table's prediction (None without a table).
        table: the table, when there is one.
    """

    name: str
    architecture: dict[str, int | None] | None
    latency: Latency
    macs: int
    flops: int
    params: int
    memory: ActivationMemory
    predicted_us: float | None = None
    table: LatencyTable | None = None

    def describe(self) -> str:
        latency = self.latency
        lines = [
            f"{self.name}: {latency.backend} backend, {latency.runtime} runtime, {latency.device}, "
            f"threads {latency.threads or 'default'}",
            f"batch {latency.batch_size}: {latency.describe()}",
            f"MACs {self.macs:,} per example; peak activation memory "
            f"{self.memory.peak_bytes / 2**20:.2f} MiB at batch {self.memory.batch_size} "
            f"(at {self.memory.peak_layer})",
        ]
        if self.predicted_us is not None:
            error = self.predicted_us / latency.median_us - 1
            lines.append(
                f"predicted by the latency table: {self.predicted_us / 1000:.3f} ms "
                f"({100 * error:+.1f}% against this measurement)"
            )
        if self.table is not None:
            lines += ["", self.table.describe()]
        return "\n".join(lines)

    def to_json(self, indent: int | None = 2) -> str:
        """The figures (the table's without its validation rows) as JSON text."""
        return json.dumps(self._record(), indent=indent)

    def _record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "latency": dataclasses.asdict(self.latency),
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "activation_memory": dataclasses.asdict(self.memory),
            "predicted_us": self.predicted_us,
            "table": _table_summary(self.table),
        }


def _table_summary(table: LatencyTable | None) -> dict | None:
    if table is None:
        return None
    summary = table.get_config()
    if summary.get("validation"):
        summary["validation"] = {k: v for k, v in summary["validation"].items() if k != "rows"}
    return summary


def latency_of_model(
    model: keras.Model,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    repeats: int = DEFAULT_REPEATS,
) -> LatencyReport:
    """Measures `model` as it is (see `measure_latency`), with its MACs and activation memory.

    Example:

    ```python
    print(latency_of_model(my_model, repeats=5).describe())
    ```
    """
    check_settings(batch_size, runtime, threads, repeats)
    report = count_flops(model)
    return LatencyReport(
        name=model.name,
        architecture=None,
        latency=measure_latency(model, batch_size, runtime, threads, repeats),
        macs=report.macs,
        flops=report.flops,
        params=report.params,
        memory=activation_memory(model, batch_size),
    )


def latency_of_architecture(
    space: SearchSpace,
    architecture: Architecture | None = None,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    repeats: int = DEFAULT_REPEATS,
    build_table: bool = False,
    validation: int = 10,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyReport:
    """Measures one architecture of `space` (default: no reduction), with the prediction of the
    space's cached latency table when there is one.

    Args:
        build_table: measure (and cache) the table when none is cached, validated on
            `validation` architectures.
        on_progress: called with a line per site while a table is built.
    """
    check_settings(batch_size, runtime, threads, repeats)
    check_count("validation", validation, least=0, error=LatencyError)
    table = cached_table(
        space, batch_size, runtime, threads, repeats, validation, build_table, on_progress
    )
    architecture = space.validate(architecture or space.no_bottleneck())
    model = space.build(architecture)
    if on_progress is not None and table is not None:
        on_progress(f"latency table: {table_path(space, batch_size, runtime, threads)}")
    return LatencyReport(
        name=space.name,
        architecture=architecture.widths,
        latency=measure_latency(model, batch_size, runtime, threads, repeats),
        macs=architecture.macs,
        flops=architecture.flops,
        params=architecture.params,
        memory=activation_memory(model, batch_size),
        predicted_us=table.predict_us(architecture) if table is not None else None,
        table=table,
    )
