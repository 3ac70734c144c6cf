"""Why a search stopped before its budget, told in our errors rather than Keras Tuner's."""

from __future__ import annotations

import keras_tuner as kt

from bottleneck_search.compat import is_consecutive_failure_stop
from bottleneck_search.errors import (
    BottleneckSearchError,
    SearchConfigError,
    SearchStoppedError,
    StorageError,
)
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.files import is_storage_error
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, TrialStatus


def stop_reason(
    error: BaseException, config: SearchConfig, oracle, log: TrialLog
) -> BottleneckSearchError | None:
    """The error of ours that explains an exception that ended `tuner.search`, if there is one.

    A full or unwritable disk becomes `StorageError`; Keras Tuner's fatal errors (raised for our
    configuration mistakes) `SearchConfigError`; its stop after too many failures in a row
    `SearchStoppedError`, naming the last failure. Anything else is not ours to explain.
    """
    if isinstance(error, kt.errors.FatalError) and is_storage_error(error.__cause__):
        error = error.__cause__
    if is_storage_error(error):
        return StorageError(
            f"Cannot write to run directory '{config.run_dir}': {error.strerror} ('{error.filename}'). "
            "The finished trials are kept; free disk space or fix the directory's permissions, then "
            "resume it (resume=True; --resume)."
        )
    if isinstance(error, kt.errors.FatalError):
        return SearchConfigError(str(error))
    if is_consecutive_failure_stop(error):
        record_failures_from_oracle(oracle, log)
        failed = [r for r in log.read() if r.status is TrialStatus.FAILED]
        last = f" The last (trial {failed[-1].trial_id}): {failed[-1].reason}." if failed else ""
        return SearchStoppedError(
            f"Stopped: {config.proposer.max_consecutive_failures} trials in a row failed "
            f"(max_consecutive_failures={config.proposer.max_consecutive_failures}; --max-consecutive-failures).{last} Fix the cause "
            "(often the learning rate, the data or the space), then resume (resume=True; --resume); finished "
            "trials are kept."
        )
    return None


def record_failures_from_oracle(oracle, log: TrialLog) -> None:
    """Adds a FAILED line for trials Keras Tuner failed without our `fit` recording them (trials
    of a worker with its own directory, an error inside Keras Tuner itself)."""
    logged = {record.trial_id for record in log.read()}
    for trial in oracle.trials.values():
        if trial.status == TrialStatus.FAILED and trial.trial_id not in logged:
            reason = (trial.message or "failed").strip().splitlines()[-1]
            log.append(TrialRecord.lost(trial.trial_id, reason))
