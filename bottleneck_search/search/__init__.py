"""Search jobs: the FLOP-penalised objective, the hypermodel, stock tuners, data and the trial log."""

from bottleneck_search.search.data import Dataset, load_dataset
from bottleneck_search.search.hypermodel import BottleneckHyperModel, CostMetrics
from bottleneck_search.search.objective import FlopPenalty
from bottleneck_search.search.trial_log import TrialLog, TrialRecord
from bottleneck_search.search.tuners import make_tuner

__all__ = [
    "BottleneckHyperModel",
    "CostMetrics",
    "Dataset",
    "FlopPenalty",
    "TrialLog",
    "TrialRecord",
    "load_dataset",
    "make_tuner",
]
