"""`JobContext`: what every step of a search job works from, passed as one object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bottleneck_search.data import Dataset
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.training.task import Task


@dataclasses.dataclass(frozen=True)
class JobContext:
    """A running search job's inputs and outlets.

    Attributes:
        config: the job's arguments.
        space: the space searched.
        task: what its architectures learn and how they are scored.
        data: the data, in the task's input range and label form.
        log: the run's trial log.
        emit: receives progress lines.
        stop_requested: polled during training; once true the job stops at a consistent point.
    """

    config: SearchConfig
    space: SearchSpace
    task: Task
    data: Dataset
    log: TrialLog
    emit: Callable[[str], None]
    stop_requested: Callable[[], bool] | None = None

    @property
    def run_dir(self) -> str:
        return self.config.run_dir
