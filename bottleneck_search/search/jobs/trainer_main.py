"""`python -m bottleneck_search.search.jobs.trainer_main`: a search's trainer process, started by the search
(`search.jobs.trainer_pool`), not by hand. It reads its `TrainerJob` as JSON on stdin; it exits 0 when
the search has no more trials, `RETIRED` when it has done its share, 130 when interrupted, and
otherwise writes the error that stopped it to the job's report file."""

from __future__ import annotations

import contextlib
import json
import os
import sys

from bottleneck_search.errors import BottleneckSearchError
from bottleneck_search.process import deferred_interrupt, frozen_garbage, import_tensorflow_quietly
from bottleneck_search.rundir.files import write_atomically


def main() -> int:
    text = sys.stdin.read()
    import_tensorflow_quietly()  # before anything else imports it
    from bottleneck_search.compat import keras_tuner_debug
    from bottleneck_search.search.jobs.trainer_pool import INTERRUPTED, TrainerJob
    from bottleneck_search.search.jobs.trainer_process import run_trainer

    job = TrainerJob.from_json(text)
    verbose = bool(job.config.get("verbose"))
    stdout = sys.stdout  # the search's own: per-epoch lines of long trials go there

    def emit(line: str) -> None:
        print(line, file=stdout, flush=True)

    try:
        with (
            deferred_interrupt() as interrupted,
            keras_tuner_debug(verbose),
            frozen_garbage(),  # as in the search command: Keras Tuner's gc.collect()s stay cheap
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(sys.stdout if verbose else devnull),
        ):
            return run_trainer(job, interrupted.is_set, emit)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BottleneckSearchError as error:
        _report(job, error)
        return error.exit_code
    except Exception as error:  # the trial it held, if any, is failed with this message
        _report(job, error)
        raise


def _report(job, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}".strip().splitlines()[-1]
    if isinstance(error, BottleneckSearchError):
        message = str(error)
    write_atomically(job.report, json.dumps({"error": type(error).__name__, "message": message}))


if __name__ == "__main__":
    sys.exit(main())
