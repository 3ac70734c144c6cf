"""Trials in trainer processes: a trial that is killed, runs out of memory or hangs is recorded as
failed and the search finishes its budget; failures trial after trial stop it.

Faults are real (tests/trainer_faults/sitecustomize.py is imported by the search and by every
trainer process it starts): a SIGKILL, an address-space limit set with `setrlimit`, a sleep.
"""

import pytest
from conftest import search_argv
from trainer_runs import read_records, start

pytestmark = pytest.mark.slow


def test_killed_out_of_memory_and_hung_trials_fail_and_the_search_goes_on(tmp_path, wide_space):
    argv = search_argv(
        wide_space,
        tmp_path / "run",
        "--trials-per-process",
        "3",
        "--trial-timeout",
        "10",
        trials=5,
        epochs=3,
    )
    search = start(argv, BOTTLENECK_TEST_FAULTS="1:kill,2:memory,4:hang")
    out, err = search.communicate(timeout=400)
    assert search.returncode == 0, err
    records = read_records(tmp_path / "run")
    assert sorted(records) == [str(i) for i in range(5)]  # the whole budget, each trial once
    failed = {i: r.reason for i, r in records.items() if r.status == "FAILED"}
    assert sorted(failed) == ["1", "2", "4"], failed  # never 3 in a row: the search goes on
    assert "killed by SIGKILL" in failed["1"]
    assert "MemoryError" in failed["2"]
    assert "exceeded trial_timeout=10 s (--trial-timeout)" in failed["4"]
    assert all(records[i].architecture for i in failed)  # each with the architecture it trained
    trained = [records[i] for i in ("0", "3")]
    assert all(r.status == "COMPLETED" for r in trained)
    assert sum(r.val_accuracy for r in trained) / 2 > 0.2  # 10 classes: chance is 0.1
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 5
    assert "failed: its trainer process was killed by SIGKILL" in lines[1]


def test_trainers_killed_trial_after_trial_stop_the_search(tmp_path, wide_space):
    argv = search_argv(wide_space, tmp_path / "run", "--trials-per-process", "3", trials=5)
    search = start(argv, BOTTLENECK_TEST_FAULTS="0:kill,1:kill,2:kill")
    _, err = search.communicate(timeout=400)
    assert search.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("bottleneck-search search: error: Stopped: 3 trials in a row failed")
    assert "The last (trial 2): its trainer process was killed by SIGKILL" in line
    assert sorted(read_records(tmp_path / "run")) == ["0", "1", "2"]
