"""The search job behind `bottleneck-search search`: run directory, resume, progress, bad input."""

import json
import shutil

import pytest
from conftest import search_argv

from bottleneck_search import SearchConfig, run_search
from bottleneck_search.cli import main
from bottleneck_search.rundir.trial_log import TrialLog


# Not slow: the integration core (the CLI's search, its trials, the run record and the report)
# is in `make test-fast` too.
def test_search_command_prints_progress_and_writes_the_run(capsys, tiny_space_path, tmp_path):
    code = main(search_argv(tiny_space_path, tmp_path / "run", "--seed", "4"))
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
def test_seed_makes_the_architecture_sequence_reproducible(tiny_space_path, tiny_run, tmp_path):
    # conftest's `tiny_run` is this search with seed 2: the same seed proposes the same sequence.
    result = run_search(
        SearchConfig.from_arguments(
            {
                "space": tiny_space_path,
                "run_dir": str(tmp_path / "again"),
                "max_trials": 3,
                "epochs": 2,
                "seed": 2,
                "confirm": 0,
            }
        )
    )
    first = [r.architecture for r in TrialLog(tiny_run / "trials.jsonl").read()]
    assert [r.architecture for r in result.records] == first
    assert len({json.dumps(a) for a in first}) > 1


def test_an_existing_run_is_not_overwritten(capsys, tiny_space_path, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    code = main(search_argv(tiny_space_path, tmp_path / "run"))
    _, err = capsys.readouterr()
    assert code == 2 and "already holds a run. Resume it (resume=True; --resume)" in err
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


@pytest.mark.slow
def test_resume_with_other_arguments_is_refused(capsys, tiny_space_path, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "run")  # a finished search with seed 2
    argv = search_argv(tiny_space_path, tmp_path / "run", "--resume", trials=3, epochs=2)
    code = main([*argv, "--seed", "9"])
    _, err = capsys.readouterr()
    assert code == 2 and "Cannot resume" in err and "seed: 2 -> 9" in err


@pytest.mark.slow
def test_mirrored_strategy_runs_with_one_replica_on_cpu(capsys, tiny_space_path, tmp_path):
    import tensorflow as tf

    assert tf.distribute.MirroredStrategy().num_replicas_in_sync == 1  # this machine: CPU only
    code = main(search_argv(tiny_space_path, tmp_path / "run", "--strategy", "mirrored"))
    _, err = capsys.readouterr()
    assert code == 0, err
    records = TrialLog(tmp_path / "run" / "trials.jsonl").read()
    assert len(records) == 2 and all(r.status == "COMPLETED" for r in records)
