"""`TrialObserver`: what a running search tells the code around it, in one object."""

from __future__ import annotations

from collections.abc import Callable

from bottleneck_search.rundir.trial_log import TrialRecord


class TrialObserver:
    """Hooks that `BottleneckHyperModel` calls while a tuner runs its trials.

    Subclass it and override what you need; every hook does nothing by default. The search job
    uses one to print progress, honour a deferred Ctrl-C and keep a distributed worker's heartbeat.

    Example:

    ```python
    class PrintScores(TrialObserver):
        def trial_ended(self, record):
            print(record.trial_id, record.status, record.score)

    hypermodel = BottleneckHyperModel(space, observer=PrintScores())
    ```
    """

    def stop_requested(self) -> bool:
        """Polled before every build and at every training batch; True stops the search with
        `KeyboardInterrupt` at that point (where Keras Tuner's state is consistent)."""
        return False

    def training_started(self, trial_id: str | None) -> None:
        """`model.fit` of a trial is about to start."""

    def training_ended(self, trial_id: str | None) -> None:
        """`model.fit` of a trial returned or raised."""

    def trial_ended(self, record: TrialRecord) -> None:
        """A trial finished (completed, failed or infeasible) and `record` was written."""

    def progress(self, line: str) -> None:
        """A line about a trial in training: one per epoch once the trial has trained a few
        seconds (`training.fit.EpochProgress`)."""


class FunctionObserver(TrialObserver):
    """A `TrialObserver` made of two functions: `on_trial_end(record)` and `stop_requested()`.

    The search job's own observer is one; so can a caller's be.
    """

    def __init__(
        self,
        on_trial_end: Callable[[TrialRecord], None] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ):
        self._on_trial_end = on_trial_end
        self._stop_requested = stop_requested

    def stop_requested(self) -> bool:
        return self._stop_requested is not None and bool(self._stop_requested())

    def trial_ended(self, record: TrialRecord) -> None:
        if self._on_trial_end is not None:
            self._on_trial_end(record)
