"""Whether a distributed search's workers are alive: a worker's heartbeat while it trains, and
the chief's watchdog that re-issues the trial of a worker gone silent.

Left alone, Keras Tuner keeps a dead worker's trial "ongoing" for ever, so its chief never ends.
Each worker pings the chief while it trains (`Heartbeat`), and the chief's `Watchdog` hands the
trial of a worker silent for `worker_timeout` seconds back to Keras Tuner's own retry queue (it is
re-issued to another worker; after a second loss it is recorded as failed).
"""

from __future__ import annotations

import logging
import threading
import time

import keras_tuner as kt

from bottleneck_search.compat import oracle_lock
from bottleneck_search.search.served.oracle_events import OracleEvents

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


class Heartbeat:
    """A worker's background pings of its current trial, so the chief knows it is alive."""

    def __init__(self, oracle, interval: float = HEARTBEAT_SECONDS):
        self.oracle = oracle
        self.interval = interval
        self._trial_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bottleneck-heartbeat", daemon=True)
        self._thread.start()

    def start(self, trial_id: str | None) -> None:
        self._trial_id = trial_id

    def stop(self) -> None:
        self._trial_id = None

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            trial_id = self._trial_id
            if trial_id is None:
                continue
            try:
                self.oracle.get_trial(trial_id)
            except Exception as error:  # a lost chief must not kill training; the next ping retries
                logger.warning("heartbeat for trial %s failed: %s", trial_id, error)


class Watchdog:
    """The chief's view of which workers and ongoing trials are still alive.

    Every oracle call that names a trial (creating it, reporting it, a worker's heartbeat) counts
    as a sign of life. A trial silent for `timeout` seconds is ended as `INVALID`, which Keras
    Tuner's own retry logic re-issues to another worker (`max_retries_per_trial=1`) or, on a
    second loss, records as failed; its worker's id is dropped so the chief can end.

    A worker that dies between two trials holds no trial, but Keras Tuner's chief still waits
    for its id to ask for one more (and be told to stop). A worker with no trial that has not
    called for `timeout` seconds is forgotten, so the chief ends once the budget is spent.
    """

    def __init__(self, oracle, timeout: float, on_lost=None, on_end=None):
        self.oracle = oracle
        self.timeout = timeout
        self.on_lost = on_lost
        self.on_end = on_end
        self.last_seen: dict[str, float] = {}  # by trial id
        self.worker_seen: dict[str, float] = {}  # by tuner id
        self._stop = threading.Event()
        OracleEvents.of(oracle).subscribe(self)
        self._thread = threading.Thread(target=self._run, name="bottleneck-watchdog", daemon=True)
        self._thread.start()

    # Every call the gRPC server forwards (`OracleEvents`) is a sign of life.
    def trial_requested(self, tuner_id: str) -> None:
        self.worker_seen[tuner_id] = time.monotonic()

    def trial_created(self, tuner_id: str, trial) -> None:
        self.last_seen[trial.trial_id] = time.monotonic()

    def trial_updated(self, trial_id: str) -> None:
        self.last_seen[trial_id] = time.monotonic()

    def trial_polled(self, trial_id: str) -> None:
        self.last_seen[trial_id] = time.monotonic()

    def trial_ending(self, trial) -> None:
        for tuner_id, ongoing in list(self.oracle.ongoing_trials.items()):
            if ongoing.trial_id == trial.trial_id:
                self.worker_seen[tuner_id] = time.monotonic()

    def trial_ended(self, trial) -> None:
        self.last_seen.pop(trial.trial_id, None)
        if self.on_end is not None:
            self.on_end(trial)

    def close(self) -> None:
        self._stop.set()
        OracleEvents.of(self.oracle).unsubscribe(self)

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            now = time.monotonic()
            ongoing = dict(self.oracle.ongoing_trials)
            for tuner_id, trial in ongoing.items():
                seen = self.last_seen.get(trial.trial_id, now)
                if now - seen > self.timeout:
                    self._reap(tuner_id, trial.trial_id)
            for tuner_id in list(self.oracle.tuner_ids):
                seen = self.worker_seen.setdefault(tuner_id, now)
                if tuner_id not in ongoing and now - seen > self.timeout:
                    self._forget(tuner_id)

    def _reap(self, tuner_id: str, trial_id: str) -> None:
        ended = _end_lost_trial(self.oracle, tuner_id, trial_id)
        if ended is None:
            return
        self.last_seen.pop(trial_id, None)
        logger.warning(
            "worker %s went silent during trial %s; the trial is %s", tuner_id, trial_id, ended
        )
        if self.on_lost is not None:
            self.on_lost(tuner_id, trial_id, ended)

    def _forget(self, tuner_id: str) -> None:
        with oracle_lock(self.oracle):
            if tuner_id in self.oracle.ongoing_trials:  # it asked for a trial meanwhile
                return
            self.oracle.tuner_ids.discard(tuner_id)
        self.worker_seen.pop(tuner_id, None)
        logger.warning(
            "worker %s went silent between trials; the chief no longer waits for it", tuner_id
        )
        if self.on_lost is not None:
            self.on_lost(tuner_id, None, "forgotten")


def _end_lost_trial(oracle, tuner_id: str, trial_id: str) -> str | None:
    """Ends a lost worker's trial under the oracle's lock; returns 're-issued' or 'failed'."""
    with oracle_lock(oracle):
        trial = oracle.ongoing_trials.get(tuner_id)
        if trial is None or trial.trial_id != trial_id:
            return None
        trial.status = kt.engine.trial.TrialStatus.INVALID
        trial.message = f"worker {tuner_id} stopped responding"
        OracleEvents.of(oracle).end_trial(trial)  # its subscribers see the end
        oracle.tuner_ids.discard(tuner_id)
        oracle.save()
        return (
            "failed"
            if oracle.trials[trial_id].status == kt.engine.trial.TrialStatus.FAILED
            else "re-issued"
        )
