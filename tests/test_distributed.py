"""Distributed search on loopback: a chief and two workers, a worker killed mid-trial, refusals."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras_tuner as kt
import pytest

from bottleneck_search import load_run, pareto_front
from bottleneck_search.cli import main
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.search.served.liveness import Watchdog

pytestmark = pytest.mark.slow
# A user's build(hp) with two bottleneck_conv sites and hyperparameters of its own.
MODELS = (Path(__file__).resolve().parent.parent / "docs" / "examples" / "own_build.py").read_text()


def cli(*args):
    return [sys.executable, "-m", "bottleneck_search.cli", "search", *args]


def start(*args, log, cwd=None):
    return subprocess.Popen(cli(*args), stdout=log, stderr=subprocess.STDOUT, cwd=cwd)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def start_chief(*args, log, tries=3, cwd=None):
    """Starts a chief on a free port and returns it once it accepts connections, with its address.

    A port found free can be taken before the chief binds it; then the chief exits and another
    port is tried.
    """
    for _ in range(tries):
        port = _free_port()
        chief = start(*args, "--chief", f"127.0.0.1:{port}", log=log, cwd=cwd)
        deadline = time.monotonic() + 120
        while chief.poll() is None and time.monotonic() < deadline and not _listening(port):
            time.sleep(0.1)
        if chief.poll() is None and _listening(port):
            return chief, f"127.0.0.1:{port}"
        chief.kill()
        chief.wait()
    raise AssertionError(f"no chief could start in {tries} tries; see {log.name}")


def start_worker(common, address, index, *extra, log):
    """Worker `w<index>` of the chief at `address`, with the search arguments `common`."""
    return start(*common, "--worker", address, "--worker-id", f"w{index}", *extra, log=log)


def finish(process, timeout=300):
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_chief_and_two_workers_in_their_own_directories(tiny_space_path, tmp_path):
    common = ["--space", tiny_space_path, "--max-trials", "4", "--epochs", "2", "--seed", "1"]
    with open(tmp_path / "chief.log", "w") as log:
        chief, address = start_chief(*common, "--run-dir", str(tmp_path / "chief"), log=log)
        # Workers in their own directories take a private copy of the chief's token.
        token = tmp_path / "token"
        token.write_text((tmp_path / "chief" / "auth-token").read_text())
        token.chmod(0o600)
        workers = [
            start_worker(
                common,
                address,
                i,
                "--run-dir",
                str(tmp_path / f"w{i}"),
                "--auth-token-file",
                str(token),
                log=log,
            )
            for i in (1, 2)
        ]
        mismatched = subprocess.run(
            cli(
                *common[:-2],
                "--seed",
                "2",
                "--worker",
                address,
                "--run-dir",
                str(tmp_path / "bad"),
                "--auth-token-file",
                str(token),
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        codes = [finish(p) for p in workers] + [finish(chief)]
    assert codes == [0, 0, 0], (tmp_path / "chief.log").read_text()
    assert mismatched.returncode == 2
    assert (
        mismatched.stderr.strip()
        .splitlines()[-1]
        .startswith("bottleneck-search search: error: This worker's search arguments differ")
    )
    assert not (tmp_path / "bad" / "trials.jsonl").exists()

    ids = [r.trial_id for w in ("w1", "w2") for r in TrialLog(tmp_path / w / "trials.jsonl").read()]
    assert sorted(ids) == ["0", "1", "2", "3"]  # every trial exactly once, spread over the workers
    assert all(TrialLog(tmp_path / w / "trials.jsonl").read() for w in ("w1", "w2"))
    chief_lines = [
        line
        for line in (tmp_path / "chief.log").read_text().splitlines()
        if line.startswith("chief: trial")
    ]
    assert len(chief_lines) == 4

    runs = [str(tmp_path / d) for d in ("chief", "w1", "w2")]
    assert main(["report", *runs]) == 0
    assert (tmp_path / "chief" / "pareto.png").exists()
    assert main(["export", *runs, "--pareto"]) == 0
    listing = json.loads((tmp_path / "chief" / "export" / "exports.json").read_text())
    assert [e["trial_id"] for e in listing["exports"]] == [r.trial_id for r in pareto_front(runs)]


def test_a_killed_worker_does_not_stall_the_search(tiny_space_path, tmp_path):
    run_dir = tmp_path / "shared"  # the shared-file-system layout: one run directory for all
    common = [
        "--space",
        tiny_space_path,
        "--max-trials",
        "4",
        "--epochs",
        "6",
        "--run-dir",
        str(run_dir),
    ]
    with open(tmp_path / "log", "w") as log:
        chief, address = start_chief(*common, "--worker-timeout", "6", log=log)
        doomed = start(*common, "--worker", address, "--worker-id", "doomed", log=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _training_trial_of(run_dir, "doomed"):
            time.sleep(0.1)
        # Killed once its trial has checkpointed an epoch: mid-trial, with training under way.
        assert _training_trial_of(run_dir, "doomed"), (tmp_path / "log").read_text()
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        survivor = start(*common, "--worker", address, "--worker-id", "survivor", log=log)
        assert finish(survivor) == 0, (tmp_path / "log").read_text()
        assert finish(chief, timeout=120) == 0
    records = TrialLog(run_dir / "trials.jsonl").read()
    assert sorted(r.trial_id for r in records) == ["0", "1", "2", "3"]
    assert all(
        r.status == "COMPLETED" for r in records
    )  # the lost trial was re-issued and finished
    assert "worker doomed stopped responding during trial" in (tmp_path / "log").read_text()


def test_an_evolution_search_of_a_users_build_with_two_workers_finishes_its_budget(tmp_path):
    # A user's build(hp) named relative to each process' folder: the chief's and the workers' is
    # the same file; a worker whose folder holds an edited copy is refused, naming both hashes.
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "models.py").write_text(MODELS + "# edited\n")
    run_dir = tmp_path / "shared"
    common = ["--hypermodel", "models.py:build_model", "--tuner", "evolution"]
    common += ["--population-size", "2", "--max-trials", "5", "--epochs", "1"]
    common += ["--run-dir", str(run_dir)]
    with open(tmp_path / "log", "w") as log:
        chief, address = start_chief(*common, log=log, cwd=tmp_path)
        workers = [
            start(*common, "--worker", address, "--worker-id", f"w{i}", log=log, cwd=tmp_path)
            for i in (1, 2)
        ]
        token = tmp_path / "token"  # the edited worker keeps its own directory and token copy
        token.write_text((run_dir / "auth-token").read_text())
        token.chmod(0o600)
        edited = subprocess.run(
            cli(
                *common[:-1],
                str(tmp_path / "other"),
                "--worker",
                address,
                "--auth-token-file",
                str(token),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path / "edited",
        )
        assert [finish(p) for p in workers] == [0, 0], (tmp_path / "log").read_text()
        assert finish(chief, timeout=120) == 0
    assert edited.returncode == 2
    refusal = edited.stderr.strip().splitlines()[-1]
    recorded = json.loads((run_dir / "config.json").read_text())["space"]["hypermodel"]["sha256"]
    assert "differs from the chief's" in refusal and recorded[:16] in refusal, refusal
    run = load_run(run_dir)
    assert sorted(r.trial_id for r in run.records) == ["0", "1", "2", "3", "4"]
    assert all(
        r.status == "COMPLETED" and "learning_rate" in r.hyperparameters for r in run.records
    )
    initial = [r for r in run.records if r.mutation.startswith("initial: ")]
    assert len(initial) == 2  # the chief's oracle made the population once, for both workers
    ids = {r.trial_id for r in run.records}
    assert all(r.parent_trial_id in ids for r in run.records if r not in initial)


def test_a_chief_killed_mid_search_resumes_and_every_trial_is_trained_once(
    tiny_space_path, tmp_path
):
    run_dir = tmp_path / "shared"
    common = ["--space", tiny_space_path, "--max-trials", "6", "--epochs", "3", "--seed", "4"]
    common += ["--run-dir", str(run_dir), "--worker-timeout", "30"]
    with open(tmp_path / "log", "w") as log:
        chief, address = start_chief(*common, log=log)
        workers = [
            start_worker(common, address, i, "--connect-timeout", "90", log=log) for i in (1, 2)
        ]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(_lines(run_dir)) < 2:
            time.sleep(0.1)
        assert len(_lines(run_dir)) >= 2, (tmp_path / "log").read_text()
        chief.send_signal(signal.SIGKILL)  # mid-search: two trials done, two in training
        chief.wait()
        time.sleep(2)
        resumed = start(*common, "--chief", address, "--resume", log=log)
        codes = [finish(w) for w in workers] + [finish(resumed)]
    text = (tmp_path / "log").read_text()
    assert codes == [0, 0, 0], text
    trained = [json.loads(line)["trial_id"] for line in _lines(run_dir)]
    assert sorted(trained) == ["0", "1", "2", "3", "4", "5"], text  # each once: none retrained
    run = load_run(run_dir)
    assert sorted(r.trial_id for r in run.records) == sorted(trained)
    assert all(r.status == "COMPLETED" for r in run.records)
    assert "were ongoing when the chief stopped" in text


def _lines(run_dir):
    path = run_dir / "trials.jsonl"
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def _training_trial_of(run_dir, tuner_id):
    """Whether the chief records a trial of `tuner_id` as ongoing, and the worker has written
    that trial's first best-epoch checkpoint (Keras Tuner reports a trial's metrics only at its
    end, so the checkpoint is the sign that training is under way)."""
    try:
        ongoing = json.loads((run_dir / "oracle.json").read_text()).get("ongoing_trials", {})
    except (OSError, json.JSONDecodeError):
        return False
    trial_id = ongoing.get(tuner_id)
    if trial_id is None:
        return False
    trial_dir = run_dir / f"trial_{trial_id}"
    if not (trial_dir / "checkpoint.weights.h5").exists():
        return False
    try:  # still ongoing: not yet ended while we looked
        return json.loads((trial_dir / "trial.json").read_text()).get("status") == "RUNNING"
    except (OSError, json.JSONDecodeError):
        return False


def test_the_watchdog_forgets_a_worker_that_died_between_trials(tmp_path):
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=5)
    oracle._set_project_dir(str(tmp_path), "p")
    lost = []
    forgotten = threading.Event()

    def on_lost(tuner_id, trial_id, outcome):
        lost.append((tuner_id, trial_id, outcome))
        forgotten.set()

    watchdog = Watchdog(oracle, timeout=0.5, on_lost=on_lost)
    try:
        trial = oracle.create_trial("w1")
        oracle.update_trial(trial.trial_id, {"loss": 1.0})
        trial.status = kt.engine.trial.TrialStatus.COMPLETED
        oracle.end_trial(trial)
        assert oracle.tuner_ids == {"w1"}  # Keras Tuner's chief would wait for w1 for ever
        assert forgotten.wait(10)  # w1 never asks for its next trial
    finally:
        watchdog.close()
    assert oracle.tuner_ids == set() and lost == [("w1", None, "forgotten")]
    assert oracle.trials[trial.trial_id].status == "COMPLETED"  # its finished trial is untouched


def test_an_unreachable_chief_is_reported_in_bounded_time(tiny_space_path, tmp_path):
    # The port stays bound (not listening) during the test, so no other process can take it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        started = time.monotonic()
        result = _worker_without_chief(tiny_space_path, port, tmp_path)
    assert result.returncode == 2
    assert time.monotonic() - started < 60
    line = result.stderr.strip().splitlines()[-1]
    assert f"No chief answered at 127.0.0.1:{port} within 3 s" in line and "--chief" in line


def _worker_without_chief(tiny_space_path, port, tmp_path):
    return subprocess.run(
        cli(
            "--space",
            tiny_space_path,
            "--worker",
            f"127.0.0.1:{port}",
            "--connect-timeout",
            "3",
            "--run-dir",
            str(tmp_path / "w"),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BOTTLENECK_SEARCH_TOKEN": "a-token"},
    )
