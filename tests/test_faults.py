"""Fault injection: each test really causes the fault (a SIGKILL at a chosen point, a Ctrl-C, a
diverging or failing trial, a failed write), then checks that nothing finished was lost, nothing
half-written passes for a result, and the documented way to carry on works."""

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import pytest
from conftest import search_argv

from bottleneck_search import (
    BottleneckHyperModel,
    SearchSpace,
    make_tuner,
)
from bottleneck_search.cli import main
from bottleneck_search.rundir.trial_log import TrialLog

pytestmark = pytest.mark.slow

KILL_AT = str(Path(__file__).resolve().parent / "kill_at.py")
TRIALS = 3


def _kill_at(point, n, argv):
    """Runs the CLI until it SIGKILLs itself at `point` the `n`-th time."""
    result = subprocess.run(
        [sys.executable, KILL_AT, point, str(n), "--", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    return result


def _tuner_trials(run_dir):
    """Keras Tuner's own view: `{trial_id: status}` from every `trial_*/trial.json`."""
    return {
        json.loads(path.read_text())["trial_id"]: json.loads(path.read_text())["status"]
        for path in run_dir.glob("trial_*/trial.json")
    }


def _logged_lines(run_dir):
    """The trial ids of the whole lines of trials.jsonl, repeats included."""
    ids = []
    for line in (run_dir / "trials.jsonl").read_text().splitlines():
        try:
            ids.append(json.loads(line)["trial_id"])
        except json.JSONDecodeError:
            continue  # the line a kill cut short
    return ids


# Where the process dies, the n-th time (counted in that process) it gets there, and the evidence
# on disk that it died there, given how many trials were logged before that process started.
KILL_POINTS = {
    "during_a_trial": (  # the first process, a fresh search: killed in its second trial
        "epoch",
        2,
        lambda run, logged: _tuner_trials(run).get("1") == "RUNNING",
    ),
    "between_trials": (
        "trial-end",
        1,
        lambda run, logged: len(TrialLog(run / "trials.jsonl").read()) == logged + 1,
    ),
    "writing_trials_jsonl": (
        "trials-jsonl",
        2,
        lambda run, logged: not (run / "trials.jsonl").read_text().endswith("\n"),
    ),
    "writing_oracle_json": (
        "state:oracle.json",
        4,
        lambda run, logged: any(run.glob(".tmp-*oracle.json")),
    ),
    "writing_trial_json": (
        "state:trial.json",
        6,
        lambda run, logged: any(run.glob("trial_*/.tmp-*trial.json")),
    ),
}
# Enough trials that every resumed process gets to its kill point before the budget is spent.
CHAINED_TRIALS = 8


def test_a_search_killed_at_each_point_in_turn_resumes_and_keeps_every_finished_trial_once(
    capsys, tiny_space_path, tmp_path
):
    # One search, killed at each point in turn: the first process fresh, each later one with
    # --resume (as a user would), and the last resume in this process, to the end of the budget.
    run_dir = tmp_path / "run"
    argv = search_argv(tiny_space_path, run_dir, trials=CHAINED_TRIALS, epochs=2)
    kept = {}  # trial id -> its record, for every trial finished before some kill
    for index, (name, (point, n, died_there)) in enumerate(KILL_POINTS.items()):
        logged = len(TrialLog(run_dir / "trials.jsonl").read()) if index else 0
        _kill_at(point, n, [*argv, "--resume"] if index else argv)
        assert died_there(run_dir, logged), name
        records = TrialLog(run_dir / "trials.jsonl").read_by_id()
        finished = [t for t, status in _tuner_trials(run_dir).items() if status == "COMPLETED"]
        assert len(finished) > len(kept), name  # each process finished a trial before its kill
        for trial_id in finished:  # kept as it was when it finished, through every later kill
            assert records[trial_id] == kept.setdefault(trial_id, records[trial_id]), name

    code = main([*argv, "--resume"])
    out, err = capsys.readouterr()

    assert code == 0, err
    progress = [line for line in out.splitlines() if line.startswith("trial ")]
    assert progress[-1].startswith(f"trial {CHAINED_TRIALS}/{CHAINED_TRIALS} ")  # counted once
    assert "Reloading Tuner" not in out
    records = TrialLog(run_dir / "trials.jsonl").read()
    assert len(records) == CHAINED_TRIALS and all(r.status == "COMPLETED" for r in records)
    assert len({r.trial_id for r in records}) == CHAINED_TRIALS
    assert list(_tuner_trials(run_dir).values()) == ["COMPLETED"] * CHAINED_TRIALS
    lines = _logged_lines(run_dir)
    by_id = TrialLog(run_dir / "trials.jsonl").read_by_id()
    for trial_id, record in kept.items():  # finished before a kill: never trained again
        assert lines.count(trial_id) == 1 and by_id[trial_id] == record
    assert not list(run_dir.rglob(".tmp-*"))  # the half-written state files were cleared away


def test_an_export_killed_midway_leaves_nothing_that_looks_complete(capsys, tiny_run, tmp_path):
    out = tmp_path / "export"
    assert main(["export", str(tiny_run), "--out", str(out)]) == 0
    before = json.loads((out / "exports.json").read_text())
    argv = ["export", str(tiny_run), "--top", "2", "--out", str(out), "--overwrite"]

    _kill_at("export", 1, argv)  # after the first of two trial folders

    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]
    assert len(staged) == 1 and list(staged[0].glob("trial_*/model.keras"))  # died midway
    assert json.loads((out / "exports.json").read_text()) == before  # the old export is intact
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["export"]
    capsys.readouterr()
    assert main(argv) == 0
    listing = json.loads((out / "exports.json").read_text())
    assert sorted(e["folder"] for e in listing["exports"]) == sorted(
        p.name for p in out.iterdir() if p.is_dir()
    )
    assert len(listing["exports"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]  # cleaned up


def test_an_export_killed_before_its_first_output_leaves_no_folder(capsys, tiny_run, tmp_path):
    out = tmp_path / "export"
    argv = ["export", str(tiny_run), "--top", "2", "--out", str(out)]
    _kill_at("export", 2, argv)  # both folders staged, killed before the rename
    assert not out.exists()
    assert main(argv) == 0
    assert len(json.loads((out / "exports.json").read_text())["exports"]) == 2


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(
    tiny_space_path, digits, tmp_path
):
    space = SearchSpace.from_yaml(tiny_space_path)
    hypermodel = BottleneckHyperModel(space, optimizer=keras.optimizers.SGD(learning_rate=1e30))
    tuner = make_tuner(
        "random", hypermodel, directory=tmp_path, project_name="nan", max_trials=2, seed=0
    )
    tuner.search(digits.train.take(3), validation_data=digits.val, epochs=2, verbose=0)
    records = TrialLog(tmp_path / "nan" / "trials.jsonl").read()
    assert [r.status for r in records] == ["FAILED", "FAILED"]  # no stop after the first
    assert all("loss became NaN or infinite in epoch 1" in r.reason for r in records)
    assert all(t.status == "FAILED" for t in tuner.oracle.trials.values())


def test_a_trial_whose_build_raises_is_failed_with_the_reason_and_the_search_goes_on(
    monkeypatch, tiny_space_path, digits, tmp_path
):
    space = SearchSpace.from_yaml(tiny_space_path)
    tuner = make_tuner(
        "random", BottleneckHyperModel(space), directory=tmp_path, project_name="b", max_trials=4
    )
    original = SearchSpace.build
    builds = []

    def build(self, architecture):  # the search's second build raises
        builds.append(architecture)
        if len(builds) == 2:
            raise ValueError("injected fault in build")
        return original(self, architecture)

    monkeypatch.setattr(SearchSpace, "build", build)
    tuner.search(digits.train, validation_data=digits.val, epochs=1, verbose=0)
    records = TrialLog(tmp_path / "b" / "trials.jsonl").read()
    assert [r.status for r in records] == ["COMPLETED", "FAILED", "COMPLETED", "COMPLETED"]
    assert records[1].reason == "build failed: ValueError: injected fault in build"
    assert records[1].architecture == builds[1].widths
    assert tuner.oracle.trials[records[1].trial_id].status == "FAILED"


def test_a_bug_of_ours_stops_the_search_instead_of_failing_every_trial(
    tiny_space_path, digits, tmp_path
):
    hypermodel = BottleneckHyperModel(SearchSpace.from_yaml(tiny_space_path))
    tuner = make_tuner("random", hypermodel, directory=tmp_path, project_name="bug", max_trials=3)
    tuner.hypermodel.task = object()  # our compile then calls task.new_loss(): an AttributeError
    with pytest.raises(keras_tuner.errors.FatalError, match="a bug of bottleneck-search") as raised:
        tuner.search(digits.train, validation_data=digits.val, epochs=1, verbose=0)
    assert "training/fit.py" in str(raised.value) and "AttributeError" in str(raised.value)
    log = tmp_path / "bug" / "trials.jsonl"
    assert not log.exists() or TrialLog(log).read() == []  # no trial blamed for it


def test_many_failures_in_a_row_stop_the_search_with_the_reason(
    cli, monkeypatch, tiny_space_path, tmp_path
):
    def build(self, architecture):
        raise MemoryError("injected: out of memory")

    monkeypatch.setattr(SearchSpace, "build", build)
    run_dir = tmp_path / "run"
    argv = [
        *search_argv(tiny_space_path, run_dir, trials=6, epochs=2),
        "--max-consecutive-failures",
        "2",
    ]
    code, _, err = cli(*argv)
    assert code == 1
    assert err.strip().splitlines() == [
        "bottleneck-search search: error: Stopped: 2 trials in a row failed "
        "(max_consecutive_failures=2; --max-consecutive-failures). The last (trial 1): build failed: MemoryError: "
        "injected: out of memory. Fix the cause (often the learning rate, the data or the "
        "space), then resume (resume=True; --resume); finished trials are kept."
    ]
    records = TrialLog(run_dir / "trials.jsonl").read()
    assert [r.status for r in records] == ["FAILED", "FAILED"]


def test_a_run_directory_that_cannot_be_written_is_refused_before_training(
    cli, tiny_space_path, tmp_path
):
    (tmp_path / "a_file").write_text("")
    for run_dir in ("/sys/bottleneck-search-run", tmp_path / "a_file" / "run"):
        code, _, err = cli(*search_argv(tiny_space_path, run_dir, trials=TRIALS, epochs=2))
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert f"Run directory '{run_dir}' cannot be written" in err


def test_too_little_free_disk_is_refused_before_training(
    cli, monkeypatch, tiny_space_path, tmp_path
):
    real = shutil.disk_usage

    def almost_full(path):
        return real(path)._replace(free=100 * 1024)

    monkeypatch.setattr(shutil, "disk_usage", almost_full)
    run_dir = tmp_path / "run"
    code, _, err = cli(*search_argv(tiny_space_path, run_dir, trials=TRIALS, epochs=2))
    assert code == 2
    assert err.strip().splitlines() == [
        f"bottleneck-search search: error: argument --run-dir: Run directory '{run_dir}' has "
        "0.1 MiB free, but this search writes about 0.2 MiB (checkpoints and tuner state). Free "
        f"some space or choose another run_dir. Received: run_dir='{run_dir}'."
    ]
    assert not (run_dir / "trials.jsonl").exists()


def _no_space(path):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _fail_tuner_state_write(monkeypatch):
    """ENOSPC on Keras Tuner's first `trial.json` write after one trial has finished."""
    from bottleneck_search.search.jobs import tuner_state

    original = tuner_state.write_atomically
    seen = []

    def write(path, text):
        seen.append(path)
        if os.path.basename(path) == "trial.json" and len(seen) > 5:
            _no_space(path)
        original(path, text)

    monkeypatch.setattr(tuner_state, "write_atomically", write)


def _fail_checkpoint_write(monkeypatch):
    """ENOSPC when the second trial saves its best-epoch checkpoint."""
    original = keras.Model.save_weights
    calls = []

    def save_weights(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len({os.path.dirname(c) for c in calls}) == 2:
            _no_space(filepath)
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", save_weights)


@pytest.mark.parametrize(
    "fail", [_fail_tuner_state_write, _fail_checkpoint_write], ids=["tuner_state", "checkpoint"]
)
def test_a_disk_that_fills_up_mid_search_stops_it_with_one_line_and_resume_finishes(
    cli, monkeypatch, tiny_space_path, tmp_path, fail
):
    run_dir = tmp_path / "run"
    argv = search_argv(tiny_space_path, run_dir, trials=TRIALS)
    with monkeypatch.context() as patch:
        fail(patch)
        code, _, err = cli(*argv)
    assert code == 1
    assert err.strip().splitlines() == [
        f"bottleneck-search search: error: Cannot write to run directory '{run_dir}': No space "
        f"left on device ('{_failed_path(err)}'). The finished trials are kept; free disk space "
        "or fix the directory's permissions, then resume it (resume=True; --resume)."
    ]
    kept = TrialLog(run_dir / "trials.jsonl").read()
    assert [r.status for r in kept] == ["COMPLETED"]  # the trial cut off is not recorded at all

    code, _, err = cli(*argv, "--resume")
    assert code == 0, err
    records = TrialLog(run_dir / "trials.jsonl").read()
    assert len(records) == TRIALS and all(r.status == "COMPLETED" for r in records)
    assert records[0] == kept[0] and _logged_lines(run_dir).count(kept[0].trial_id) == 1


def test_a_disk_that_fills_up_mid_export_leaves_no_output_and_one_line(
    capsys, monkeypatch, tiny_run, tmp_path
):
    from bottleneck_search.results import export

    monkeypatch.setattr(export, "write_atomically", lambda path, text: _no_space(path))
    out = tmp_path / "export"
    code = main(["export", str(tiny_run), "--top", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("bottleneck-search export: error: No space left on device ('")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _failed_path(err):
    return err.split("No space left on device ('", 1)[1].split("')", 1)[0]


def test_ctrl_c_stops_with_130_and_prints_a_working_resume_command(tiny_space_path, tmp_path):
    run_dir = tmp_path / "run"
    args = search_argv(tiny_space_path, run_dir, trials=4, epochs=2)
    process = subprocess.Popen(
        [sys.executable, "-m", "bottleneck_search.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = TrialLog(run_dir / "trials.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not log.read() and process.poll() is None:
        time.sleep(0.2)
    # Interrupt only a search that is under way with a trial kept; anything else is a failure.
    assert process.poll() is None and log.read(), "no trial finished within 120 s"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "stopping at the next batch (Ctrl-C again to stop now)" in err  # a safe point
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        f"bottleneck-search search: interrupted; finished trials are kept in {run_dir}."
    )
    command = shlex.split(line.split("Resume with: ", 1)[1])
    assert command[0] == "bottleneck-search" and command[-1] == "--resume"
    kept = {r.trial_id: r for r in log.read()}
    resumed = subprocess.run(
        [sys.executable, "-m", "bottleneck_search.cli", *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = log.read_by_id()
    assert len(records) == 4 and all(records[i] == r for i, r in kept.items())
