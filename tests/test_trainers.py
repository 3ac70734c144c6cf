"""Trials in trainer processes: a trial that is killed, runs out of memory or hangs is recorded as
failed and the search finishes its budget; trainers are replaced, so memory stays bounded; the
search's own process can be killed, interrupted and resumed as before.

Faults are real (tests/trainer_faults/sitecustomize.py is imported by the search and by every
trainer process it starts): a SIGKILL, an address-space limit set with `setrlimit`, a sleep.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_SPACE, search_argv

from bottleneck_search import TrialLog

pytestmark = pytest.mark.slow

FAULTS = Path(__file__).resolve().parent / "trainer_faults"
# conftest's tiny space with six widths a site: 49 architectures, enough for trials that never repeat.
WIDE_SPACE = TINY_SPACE.replace("name: tiny", "name: wide").replace(
    "[4, 8]", "[2, 4, 6, 8, 10, 12]"
)


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE_SPACE)
    return path


def _environment(**variables) -> dict:
    path = os.pathsep.join(p for p in (str(FAULTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **variables}


def _start(argv, **variables) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bottleneck_search.cli", *argv],
        env=_environment(**variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _records(run_dir) -> dict:
    return TrialLog(Path(run_dir) / "trials.jsonl").read_by_id()


def test_killed_out_of_memory_and_hung_trials_fail_and_the_search_goes_on(tmp_path, space):
    argv = search_argv(
        space,
        tmp_path / "run",
        "--trials-per-process",
        "3",
        "--trial-timeout",
        "15",
        trials=7,
        epochs=3,
    )
    search = _start(argv, BOTTLENECK_TEST_FAULTS="1:kill,3:memory,5:hang")
    out, err = search.communicate(timeout=400)
    assert search.returncode == 0, err
    records = _records(tmp_path / "run")
    assert sorted(records) == [str(i) for i in range(7)]  # the whole budget, each trial once
    failed = {i: r.reason for i, r in records.items() if r.status == "FAILED"}
    assert sorted(failed) == ["1", "3", "5"], failed
    assert "killed by SIGKILL" in failed["1"]
    assert "MemoryError" in failed["3"]
    assert "exceeded --trial-timeout 15 s" in failed["5"]
    assert all(records[i].architecture for i in failed)  # each with the architecture it trained
    trained = [records[i] for i in ("0", "2", "4", "6")]
    assert all(r.status == "COMPLETED" for r in trained)
    assert sum(r.val_accuracy for r in trained) / 4 > 0.2  # 10 classes: chance is 0.1
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 7
    assert "failed: its trainer process was killed by SIGKILL" in lines[1]


def test_trainers_killed_trial_after_trial_stop_the_search(tmp_path, space):
    argv = search_argv(space, tmp_path / "run", "--trials-per-process", "3", trials=5)
    search = _start(argv, BOTTLENECK_TEST_FAULTS="0:kill,1:kill,2:kill")
    _, err = search.communicate(timeout=400)
    assert search.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("bottleneck-search search: error: Stopped: 3 trials in a row failed")
    assert "The last (trial 2): its trainer process was killed by SIGKILL" in line
    assert sorted(_records(tmp_path / "run")) == ["0", "1", "2"]


def test_trainers_are_replaced_so_memory_stays_bounded(tmp_path, space):
    _, samples = _search_sampling_memory(tmp_path, space, "--trials-per-process", "3", trials=9)
    pids = list(dict.fromkeys(pid for pid, _ in samples))
    assert len(pids) == 3 and all(sum(p == pid for p, _ in samples) == 3 for pid in pids)
    peak = {pid: max(kib for p, kib in samples if p == pid) for pid in pids}
    print("peak RSS of each trainer (MiB):", [round(peak[pid] / 1024) for pid in pids])
    assert peak[pids[-1]] <= 1.1 * peak[pids[0]]


def test_a_trainer_over_its_memory_limit_is_replaced_after_its_trial(tmp_path, space):
    # Every trainer's peak is far above 100 MiB (TensorFlow alone), so each retires after one trial.
    out, samples = _search_sampling_memory(tmp_path, space, "--trainer-memory", "100", trials=3)
    assert "trials run in trainer processes" in out  # --trainer-memory turns them on
    assert len(samples) == 3 and len({pid for pid, _ in samples}) == 3
    assert all(r.status == "COMPLETED" for r in _records(tmp_path / "run").values())


def _search_sampling_memory(tmp_path, space, *extra, trials):
    """Runs a search to its end; returns its output and each trial's (trainer pid, peak RSS KiB)."""
    rss_log = tmp_path / "rss.txt"
    search = _start(
        search_argv(space, tmp_path / "run", *extra, trials=trials),
        BOTTLENECK_TEST_RSS=str(rss_log),
    )
    out, err = search.communicate(timeout=400)
    assert search.returncode == 0, err
    samples = [line.split() for line in rss_log.read_text().splitlines()]
    return out, [(pid, int(kib)) for pid, _, kib in samples]


def test_the_search_can_be_interrupted_killed_and_resumed(tmp_path, space):
    argv = search_argv(space, tmp_path / "run", "--trials-per-process", "2", trials=5, epochs=2)
    marker = f"kill-me-{os.getpid()}"

    # Ctrl-C: the search tells its trainer to stop at the next batch, and exits with 130.
    search = _start(argv)
    _wait_for_records(tmp_path / "run", 1)
    search.send_signal(signal.SIGINT)
    _, err = search.communicate(timeout=120)
    assert search.returncode == 130, err
    assert "interrupted; finished trials are kept" in err and "--resume" in err
    assert 1 <= len(_records(tmp_path / "run")) < 5

    # kill -9 of the resumed search: its trainer notices and exits too.
    search = _start([*argv, "--resume"], BOTTLENECK_TEST_MARKER=marker)
    _wait_for_records(tmp_path / "run", 3)
    assert _trainers(marker), "no trainer process is running"
    search.send_signal(signal.SIGKILL)
    search.communicate()
    deadline = time.monotonic() + 15
    while _trainers(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _trainers(marker), "the trainer outlived the search that started it"

    resumed = _start([*argv, "--resume"])
    _, err = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, err
    records = _records(tmp_path / "run")
    assert sorted(records) == [str(i) for i in range(5)]  # every trial once
    assert all(r.status == "COMPLETED" for r in records.values())


def _wait_for_records(run_dir, count: int) -> None:
    deadline = time.monotonic() + 300
    while len(_records(run_dir)) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def _trainers(marker: str) -> list[int]:
    """Trainer processes started with `marker` in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"bottleneck_search.cli.trainer" in cmdline and marker.encode() in environ:
            found.append(int(entry.name))
    return found
