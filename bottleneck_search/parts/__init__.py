"""The parts a job is assembled from, as Keras Tuner assembles a search from a hypermodel, an
oracle and a tuner: what is searched (`SpaceSource`), the data (`DataSource`), what is learned
(`TaskOverrides`), how a trial trains (`TrialTraining`), what accuracy is weighed against
(`SearchObjective`), who proposes trials (`Proposer`), where trials run (`TrainerProcesses`,
`Distribution`), how latency is measured (`LatencySettings`) and the confirmation stage
(`Confirmation`).

Each part is a small frozen dataclass that checks its own arguments when made (one check each,
`argument_validation`) and round-trips through `get_config` / `from_config`. `SearchConfig` and
`CompressConfig` hold them.
"""

from bottleneck_search.parts.base import Part
from bottleneck_search.parts.data_source import DataSource
from bottleneck_search.parts.execution import Distribution, TrainerProcesses
from bottleneck_search.parts.latency import LatencySettings
from bottleneck_search.parts.objective import SearchObjective
from bottleneck_search.parts.proposer import Proposer
from bottleneck_search.parts.space_source import SpaceSource
from bottleneck_search.parts.training import Confirmation, TaskOverrides, TrialTraining

__all__ = [
    "Confirmation",
    "DataSource",
    "Distribution",
    "LatencySettings",
    "Part",
    "Proposer",
    "SearchObjective",
    "SpaceSource",
    "TaskOverrides",
    "TrainerProcesses",
    "TrialTraining",
]
