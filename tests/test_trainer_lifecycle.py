"""Trainer processes are replaced, so memory stays bounded; the search's own process can be
interrupted, killed and resumed as without them. (Split from test_trainers.py so that the two files
run on both pytest workers.)
"""

import os
import signal
import time

import pytest
from conftest import search_argv
from trainer_runs import read_records, start, trainers, wait_for_records

pytestmark = pytest.mark.slow


def test_trainers_are_replaced_so_memory_stays_bounded(tmp_path, wide_space):
    _, samples = _search_sampling_memory(
        tmp_path, wide_space, "--trials-per-process", "2", trials=4
    )
    pids = list(dict.fromkeys(pid for pid, _ in samples))
    assert len(pids) == 2 and all(sum(p == pid for p, _ in samples) == 2 for pid in pids)
    peak = {pid: max(kib for p, kib in samples if p == pid) for pid in pids}
    print("peak RSS of each trainer (MiB):", [round(peak[pid] / 1024) for pid in pids])
    assert peak[pids[-1]] <= 1.1 * peak[pids[0]]


def test_a_trainer_over_its_memory_limit_is_replaced_after_its_trial(tmp_path, wide_space):
    # Every trainer's peak is far above 100 MiB (TensorFlow alone), so each retires after one trial.
    out, samples = _search_sampling_memory(
        tmp_path, wide_space, "--trainer-memory", "100", trials=2
    )
    assert "trials run in trainer processes" in out  # --trainer-memory turns them on
    assert len(samples) == 2 and len({pid for pid, _ in samples}) == 2
    assert all(r.status == "COMPLETED" for r in read_records(tmp_path / "run").values())


def _search_sampling_memory(tmp_path, wide_space, *extra, trials):
    """Runs a search to its end; returns its output and each trial's (trainer pid, peak RSS KiB)."""
    rss_log = tmp_path / "rss.txt"
    search = start(
        search_argv(wide_space, tmp_path / "run", *extra, trials=trials),
        BOTTLENECK_TEST_RSS=str(rss_log),
    )
    out, err = search.communicate(timeout=400)
    assert search.returncode == 0, err
    samples = [line.split() for line in rss_log.read_text().splitlines()]
    return out, [(pid, int(kib)) for pid, _, kib in samples]


def test_the_search_can_be_interrupted_killed_and_resumed(tmp_path, wide_space):
    argv = search_argv(
        wide_space, tmp_path / "run", "--trials-per-process", "2", trials=5, epochs=1
    )
    marker = f"kill-me-{os.getpid()}"

    # Ctrl-C: the search tells its trainer to stop at the next batch, and exits with 130.
    search = start(argv)
    wait_for_records(tmp_path / "run", 1)
    search.send_signal(signal.SIGINT)
    _, err = search.communicate(timeout=120)
    assert search.returncode == 130, err
    assert "interrupted; finished trials are kept" in err and "--resume" in err
    assert 1 <= len(read_records(tmp_path / "run")) < 5

    # kill -9 of the resumed search: its trainer notices and exits too.
    search = start([*argv, "--resume"], BOTTLENECK_TEST_MARKER=marker)
    wait_for_records(tmp_path / "run", 3)
    assert trainers(marker), "no trainer process is running"
    search.send_signal(signal.SIGKILL)
    search.communicate()
    deadline = time.monotonic() + 15
    while trainers(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not trainers(marker), "the trainer outlived the search that started it"

    resumed = start([*argv, "--resume"])
    _, err = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, err
    records = read_records(tmp_path / "run")
    assert sorted(records) == [str(i) for i in range(5)]  # every trial once
    assert all(r.status == "COMPLETED" for r in records.values())
