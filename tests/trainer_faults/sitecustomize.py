"""Test-only faults inside the trials of a search's trainer processes.

tests/trainer_runs.py puts this folder on the PYTHONPATH of the search it starts; Python's `site`
then imports this module in that process and in every trainer process it starts. Nothing happens
unless one of these is set:

- BOTTLENECK_TEST_FAULTS="1:kill,3:memory,5:hang": in the trial with that id, after its first
  training batch, the process SIGKILLs itself; or sets its address-space limit
  (`resource.setrlimit(RLIMIT_AS)`) 512 MiB above what it uses and allocates until that fails;
  or sleeps for an hour.
- BOTTLENECK_TEST_RSS=PATH: after every trial, appends "PID TRIAL_ID PEAK_RSS_KIB" to PATH.
"""

import os

_FAULTS = dict(
    item.split(":") for item in os.environ.get("BOTTLENECK_TEST_FAULTS", "").split(",") if item
)
_RSS_LOG = os.environ.get("BOTTLENECK_TEST_RSS")


def _install() -> None:
    import resource
    import signal
    import time

    import keras

    from bottleneck_search.compat import trial_of
    from bottleneck_search.search.engine.hypermodel import BottleneckHyperModel

    class Fault(keras.callbacks.Callback):
        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def on_train_batch_end(self, batch, logs=None):
            if self.kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif self.kind == "hang":
                time.sleep(3600)
            elif self.kind == "memory":
                with open("/proc/self/status") as status:
                    size = next(
                        int(line.split()[1]) for line in status if line.startswith("VmSize:")
                    )
                limit = size * 1024 + 512 * 2**20
                resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
                hoard = []
                while True:
                    hoard.append(bytearray(64 * 2**20))

    original = BottleneckHyperModel.fit

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        trial = trial_of(callbacks or [])
        trial_id = trial.trial_id if trial is not None else None
        extra = [Fault(_FAULTS[trial_id])] if trial_id in _FAULTS else []
        try:
            return original(
                self, hp, model, *args, callbacks=[*(callbacks or []), *extra], **kwargs
            )
        finally:
            if _RSS_LOG:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                with open(_RSS_LOG, "a") as log:
                    log.write(f"{os.getpid()} {trial_id} {peak}\n")

    BottleneckHyperModel.fit = fit


if _FAULTS or _RSS_LOG:
    _install()
