"""Measured inference latency: one model timed on this machine (`measure_latency`), and a
space's latency in closed form (`LatencyTable`, built once per space, runtime, batch size,
threads and machine, and cached)."""

from bottleneck_search.latency.cache import cached_table
from bottleneck_search.latency.measure import RUNTIMES, Latency, measure_latency
from bottleneck_search.latency.table import LatencyTable, build_latency_table
from bottleneck_search.latency.validation import validate_table

__all__ = [
    "RUNTIMES",
    "Latency",
    "LatencyTable",
    "build_latency_table",
    "cached_table",
    "measure_latency",
    "validate_table",
]
