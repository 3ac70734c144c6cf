"""The search job behind `bottleneck-search search`: run directory, resume, progress, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bottleneck_search import SearchConfig, TrialLog, run_search
from bottleneck_search.cli import main


def search_args(space, run_dir, *extra):
    return [
        "search",
        "--space",
        space,
        "--run-dir",
        str(run_dir),
        "--epochs",
        "1",
        "--max-trials",
        "2",
        *extra,
    ]


@pytest.mark.slow
def test_search_command_prints_progress_and_writes_the_run(capsys, tiny_space_path, tmp_path):
    code = main(search_args(tiny_space_path, tmp_path / "run", "--seed", "4"))
    out, err = capsys.readouterr()
    assert code == 0, err
    progress = [line for line in out.splitlines() if line.startswith("trial ")]
    assert [line.split()[1] for line in progress] == ["1/2", "2/2"]
    assert [line.split()[3].rstrip(")") for line in progress] == [
        "0",
        "1",
    ]  # Keras Tuner's trial ids
    assert all("MACs" in line and "val_acc" in line and "eta" in line for line in progress)
    assert "Pareto front (val accuracy vs MACs):" in out
    assert f"plot:   {tmp_path / 'run' / 'pareto.png'}" in out  # the report runs at the end
    assert (tmp_path / "run" / "pareto.png").stat().st_size > 10_000
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["arguments"]["seed"] == 4 and config["arguments"]["max_trials"] == 2
    assert set(config["versions"]) >= {"tensorflow", "keras", "keras_tuner", "bottleneck_search"}
    assert config["penalty"]["mode"] == "soft" and config["penalty"]["target_macs"] > 0
    assert len(TrialLog(tmp_path / "run" / "trials.jsonl").read()) == 2


@pytest.mark.slow
def test_seed_makes_the_architecture_sequence_reproducible(tiny_space_path, tmp_path):
    def sequence(name):
        result = run_search(
            SearchConfig(
                space=tiny_space_path, run_dir=str(tmp_path / name), max_trials=4, epochs=1, seed=11
            )
        )
        return [r.architecture for r in result.records]

    first = sequence("a")
    assert first == sequence("b")
    assert len({json.dumps(a) for a in first}) > 1


def test_an_existing_run_is_not_overwritten(capsys, tiny_space_path, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    code = main(search_args(tiny_space_path, tmp_path / "run"))
    _, err = capsys.readouterr()
    assert code == 2 and "already holds a run. Pass --resume" in err
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


@pytest.mark.slow
def test_resume_after_a_kill_finishes_with_distinct_trials(tmp_path):
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "bottleneck_search.cli",
        *search_args("inception_mini", run_dir),
    ]
    command[command.index("--max-trials") + 1] = "4"
    command[command.index("--epochs") + 1] = "2"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = TrialLog(run_dir / "trials.jsonl")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _completed_in_tuner(run_dir, 2):
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = {r.trial_id: r for r in log.read()}
    assert len(finished_before) in (2, 3)

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    lines = [
        json.loads(line)
        for line in (run_dir / "trials.jsonl").read_text().splitlines()
        if line.strip()
    ]
    ids = [line["trial_id"] for line in lines]
    assert len(set(ids)) == 4
    for trial_id in _completed_ids(run_dir):
        assert ids.count(trial_id) == 1  # a trial the tuner had finished was never trained again
    assert all(log.read_by_id()[i] == r for i, r in finished_before.items())


def _trial_files(run_dir):
    for name in os.listdir(run_dir) if run_dir.exists() else []:
        path = run_dir / name / "trial.json"
        if name.startswith("trial_") and path.exists():
            try:
                yield json.loads(path.read_text())
            except json.JSONDecodeError:
                continue


def _completed_in_tuner(run_dir, count):
    return sum(t["status"] == "COMPLETED" for t in _trial_files(run_dir)) >= count


def _completed_ids(run_dir):
    return [t["trial_id"] for t in _trial_files(run_dir) if t["status"] == "COMPLETED"]


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "mnist"], "Unknown data set 'mnist'. Valid forms: digits, tfds:NAME"),
        (["--dataset", "tfds:mnist", "--data-dir", "{tmp}"], "not available offline"),
        (["--dataset", "folder:{tmp}/empty"], "has no class sub-folders"),
        (["--max-macs", "1000"], "below the cheapest architecture"),
        (["--space", "{tmp}/two.yaml"], "cannot be adapted"),
        (["--space", "nonesuch"], "No shipped search space named 'nonesuch'"),
        (["--model", "{tmp}/none.keras"], "does not exist"),
    ],
    ids=[
        "unknown_dataset",
        "tfds_offline",
        "empty_folder",
        "budget_below_cheapest",
        "unadaptable",
        "unknown_space",
        "missing_model",
    ],
)
def test_bad_input_is_one_line_and_trains_nothing(
    capsys, tiny_space_path, tmp_path, extra, message
):
    (tmp_path / "empty").mkdir()
    _write(
        tmp_path / "two.yaml", Path(tiny_space_path).read_text().replace("[8, 8, 1]", "[8, 8, 2]")
    )
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    args = search_args(tiny_space_path, tmp_path / "run", *extra)
    if "--space" in extra or "--model" in extra:
        args = args[:1] + args[3:]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "run" / "trials.jsonl").exists()


@pytest.mark.slow
def test_resume_with_other_arguments_is_refused(capsys, tiny_space_path, tmp_path):
    assert main(search_args(tiny_space_path, tmp_path / "run")) == 0
    capsys.readouterr()
    code = main(search_args(tiny_space_path, tmp_path / "run", "--resume", "--seed", "9"))
    _, err = capsys.readouterr()
    assert code == 2 and "Cannot resume" in err and "seed: 0 -> 9" in err


@pytest.mark.slow
def test_mirrored_strategy_runs_with_one_replica_on_cpu(capsys, tiny_space_path, tmp_path):
    import tensorflow as tf

    assert tf.distribute.MirroredStrategy().num_replicas_in_sync == 1  # this machine: CPU only
    code = main(search_args(tiny_space_path, tmp_path / "run", "--strategy", "mirrored"))
    _, err = capsys.readouterr()
    assert code == 0, err
    records = TrialLog(tmp_path / "run" / "trials.jsonl").read()
    assert len(records) == 2 and all(r.status == "COMPLETED" for r in records)


@pytest.mark.slow
def test_ctrl_c_stops_with_130_and_prints_a_working_resume_command(tiny_space_path, tmp_path):
    import shlex

    run_dir = tmp_path / "run"
    args = [
        "search",
        "--space",
        tiny_space_path,
        "--max-trials",
        "5",
        "--epochs",
        "3",
        "--run-dir",
        str(run_dir),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "bottleneck_search.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = TrialLog(run_dir / "trials.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not log.read():
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert (
        "stopping at the next batch (Ctrl-C again to stop now)" in err
    )  # deferred to a safe point
    line = err.strip().splitlines()[-1]
    assert line.startswith(
        f"bottleneck-search search: interrupted; finished trials are kept in {run_dir}."
    )
    command = shlex.split(line.split("Resume with: ", 1)[1])
    assert command[0] == "bottleneck-search" and command[-1] == "--resume"
    kept = {r.trial_id for r in log.read()}
    resumed = subprocess.run(
        [sys.executable, "-m", "bottleneck_search.cli", *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = log.read()
    assert len(records) == 5 and kept <= {r.trial_id for r in records}
