"""Trials in trainer processes: a search whose memory stays bounded, and that outlives a trial
that crashes, runs out of memory or hangs.

The search's own process keeps Keras Tuner's oracle and serves it on loopback with Keras Tuner's
chief/worker protocol, as a chief does (`oracle_server`: only calls with a token made for this
search, handed to each trainer in its job on stdin; every report checked). One trainer process at a time
(`python -m bottleneck_search.search.jobs.trainer_main`, see `search.jobs.trainer_process`) asks it for trials,
trains them and writes their trial-log lines, like a distributed worker. A trainer retires after
`config.trials_per_trainer` trials, after a failed trial, or once its peak memory has passed
`config.trainers.trainer_memory`; the next trial then runs in a fresh process, so whatever TensorFlow kept
of earlier models is given back. The pool watches its trainer: when one dies (SIGKILL, a
segfault, the kernel's out-of-memory killer) or overruns `config.trainers.trial_timeout`, the pool records
its trial as FAILED with that reason and starts the next trainer. Progress lines are printed
here, as trials end, exactly as in a search that trains in its own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import keras_tuner as kt

from bottleneck_search import errors
from bottleneck_search.compat import is_consecutive_failure_stop, oracle_lock
from bottleneck_search.rundir.trial_log import TrialRecord, TrialStatus
from bottleneck_search.search.jobs.context import JobContext
from bottleneck_search.search.jobs.progress import Progress
from bottleneck_search.search.served.auth import ServerSecurity, new_token
from bottleneck_search.search.served.oracle_events import OracleEvents
from bottleneck_search.search.served.oracle_server import CheckedServicer, serve_oracle

RETIRED = 75  # a trainer's exit code once it has run its share of trials (EX_TEMPFAIL)
INTERRUPTED = 130
TRAINER_ID = "trainer"  # Keras Tuner's tuner id of every trainer (one runs at a time)
POLL_SECONDS = 0.1
# Trainers in a row that end without a trial before the pool gives up (a start-up that fails).
IDLE_TRAINERS = 2


@dataclasses.dataclass(frozen=True)
class TrainerJob:
    """What a trainer process is told, as JSON on its stdin.

    Attributes:
        config: the search's `SearchConfig`, as a dict.
        address: `HOST:PORT` of the oracle.
        index: the trainer's number in the search (0, 1, ...); it also offsets the seed.
        trials: trials it trains before it retires.
        memory_mib: it retires after a trial once its peak resident memory is above this.
        report: the file where it writes the error that stopped it, if one did.
        token: the secret its calls to the oracle carry (fresh for each search).
    """

    config: dict
    address: str
    index: int
    trials: int
    memory_mib: int | None
    report: str
    token: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrainerJob:
        return cls(**json.loads(text))


class TrainerPool:
    """Runs a search's trials in trainer processes, one at a time, until the oracle has no more.

    Args:
        job: the search job: its arguments, its run's trial log (trainers append to it; the
            pool adds the trials it fails) and its `stop_requested`, polled (once true, the
            trainer is asked to stop at its next batch, as a Ctrl-C would, and `run` raises
            `KeyboardInterrupt`).
        tuner: the search's tuner; its oracle is served to the trainers, and only used here.
        progress: prints one line per ended trial.
    """

    def __init__(self, job: JobContext, tuner: kt.Tuner, progress: Progress):
        self.config = job.config
        self.tuner = tuner
        self.oracle = tuner.oracle
        self.architecture_of = tuner.hypermodel.architecture_from_hp
        self.log = job.log
        self.progress = progress
        self.stop_requested = job.stop_requested or (lambda: False)
        self.trials_ended = 0
        self._started: dict[str, float] = {}  # trial id -> when a trainer was given it
        self._stop_error: RuntimeError | None = None
        OracleEvents.of(self.oracle).subscribe(self)

    def run(self) -> None:
        """Starts trainers until one finds the oracle done; raises what stops the search early.

        Raises:
            KeyboardInterrupt: `stop_requested()` became true (the trial in progress is re-run
                on `--resume`).
            BottleneckSearchError: a trainer stopped on an error of ours (bad data, a full
                disk), or trainers keep exiting before they finish a trial.
            RuntimeError: Keras Tuner's stop after too many failed trials in a row.
        """
        self.progress.emit(
            f"trials run in trainer processes, a fresh one every {self.config.trials_per_trainer} "
            "trials or after a failure (about 5 s to start each); trials_per_process=0 "
            "(--trials-per-process 0) trains in this process"
        )
        self.tuner.save()
        token = new_token()
        servicer = CheckedServicer(self.oracle, self.architecture_of)
        with (
            serve_oracle(servicer, ServerSecurity(token)) as address,
            tempfile.TemporaryDirectory(prefix="bottleneck-trainers-") as scratch,
        ):
            idle = 0
            for index in range(sys.maxsize):
                job = TrainerJob(
                    config=self.config.arguments(),
                    address=address,
                    index=index,
                    trials=self.config.trials_per_trainer,
                    memory_mib=self.config.trainers.trainer_memory,
                    report=os.path.join(scratch, f"trainer-{index}.json"),
                    token=token,
                )
                ended = self.trials_ended
                code, timed_out = self._supervise(job)
                if self._settle(job, code, timed_out):
                    return
                idle = idle + 1 if self.trials_ended == ended else 0
                if idle >= IDLE_TRAINERS:
                    raise errors.SearchStoppedError(
                        f"Trainer processes keep exiting before they finish a trial (the last: "
                        f"{_exit_reason(code, _read_report(job.report))}). Run with "
                        "trials_per_process=0 (--trials-per-process 0) to see the error in this "
                        "process, fix it, then resume (resume=True; --resume)."
                    )

    def _supervise(self, job: TrainerJob) -> tuple[int, str | None]:
        """Starts a trainer for `job` and waits for it to exit: returns its exit code, and the
        trial id it was stopped for overrunning `trial_timeout` (or None)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "bottleneck_search.search.jobs.trainer_main"],
            stdin=subprocess.PIPE,
            env=_trainer_environment(),
            start_new_session=True,  # a terminal's Ctrl-C reaches the search; it tells the trainer
        )
        try:
            with contextlib.suppress(BrokenPipeError):  # a trainer that died at once: settled below
                process.stdin.write(job.to_json().encode("utf-8"))
                process.stdin.close()
            interrupted = False
            timeout = self.config.trainers.trial_timeout
            while process.poll() is None:
                if not interrupted and self.stop_requested():
                    process.send_signal(signal.SIGINT)
                    interrupted = True
                held = self.oracle.ongoing_trials.get(TRAINER_ID)
                if held is not None and timeout is not None:
                    started = self._started.get(held.trial_id, time.monotonic())
                    if time.monotonic() - started > timeout:
                        _kill(process)
                        return process.returncode, held.trial_id
                time.sleep(POLL_SECONDS)
            return process.returncode, None
        finally:
            _kill(process)

    def _settle(self, job: TrainerJob, code: int, timed_out: str | None) -> bool:
        """Deals with a trainer that exited: fails the trial it held, raises what stops the
        search. Returns whether the search is done."""
        report = _read_report(job.report)
        error_class = getattr(errors, (report or {}).get("error", ""), None)
        if isinstance(error_class, type) and issubclass(error_class, errors.BottleneckSearchError):
            raise error_class(report["message"])
        if self._stop_error is not None:
            raise self._stop_error
        if code == INTERRUPTED or self.stop_requested():
            raise KeyboardInterrupt
        held = self.oracle.ongoing_trials.get(TRAINER_ID)
        if held is not None:
            if held.trial_id == timed_out:
                reason = (
                    f"exceeded trial_timeout={self.config.trainers.trial_timeout:g} s (--trial-timeout); its trainer "
                    "process was stopped"
                )
            else:
                reason = _exit_reason(code, report)
            self._fail(held, reason)
        return code == 0

    def _fail(self, trial, reason: str) -> None:
        """Records a trial its trainer could not end, then ends it as FAILED in the oracle."""
        started = self._started.pop(trial.trial_id, time.monotonic())
        architecture = self.architecture_of(trial.hyperparameters)
        self.log.append(
            TrialRecord.of(trial.trial_id, TrialStatus.FAILED, architecture, started, reason=reason)
        )
        with oracle_lock(self.oracle):
            trial.status = kt.engine.trial.TrialStatus.FAILED
            trial.message = reason
            OracleEvents.of(self.oracle).end_trial(trial)

    # The trials its trainers ask for and end, as the oracle's server sees them (`OracleEvents`).
    def trial_created(self, tuner_id: str, trial) -> None:
        if trial.status == kt.engine.trial.TrialStatus.RUNNING:
            self._started.setdefault(trial.trial_id, time.monotonic())

    def trial_end_failed(self, trial, error: RuntimeError) -> None:
        if is_consecutive_failure_stop(error):
            self._stop_error = error
            self._report(trial.trial_id)

    def trial_ended(self, trial) -> None:
        if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
            self._report(trial.trial_id)  # not sent back for a retry

    def _report(self, trial_id: str) -> None:
        """Prints the progress line of an ended trial, from its trial-log line."""
        self._started.pop(trial_id, None)
        self.trials_ended += 1
        record = self.log.read_by_id().get(trial_id)
        if record is None:  # failed inside Keras Tuner itself, before our fit could log it
            message = self.oracle.trials[trial_id].message or "failed"
            record = TrialRecord.lost(trial_id, message.strip().splitlines()[-1])
            self.log.append(record)
        self.progress.trial_ended(record)


def _trainer_environment() -> dict[str, str]:
    """This process' environment, with this copy of the package importable (it may have been
    found through a `sys.path` entry made at run time, which a new interpreter would not have)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _kill(process: subprocess.Popen) -> None:
    """Kills a trainer and everything it started, and reaps it; nothing if it has exited."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_report(path: str) -> dict | None:
    """What a trainer wrote about the error that stopped it, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _exit_reason(code: int, report: dict | None) -> str:
    """Why a trainer's trial failed, from its exit code and report."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return (
                "its trainer process was killed by SIGKILL (the kernel's out-of-memory killer "
                "sends it when memory runs out)"
            )
        return f"its trainer process died of {name}"
    detail = f": {report['message']}" if report and report.get("message") else ""
    return f"its trainer process exited with code {code}{detail}"
