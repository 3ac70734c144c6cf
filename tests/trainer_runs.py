"""Helpers of the trainer-process tests (test_trainers.py, test_trainer_lifecycle.py): a search
started as its own process, with tests/trainer_faults/sitecustomize.py on its path, and what it wrote.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from bottleneck_search.rundir.trial_log import TrialLog

FAULTS = Path(__file__).resolve().parent / "trainer_faults"


def environment(**variables) -> dict:
    path = os.pathsep.join(p for p in (str(FAULTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3", **variables}


def start(argv, **variables) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bottleneck_search.cli", *argv],
        env=environment(**variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_records(run_dir) -> dict:
    return TrialLog(Path(run_dir) / "trials.jsonl").read_by_id()


def wait_for_records(run_dir, count: int) -> None:
    deadline = time.monotonic() + 300
    while len(read_records(run_dir)) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def trainers(marker: str) -> list[int]:
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
        if b"bottleneck_search.search.jobs.trainer_main" in cmdline and marker.encode() in environ:
            found.append(int(entry.name))
    return found
