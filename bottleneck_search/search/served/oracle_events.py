"""`OracleEvents`: the one place a job observes an oracle's trial calls.

Keras Tuner's oracle has no hook for a trial given out, reported, polled or ended, and a
distributed chief's gRPC server calls the oracle object directly. The chief's watchdog (worker
liveness) and the trainer pool (progress lines, the consecutive-failure stop) both need those
calls, so the hub is an object that stands in for the oracle: its four trial calls hand each
call to the subscribers and then to the oracle, under the oracle's own lock
(`compat.oracle_lock`), so a subscriber sees the oracle as the call left it and no other call
runs in between; every other attribute is the oracle's own. The oracle itself is not touched:
the served oracle's servicer (`oracle_server.CheckedServicer`) is built over the hub, and the
jobs that end a trial themselves call the hub's `end_trial`.

A subscriber defines any of:

- `trial_requested(tuner_id)`, then `trial_created(tuner_id, trial)`;
- `trial_updated(trial_id)` (a report of metrics), `trial_polled(trial_id)` (`get_trial`, a
  worker's heartbeat);
- `trial_ending(trial)`, then `trial_ended(trial)` (the oracle's own record of it), or
  `trial_end_failed(trial, error)` when Keras Tuner's `end_trial` raised.
"""

from __future__ import annotations

import weakref

from bottleneck_search.compat import oracle_lock

_HUBS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class OracleStandIn:
    """An object that stands in for an oracle (or a worker's `OracleClient`): a subclass
    defines the calls it changes, and every other attribute is the oracle's own, so Keras
    Tuner's tuner or servicer can be given it instead of the oracle, which is never changed.

    Args:
        oracle: the oracle stood in for.

    Example:

    ```python
    class Quiet(OracleStandIn):
        def get_trial(self, trial_id):
            return self.oracle.get_trial(trial_id)

    tuner = make_tuner("random", BottleneckHyperModel(space), directory=tmp, max_trials=1)
    assert Quiet(tuner.oracle).objective is tuner.oracle.objective
    ```
    """

    def __init__(self, oracle):
        self.oracle = oracle

    def __getattr__(self, name: str):
        # Only for what the stand-in does not define: the oracle's state and other methods.
        return getattr(self.oracle, name)


class OracleEvents(OracleStandIn):
    """The event hub of one oracle, standing in for it; `OracleEvents.of(oracle)` makes it once.

    Example:

    ```python
    class Counter:
        created = 0

        def trial_created(self, tuner_id, trial):
            self.created += 1

    space = SearchSpace.from_yaml(tiny_space)
    tuner = make_tuner("random", BottleneckHyperModel(space), directory=tmp, max_trials=1)
    hub = OracleEvents.of(tuner.oracle)
    counter = hub.subscribe(Counter())
    hub.create_trial("tuner0")
    assert counter.created == 1 and hub.trials is tuner.oracle.trials
    ```
    """

    def __init__(self, oracle):
        super().__init__(oracle)
        self.subscribers: list = []

    def create_trial(self, tuner_id):
        with oracle_lock(self.oracle):
            self._emit("trial_requested", tuner_id)
            trial = self.oracle.create_trial(tuner_id)
            self._emit("trial_created", tuner_id, trial)
            return trial

    def update_trial(self, trial_id, metrics, step=0):
        with oracle_lock(self.oracle):
            self._emit("trial_updated", trial_id)
            return self.oracle.update_trial(trial_id, metrics, step=step)

    def get_trial(self, trial_id):
        with oracle_lock(self.oracle):
            self._emit("trial_polled", trial_id)
            return self.oracle.get_trial(trial_id)

    def end_trial(self, trial):
        with oracle_lock(self.oracle):
            self._emit("trial_ending", trial)
            try:
                result = self.oracle.end_trial(trial)
            except RuntimeError as error:
                self._emit("trial_end_failed", trial, error)
                raise
            self._emit("trial_ended", self.oracle.trials[trial.trial_id])
            return result

    @classmethod
    def of(cls, oracle) -> OracleEvents:
        """The hub of `oracle`, made on first use (every job that observes `oracle` shares it)."""
        hub = _HUBS.get(oracle)
        if hub is None:
            hub = _HUBS[oracle] = cls(oracle)
        return hub

    def subscribe(self, subscriber):
        """Adds `subscriber` (see the module docstring for its hooks); returns it."""
        self.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber) -> None:
        """Stops sending calls to `subscriber`."""
        self.subscribers.remove(subscriber)

    def _emit(self, event: str, *args) -> None:
        for subscriber in list(self.subscribers):
            hook = getattr(subscriber, event, None)
            if hook is not None:
                hook(*args)
