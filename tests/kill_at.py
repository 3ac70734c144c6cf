"""Runs the `bottleneck-search` CLI and SIGKILLs it at one chosen point (fault-injection driver).

    python tests/kill_at.py POINT N -- search --space ... --run-dir ...

POINT is where the process kills itself, the N-th time (from 1) it gets there:

- `epoch`: after the first epoch of the N-th trial, inside `fit` (during a trial).
- `trial-end`: after Keras Tuner has ended and saved the N-th trial (between trials).
- `trials-jsonl`, `confirmations-jsonl`: halfway through the N-th line written to that file.
- `state:NAME`: after the N-th Keras Tuner state file called NAME (`oracle.json`, `trial.json`,
  ...) has been written to its temporary file, before it is renamed into place.
- `export`: after the N-th trial folder of an export is complete, before the rest.
- `supernet-epoch`: after the N-th epoch of a one-shot search's supernet has been backed up.

Nothing is simulated: the process really dies by SIGKILL at that point, with whatever it had
written so far on disk.
"""

import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    def __init__(self, target: int):
        self.target = target
        self.seen = 0

    def reached(self) -> bool:
        self.seen += 1
        return self.seen == self.target


def _install(point: str, counter: _Counter) -> None:
    if point == "epoch":
        from bottleneck_search.search.engine.callbacks import CostMetrics

        original_begin, original_end = CostMetrics.on_train_begin, CostMetrics.on_epoch_end
        state = {"trial": 0}

        def on_train_begin(self, logs=None):
            state["trial"] += 1
            return original_begin(self, logs)

        def on_epoch_end(self, epoch, logs=None):
            original_end(self, epoch, logs)
            if epoch == 0 and state["trial"] == counter.target:
                _die()

        CostMetrics.on_train_begin, CostMetrics.on_epoch_end = on_train_begin, on_epoch_end
    elif point == "trial-end":
        from keras_tuner.src.engine import base_tuner

        original = base_tuner.BaseTuner.on_trial_end

        def on_trial_end(self, trial):
            original(self, trial)
            if counter.reached():
                _die()

        base_tuner.BaseTuner.on_trial_end = on_trial_end
    elif point in ("trials-jsonl", "confirmations-jsonl"):
        original = os.write
        suffix = point.replace("-", ".")

        def write(fd, data):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(suffix) and counter.reached():
                original(fd, data[: len(data) // 2])
                _die()
            return original(fd, data)

        os.write = write
    elif point.startswith("state:"):
        name = point.split(":", 1)[1]
        original = os.replace

        def replace(source, destination, **kwargs):
            if os.path.basename(destination) == name and counter.reached():
                _die()
            return original(source, destination, **kwargs)

        os.replace = replace
    elif point == "export":
        from bottleneck_search.results import export

        original = export._write_trial

        def write_trial(*args, **kwargs):
            original(*args, **kwargs)
            if counter.reached():
                _die()

        export._write_trial = write_trial
    elif point == "supernet-epoch":
        from bottleneck_search.training.fit import EpochProgress

        original = EpochProgress.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            original(self, epoch, logs)
            if "supernet" in self.label and counter.reached():
                _die()

        EpochProgress.on_epoch_end = on_epoch_end
    else:
        raise SystemExit(f"kill_at.py: unknown point '{point}'")


def main() -> int:
    point, target, separator, *argv = sys.argv[1:]
    if separator != "--":
        raise SystemExit("usage: kill_at.py POINT N -- CLI ARGUMENTS")
    _install(point, _Counter(int(target)))
    from bottleneck_search.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
