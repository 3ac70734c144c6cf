"""Data sets for search jobs: `load_dataset` and the `Dataset` it returns."""

from bottleneck_search.data.dataset import Dataset
from bottleneck_search.data.sources import VALID_FORMS, load_dataset

__all__ = ["VALID_FORMS", "Dataset", "load_dataset"]
