"""A served oracle that admits only callers with the run's token and accepts only results it
can check: the chief's, and the loopback one a search serves to its trainer processes.

Keras Tuner's `OracleServicer` stays the one that answers (`compat.keras_tuner_servicer`); the
`CheckedServicer` here sits in front of it and refuses a report unless

- the trial is ongoing and was issued to the caller's tuner id (sent with every call, see
  `search.served.auth`);
- `EndTrial` carries the hyperparameter values the oracle issued, and a status a worker may
  report (`COMPLETED`, `INVALID`, `FAILED`);
- `UpdateTrial` carries finite metrics, every `*accuracy` in [0, 1], and `macs` equal to the
  closed form of the trial's architecture (`SearchSpace.macs`);
- `UpdateSpace` only names hyperparameters the oracle's space already has.

A refused report changes nothing in the oracle but this: its trial leaves the caller and goes
back to Keras Tuner's retry queue (it is not re-issued to that caller; `_run_times` is not
counted, so the retry an honest worker's crash is allowed is kept). Each refusal is a line of
the run directory's `refused.jsonl` (which worker, from where, which trial, why), and the trial
log line that worker wrote for the trial is left out when the run is read (`rundir.run`).

What is not checked: a caller holding the token can claim another worker's tuner id (the token
admits, the checks catch a wrong or dishonest result); a plausible but made-up accuracy passes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator

import keras_tuner as kt

from bottleneck_search.compat import (
    has_hyperparameter,
    keras_tuner_servicer,
    last_failures,
    oracle_lock,
    quiet_condition_protos,
    retry_queue,
)
from bottleneck_search.rundir.files import append_line, complete_lines
from bottleneck_search.search.served.auth import ServerSecurity, TokenCheck, caller_of, peer_host
from bottleneck_search.search.served.oracle_events import OracleEvents
from bottleneck_search.space.architecture import Architecture

logger = logging.getLogger(__name__)

# Concurrent calls: Keras Tuner's oracle runs one at a time under its lock; the checks and the
# token run outside it, so a few threads keep a heartbeat from queueing behind a slow save.
SERVER_THREADS = 4
_REPORTED_STATUSES = {"COMPLETED", "INVALID", "FAILED"}


class Refused(Exception):
    """A report the served oracle does not accept; the message says why."""


class CheckedServicer:
    """Keras Tuner's servicer of `oracle` behind the checks of the module docstring.

    Args:
        oracle: the oracle served.
        architecture_of: the architecture, with its MACs, of a trial's hyperparameters
            (`BottleneckHyperModel.architecture_from_hp`: a space's closed form, or your
            build's model counted).
        refusals: path of the run's `refused.jsonl`, or None to keep refusals in memory only.
        issued: path of a log that gets one line per trial issued (a chief's, for its restart:
            see `restore_ongoing`), or None.
        on_refused: called with each refusal's record (the chief prints a line).
    """

    def __init__(
        self,
        oracle,
        architecture_of: Callable[[kt.HyperParameters], Architecture],
        refusals: str | None = None,
        issued: str | None = None,
        on_refused: Callable[[dict], None] | None = None,
    ):
        self.oracle = oracle
        self.architecture_of = architecture_of
        self.refusals_path = refusals
        self.issued_path = issued
        self.on_refused = on_refused
        # Keras Tuner's servicer calls the oracle through its event hub, so the jobs that
        # subscribe to it (the watchdog, the trainer pool) see every served call.
        self.inner, self.add_to_server = keras_tuner_servicer(OracleEvents.of(oracle))
        quiet_condition_protos()
        self.refused: list[dict] = []
        self._refused_pairs: set[tuple[str, str]] = set()  # (trial id, tuner id)
        last_failures(oracle)

    @property
    def stop_triggered(self) -> bool:
        """Whether the oracle has told a caller that the search is over."""
        return self.inner.stop_triggered

    # Calls that change nothing: answered as Keras Tuner answers them.
    def GetSpace(self, request, context):  # noqa: N802 - gRPC's method names
        return self.inner.GetSpace(request, context)

    def GetTrial(self, request, context):  # noqa: N802
        return self.inner.GetTrial(request, context)

    def GetBestTrials(self, request, context):  # noqa: N802
        return self.inner.GetBestTrials(request, context)

    def UpdateSpace(self, request, context):  # noqa: N802
        hyperparameters = kt.HyperParameters.from_proto(request.hyperparameters)
        unknown = [
            hp.name
            for hp in hyperparameters.space
            if not has_hyperparameter(self.oracle.hyperparameters, hp)
        ]
        if unknown:
            self._abort(
                context, None, "UpdateSpace", f"adds hyperparameters {unknown} the search lacks"
            )
        return self.inner.UpdateSpace(request, context)

    def CreateTrial(self, request, context):  # noqa: N802
        caller = caller_of(context)
        if caller != request.tuner_id:
            self._abort(
                context,
                None,
                "CreateTrial",
                f"asks for tuner id {request.tuner_id!r} but calls as {caller!r}",
            )
        with oracle_lock(self.oracle):
            queue = retry_queue(self.oracle)
            # A trial whose report this caller had refused goes to another worker.
            held = [t for t in queue if (t, caller) in self._refused_pairs]
            queue[:] = [t for t in queue if t not in held]
            try:
                response = self.inner.CreateTrial(request, context)
            finally:
                queue.extend(held)
            issued = self.oracle.ongoing_trials.get(caller)
            if self.issued_path is not None and issued is not None:
                entry = {"trial_id": issued.trial_id, "tuner_id": caller}
                append_line(self.issued_path, json.dumps(entry))
            return response

    def UpdateTrial(self, request, context):  # noqa: N802
        with oracle_lock(self.oracle):
            trial = self._issued(context, request.trial_id, "UpdateTrial")
            try:
                check_metrics(dict(request.metrics), self._macs(trial))
            except Refused as error:
                self._refuse(context, trial, "UpdateTrial", str(error))
            return self.inner.UpdateTrial(request, context)

    def EndTrial(self, request, context):  # noqa: N802
        reported = kt.engine.trial.Trial.from_proto(request.trial)
        with oracle_lock(self.oracle):
            trial = self._issued(context, reported.trial_id, "EndTrial")
            try:
                if reported.status not in _REPORTED_STATUSES:
                    raise Refused(f"reports status {reported.status!r}")
                issued, sent = trial.hyperparameters.values, reported.hyperparameters.values
                if sent != issued:
                    changed = sorted(
                        k for k in set(issued) | set(sent) if issued.get(k) != sent.get(k)
                    )
                    raise Refused(f"changes the issued hyperparameters {changed}")
                if reported.status == "COMPLETED" and not trial.metrics.exists(
                    self.oracle.objective.name
                ):
                    raise Refused("ends it COMPLETED without an accepted result")
            except Refused as error:
                self._refuse(context, trial, "EndTrial", str(error))
            return self.inner.EndTrial(request, context)

    def _issued(self, context, trial_id: str, call: str):
        """The ongoing trial `trial_id` if it was issued to the caller; else the call is refused."""
        caller = caller_of(context)
        ongoing = self.oracle.ongoing_trials.get(caller)
        if ongoing is None or ongoing.trial_id != trial_id:
            holder = next(
                (t for t, o in self.oracle.ongoing_trials.items() if o.trial_id == trial_id), None
            )
            why = (
                f"reports trial {trial_id}, issued to {holder!r}"
                if holder
                else f"reports trial {trial_id}, which is not ongoing"
            )
            self._abort(context, trial_id, call, why)
        return ongoing

    def _macs(self, trial) -> int:
        return self.architecture_of(trial.hyperparameters).macs

    def _refuse(self, context, trial, call: str, reason: str) -> None:
        """Takes `trial` from its caller, queues it for another worker, records why, aborts."""
        caller = caller_of(context)
        self.oracle.ongoing_trials.pop(caller, None)
        trial.status = kt.engine.trial.TrialStatus.RUNNING
        queue = retry_queue(self.oracle)
        if trial.trial_id not in queue:
            queue.append(trial.trial_id)
        self._refused_pairs.add((trial.trial_id, caller))
        self._abort(context, trial.trial_id, call, reason, requeued=True)

    def _abort(self, context, trial_id, call: str, reason: str, requeued: bool = False):
        import grpc

        caller = caller_of(context)
        record = {
            "time": time.time(),
            "worker": caller,
            "peer": peer_host(context.peer()),
            "trial_id": trial_id,
            "call": call,
            "reason": reason,
            "requeued": requeued,
        }
        self.refused.append(record)
        if self.refusals_path is not None:
            append_line(self.refusals_path, json.dumps(record))
        logger.warning("refused %s from %s: %s", call, caller, reason)
        if self.on_refused is not None:
            self.on_refused(record)
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"refused: {reason}")


def check_metrics(metrics: dict[str, float], macs: int) -> None:
    """Refuses metrics that are not finite, an accuracy outside [0, 1], or MACs other than the
    trial architecture's closed form.

    Raises:
        Refused: saying which metric and why.

    Example:

    ```python
    check_metrics({"val_accuracy": 0.9, "val_score": 0.88, "macs": 1200.0}, macs=1200)
    ```
    """
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise Refused(f"reports {name} = {value}")
        if name.endswith("accuracy") and not 0.0 <= value <= 1.0:
            raise Refused(f"reports {name} = {value:g}, outside [0, 1]")
    if "macs" not in metrics:
        raise Refused("reports no macs")
    if metrics["macs"] != macs:
        raise Refused(f"reports {metrics['macs']:.0f} MACs; the architecture has {macs}")


@contextlib.contextmanager
def serve_oracle(
    servicer: CheckedServicer, security: ServerSecurity, address: str = "127.0.0.1:0"
) -> Iterator[str]:
    """Serves `servicer` on `address` (port 0: a free one) while open, admitting only calls with
    `security.token`, over TLS when `security` has a key pair; yields the `HOST:PORT` served.

    Raises:
        OSError: the address cannot be bound (in use, or not this machine's).
    """
    from concurrent import futures

    import grpc

    check = TokenCheck(security.token)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=SERVER_THREADS, thread_name_prefix="oracle"),
        interceptors=(check.interceptor,),
    )
    servicer.add_to_server(servicer, server)
    host = address.rpartition(":")[0]
    credentials = security.credentials()
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as error:
        raise OSError(f"cannot serve the oracle on {address}: {error}") from None
    server.start()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop(grace=None)


def serve_until_done(servicer: CheckedServicer, poll: float = 0.5) -> None:
    """Blocks until the oracle has told its workers the search is over and none holds a trial
    or is still expected (Keras Tuner's chief loop, polled every `poll` seconds)."""
    oracle = servicer.oracle
    while True:
        time.sleep(poll)
        if servicer.stop_triggered:
            with oracle_lock(oracle):
                if not oracle.ongoing_trials and not oracle.tuner_ids:
                    return


@contextlib.contextmanager
def throttled_saves(oracle, seconds: float = 1.0) -> Iterator[None]:
    """Writes the oracle's state (`oracle.json`) at most every `seconds` while open, and once
    more on the way out.

    Keras Tuner saves the whole state (every trial id, hash and run count) twice per trial, work
    that grows with the trials done; a chief serving many workers spends most of its time there.
    Each trial's own `trial.json` is still written at once, and a resume after a kill rebuilds
    what a late `oracle.json` lacks from them (`tuner_state.reconcile_reloaded_oracle`).
    """
    save = oracle.save
    last = [0.0]

    def throttled():
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            save()

    oracle.save = throttled
    try:
        yield
    finally:
        del oracle.save  # the class's own method again
        with oracle_lock(oracle):
            save()


def restore_ongoing(oracle, issued: str) -> list[str]:
    """After a chief's restart, makes the reloaded oracle agree with its trials' own files and
    gives each trial still in training back to the worker it was issued to; returns their ids.

    The trial files are the truth (Keras Tuner writes a trial's `trial.json` as it issues and as
    it ends it; `oracle.json` is written at most once a second, see `throttled_saves`). Keras
    Tuner's reload sends every trial `oracle.json` lists as ongoing to the retry queue, including
    one that ended since. Here a trial whose file says it ended leaves the queue; a trial whose
    file says it is running goes back to its worker, found in the chief's `issued` log (one
    line per trial issued). A worker that outlived its chief is still training that trial and
    reports it when the chief is back, so nothing is trained twice; a worker that died with the
    chief stays silent, and the chief's watchdog re-issues its trial after `--worker-timeout`.
    """
    owners: dict[str, str] = {}
    for line in complete_lines(issued):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = json.loads(line)
            owners[str(entry["trial_id"])] = str(entry["tuner_id"])
    restored = []
    with oracle_lock(oracle):
        queue = retry_queue(oracle)
        oracle.ongoing_trials.clear()
        for trial_id, trial in oracle.trials.items():
            if trial.status in ("COMPLETED", "FAILED"):
                while trial_id in queue:
                    queue.remove(trial_id)
            elif trial.status == "RUNNING" and trial_id in owners:
                while trial_id in queue:
                    queue.remove(trial_id)
                oracle.ongoing_trials[owners[trial_id]] = trial
                oracle.tuner_ids.add(owners[trial_id])
                restored.append(trial_id)
    return restored
