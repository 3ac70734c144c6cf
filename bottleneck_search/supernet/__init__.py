"""One-shot search: a weight-sharing supernet over a `SearchSpace` that scores any architecture
without training it."""

from bottleneck_search.supernet.layer import SupernetSite
from bottleneck_search.supernet.supernet import SubnetEvaluation, Supernet

__all__ = ["Supernet", "SubnetEvaluation", "SupernetSite"]
