"""Analytic FLOP counter for Keras models: `count_flops`, its report and its registry."""

from bottleneck_search.flops.graph import count_flops
from bottleneck_search.flops.registry import (
    Cost,
    per_output_element,
    register_counter,
    unregister_counter,
)
from bottleneck_search.flops.report import FlopReport, LayerRow

__all__ = [
    "Cost",
    "FlopReport",
    "LayerRow",
    "count_flops",
    "per_output_element",
    "register_counter",
    "unregister_counter",
]
