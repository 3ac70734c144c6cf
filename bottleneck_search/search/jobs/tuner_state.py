"""Keras Tuner's state files in a run directory: written atomically, checked before a resume.

Keras Tuner writes `oracle.json`, `tuner0.json` and every `trial_*/trial.json` in place (its
`utils.save_json` opens the file for writing and writes the JSON), so a process killed during one
of those writes leaves a truncated file and a run that cannot be resumed. `atomic_tuner_state()`
routes those writes through a temporary file and a rename for the duration of a search, which
makes every state file either its old or its new version. It replaces nothing else: Keras Tuner
still decides what to save and when.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re

from bottleneck_search.compat import keras_tuner_json_writer, remember_values, retry_queue
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.rundir.files import write_atomically

# Paths Keras Tuner may be given that are not local files (gs://, hdfs://, ...): left to its own writer.
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://")


@contextlib.contextmanager
def atomic_tuner_state():
    """Makes Keras Tuner write its JSON state files atomically while the context is open.

    Example:

    ```python
    tuner = make_tuner("random", BottleneckHyperModel(space), max_trials=1, directory=tmp,
                       project_name="atomic")
    with atomic_tuner_state():
        tuner.search(data.train, validation_data=data.val, epochs=1, verbose=0)
    ```
    """

    def save_json(path, obj, original):
        if _REMOTE.match(os.fspath(path)):
            return original(path, obj)
        text = json.dumps(obj)
        write_atomically(os.fspath(path), text)
        return text

    with keras_tuner_json_writer(save_json):
        yield


def check_tuner_state(run_dir: str) -> None:
    """Checks that the Keras Tuner state files a resume will read are complete JSON.

    Raises:
        SearchConfigError: naming the first damaged file (a run written before atomic writes, or a
            file changed by hand).
    """
    root = glob.escape(run_dir)
    patterns = ("oracle.json", "tuner*.json", os.path.join("trial_*", "trial.json"))
    for path in sorted(p for pattern in patterns for p in glob.glob(os.path.join(root, pattern))):
        try:
            with open(path, encoding="utf-8") as handle:
                json.load(handle)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise SearchConfigError(
                f"Keras Tuner's state file '{path}' is damaged ({error}), so '{run_dir}' cannot be "
                "resumed. Restore the file from a backup, or start a new run_dir (--run-dir); trials.jsonl still "
                "lists the finished trials for `report` and `export`."
            ) from error


def requeue_orphaned_trials(oracle) -> None:
    """Makes a reloaded oracle agree with its trials' own files; call it after the tuner has
    reloaded the run.

    Keras Tuner saves a new trial's `trial.json` (status RUNNING) just before `oracle.json`. A
    process killed between the two leaves a trial that the reloaded oracle neither runs nor
    retries, yet counts against `max_trials`, so the search would end one trial short: such
    trials go back to the retry queue. A chief saves `oracle.json` at most once a second
    (`oracle_server.throttled_saves`), so after a kill it may also lack trials that ended or were
    issued meanwhile: their order and their values' hashes (which keep an architecture from being
    drawn twice) are added from the trial files.
    """
    queue = retry_queue(oracle)
    queued = set(queue) | {trial.trial_id for trial in oracle.ongoing_trials.values()}
    orphans = [
        trial_id
        for trial_id, trial in oracle.trials.items()
        if trial.status == "RUNNING" and trial_id not in queued
    ]
    queue.extend(orphans)
    started, ended = set(oracle.start_order), set(oracle.end_order)
    for trial_id, trial in sorted(oracle.trials.items()):
        if trial_id not in started:
            oracle.start_order.append(trial_id)
        if trial.status in ("COMPLETED", "FAILED") and trial_id not in ended:
            oracle.end_order.append(trial_id)
        remember_values(oracle, trial)
