"""The accuracy-vs-cost Pareto front of a set of trials (MACs, or predicted latency)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from bottleneck_search.rundir.files import TRIAL_LOG
from bottleneck_search.rundir.run import Run, load_run
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, nondominated


def pareto_front(run, cost: str | None = None) -> list[TrialRecord]:
    """The completed trials no other completed trial dominates, sorted by cost (ascending).

    Args:
        run: a run directory, a Keras Tuner tuner made by `make_tuner` (its project directory
            holds the trial log), a `Run`, or an iterable of `TrialRecord`s.
        cost: `macs` or `latency` (the predicted latency the trials recorded); None: the cost
            a run directory's search used, else `macs`.

    A trial dominates another if it has at most its cost and at least its validation accuracy,
    and is strictly better in one of the two. Failed and infeasible trials are ignored. Of trials
    tied on both MACs and accuracy (e.g. the same architecture twice) the first is kept.

    Example:

    ```python
    for record in pareto_front(TrialLog(f"{run_dir}/trials.jsonl").read()):
        print(record.macs, record.val_accuracy)
    ```
    """
    records = _records(run)
    if cost is None:
        cost = records.cost if isinstance(records, Run) else "macs"
    return nondominated(records.records if isinstance(records, Run) else records, cost)


def _records(run) -> Iterable[TrialRecord] | Run:
    if isinstance(run, str | os.PathLike) or (
        isinstance(run, list | tuple) and run and isinstance(run[0], str | os.PathLike)
    ):
        return load_run(run)
    if isinstance(run, Run):
        return run
    project_dir = getattr(run, "project_dir", None)
    if project_dir is not None:
        return TrialLog(os.path.join(project_dir, TRIAL_LOG)).read()
    return run
