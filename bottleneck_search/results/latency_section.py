"""The report's "Latency on this machine" section: the recommended architecture timed side by side
with the network without reductions (or a compress run's original model), next to the MAC ratio
and both models' peak activation memory, so a reader sees what the MACs saved buy here."""

from __future__ import annotations

import statistics

from bottleneck_search.errors import LatencyError
from bottleneck_search.flops.memory import activation_memory
from bottleneck_search.latency.measure import (
    DEFAULT_WARMUP,
    check_settings,
    device_name,
    inference_call,
    random_batch,
    time_round_robin,
)

# Calls of each model the report times (after warm-up), in alternating blocks.
REPORT_REPEATS = 15


def latency_section(
    base_model, model, base_macs: int, macs: int, label: str, settings: dict, baseline: str
) -> list[str]:
    """Markdown lines comparing `model` (of `macs` MACs) with `base_model`, the run's
    architecture without reductions (of `base_macs`).

    Args:
        label: how the report names `chosen` (`recommended`, `best trial 7`).
        settings: the run's `latency_batch_size`, `latency_runtime` and `latency_threads` (a
            search's arguments; defaults: batch 1, keras, the runtime's threads).
        baseline: how the report names the architecture without reductions.
    """
    batch_size = settings.get("latency_batch_size") or 1
    runtime = settings.get("latency_runtime") or "keras"
    threads = settings.get("latency_threads")
    lines = ["## Latency on this machine", ""]
    try:
        check_settings(batch_size, runtime, threads)
        batch = random_batch(base_model, batch_size)
        base, reduced = time_round_robin(
            (
                inference_call(base_model, batch, runtime, threads),
                inference_call(model, batch, runtime, threads),
            ),
            REPORT_REPEATS,
            DEFAULT_WARMUP,
        )
    except LatencyError as error:
        return [*lines, f"Not measured: {error}", ""]
    rows = [
        (baseline, base_macs, base, activation_memory(base_model, batch_size)),
        (label, macs, reduced, activation_memory(model, batch_size)),
    ]
    lines += [
        f"Timed now, side by side ({REPORT_REPEATS} calls each in alternating blocks, after "
        f"{DEFAULT_WARMUP} warm-up calls): batch {batch_size}, {runtime} runtime, "
        f"{device_name(runtime)}, threads {threads or 'default'}. Median and 10-90% range.",
        "",
        "| architecture | MACs | ms per call | range | peak activation memory |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row_macs, seconds, memory in rows:
        deciles = statistics.quantiles(seconds, n=10)
        lines.append(
            f"| {name} | {row_macs:,} | {1000 * statistics.median(seconds):.3f} | "
            f"{1000 * deciles[0]:.3f}-{1000 * deciles[-1]:.3f} | "
            f"{memory.peak_bytes / 2**20:.2f} MiB |"
        )
    speed = statistics.median(base) / statistics.median(reduced)
    lines += [
        "",
        f"{base_macs / macs:.2f}x fewer MACs ran {speed:.2f}x as fast here. On small networks "
        "a call's fixed cost dominates and MACs buy little time; measure where the model will "
        "run (`bottleneck-search latency`).",
        "",
    ]
    return lines
