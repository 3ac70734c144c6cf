"""One trainer process of a search (see `search.jobs.trainer_pool`): it asks the search's oracle for
trials over loopback, trains them, writes their trial-log lines, and exits when the oracle has no
more trials (exit code 0) or once it has done its share (`RETIRED`)."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Callable

import keras

from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.files import TRIAL_LOG, read_run_config
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, TrialStatus
from bottleneck_search.search.engine.observer import TrialObserver
from bottleneck_search.search.jobs.costs import timed_space
from bottleneck_search.search.jobs.distributed import connect_worker, set_environment
from bottleneck_search.search.jobs.search import check_recorded_build, space_and_data
from bottleneck_search.search.jobs.trainer_pool import RETIRED, TRAINER_ID, TrainerJob
from bottleneck_search.search.jobs.tuner_state import atomic_tuner_state
from bottleneck_search.search.jobs.tuning import (
    run_tuner,
    search_hypermodel,
    search_in_process,
    search_tuner,
)
from bottleneck_search.search.served.auth import ClientSecurity


class TrainerRetired(Exception):
    """Raised before the next trial once this trainer has done its share."""


def run_trainer(
    job: TrainerJob,
    stop_requested: Callable[[], bool],
    emit: Callable[[str], None] = lambda line: None,
) -> int:
    """Trains the oracle's trials until it has none (returns 0) or this process retires
    (returns `RETIRED`); `emit` gets the per-epoch lines of trials that train long.

    Raises:
        BottleneckSearchError: an error of ours that stops the whole search (bad data, a full
            disk); the process reports it to the search.
        KeyboardInterrupt: `stop_requested()` became true.
    """
    _exit_with_parent()
    config = SearchConfig.from_arguments(job.config)
    check_recorded_build(config, read_run_config(config.run_dir))
    space, task, data = space_and_data(config)
    space = timed_space(config, space)  # the run's latency table, when its search needs one
    keras.utils.set_random_seed(config.seed + job.index)
    share = _Share(job, stop_requested, emit)
    hypermodel = search_hypermodel(config, space, task, share)
    set_environment("worker", job.address, TRAINER_ID)
    log = TrialLog(os.path.join(config.run_dir, TRIAL_LOG))
    with atomic_tuner_state():
        tuner = search_tuner(config, hypermodel)
        security = ClientSecurity(
            job.token, TRAINER_ID, timeout=config.distribution.connect_timeout
        )
        connect_worker(tuner, job.address, security)
        # Keras Tuner calls this public hook before it asks the oracle for each next trial: the
        # one point where leaving holds no trial.
        tuner.pre_create_trial = share.retire_if_done
        try:
            run_tuner(lambda: search_in_process(tuner, data, config), config, tuner.oracle, log)
        except TrainerRetired:
            return RETIRED
    return 0


class _Share(TrialObserver):
    """Counts this trainer's trials and decides when it retires: after `job.trials` trained
    trials, after a failed one (the process may be left in a bad state: an allocation that
    failed, a half-initialised kernel), or once its peak memory has passed `job.memory_mib`."""

    def __init__(
        self, job: TrainerJob, stop_requested: Callable[[], bool], emit: Callable[[str], None]
    ):
        self.job = job
        self._stop_requested = stop_requested
        self.emit = emit
        self.trained = 0
        self.failed = False

    def stop_requested(self) -> bool:
        return self._stop_requested()

    def progress(self, line: str) -> None:
        self.emit(line)

    def training_ended(self, trial_id: str | None) -> None:
        self.trained += 1

    def trial_ended(self, record: TrialRecord) -> None:
        self.failed = self.failed or record.status is TrialStatus.FAILED

    def retire_if_done(self) -> None:
        if not (self.trained or self.failed):  # a fresh trainer trains at least one trial
            return
        memory = self.job.memory_mib
        if self.failed or self.trained >= self.job.trials or (memory and peak_rss_mib() > memory):
            raise TrainerRetired


def peak_rss_mib() -> float:
    """This process' peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB on Linux


def _exit_with_parent() -> None:
    """Ends this process once the search that started it is gone (killed with -9, say), so a
    trainer never trains for nobody."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="bottleneck-parent-watch", daemon=True).start()
