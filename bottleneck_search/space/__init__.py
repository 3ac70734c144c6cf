"""Search spaces: sites, architectures, YAML backbones, model rewriting and the Keras Tuner face."""

from bottleneck_search.space.apply import apply_bottlenecks
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.hyperparameters import (
    architecture_from_hp,
    architecture_to_hp,
    bottleneck_conv,
)
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.site import ReductionOptions, Site

__all__ = [
    "Architecture",
    "ReductionOptions",
    "SearchSpace",
    "Site",
    "apply_bottlenecks",
    "architecture_from_hp",
    "architecture_to_hp",
    "bottleneck_conv",
]
