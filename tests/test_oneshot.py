"""`search --strategy oneshot`: the supernet trains, every architecture of a small space (or an
evolution's choice in a larger one) is scored with its weights and recorded as a trial of source
`supernet`, the best are retrained from scratch; kill -9 during training or evaluation resumes."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import search_argv

from bottleneck_search import load_run
from bottleneck_search.rundir.confirmations import ConfirmationLog
from bottleneck_search.rundir.trial_log import TrialLog

pytestmark = pytest.mark.slow
KILL_AT = str(Path(__file__).resolve().parent / "kill_at.py")


def _oneshot_argv(space, run_dir, *extra, supernet_epochs=3):
    return search_argv(
        space, run_dir, "--strategy", "oneshot", "--supernet-epochs", str(supernet_epochs), *extra
    )


def _cli(argv, kill_at=None):
    prefix = (
        [KILL_AT, kill_at[0], str(kill_at[1]), "--"] if kill_at else ["-m", "bottleneck_search.cli"]
    )
    return subprocess.run(
        [sys.executable, *prefix, *argv], capture_output=True, text=True, timeout=400
    )


def _architectures(records) -> list[str]:
    return [json.dumps(r.architecture, sort_keys=True) for r in records]


def test_every_architecture_is_scored_by_the_supernet_and_the_best_retrained(
    tmp_path, tiny_space_path, cli
):
    argv = _oneshot_argv(
        tiny_space_path, tmp_path / "run", "--confirm", "1", "--confirm-seeds", "1"
    )
    result = _cli(argv)
    assert result.returncode == 0, result.stderr
    assert "supernet  epoch 3/3" in result.stdout
    assert "evaluating all 9 architectures" in result.stdout
    run = load_run(tmp_path / "run")
    records = run.records
    assert len(records) == 9 and len(set(_architectures(records))) == 9
    assert all(r.source == "supernet" and r.epochs == 0 for r in records)
    assert all(r.macs == run.space().macs(r.architecture) for r in records)
    assert max(r.val_accuracy for r in records) > 0.3  # 10 classes: chance is 0.1
    confirmations = ConfirmationLog(tmp_path / "run").read()
    assert confirmations and all(c.epochs == 1 for c in confirmations)  # retrained from scratch
    report = (tmp_path / "run" / "report.md").read_text()
    assert "estimated with the supernet's weights" in report
    assert "These accuracies are the supernet's estimates" in result.stdout
    # The best trial was retrained, so it exports; the other eight never were.
    assert cli("export", tmp_path / "run")[0] == 0
    code, _, err = cli("export", tmp_path / "run", "--top", "9", "--overwrite")
    assert code == 2 and "scored with a one-shot search's supernet and never trained" in err


def test_a_larger_space_is_searched_by_evolution_on_the_supernet(tmp_path, wide_space):
    result = _cli(_oneshot_argv(wide_space, tmp_path / "run", "--evaluate", "6", supernet_epochs=1))
    assert result.returncode == 0, result.stderr
    assert "evaluating 6 of 49 architectures chosen by evolution" in result.stdout
    records = TrialLog(tmp_path / "run" / "trials.jsonl").read()
    assert len(records) == 6 and len(set(_architectures(records))) == 6
    lineage = (tmp_path / "run" / "lineage.jsonl").read_text().splitlines()
    assert len(lineage) == 6 and sum('"parent_trial_id": null' in line for line in lineage) == 2


def test_kill_during_training_then_during_evaluation_resumes_after_the_last_step(
    tmp_path, wide_space
):
    argv = _oneshot_argv(wide_space, tmp_path / "run", supernet_epochs=3)
    killed = _cli(argv, kill_at=("supernet-epoch", 2))
    assert killed.returncode == -signal.SIGKILL
    assert "supernet  epoch 2/3" in killed.stdout
    assert not (tmp_path / "run" / "supernet.weights.h5").exists()

    # Resumed: trains the last epoch only, then is killed halfway through the 5th evaluation's line.
    killed = _cli([*argv, "--resume"], kill_at=("trials-jsonl", 5))
    assert killed.returncode == -signal.SIGKILL
    epochs = [line.split()[2] for line in killed.stdout.splitlines() if "supernet  epoch" in line]
    assert epochs == ["3/3"]  # the two finished epochs were not trained again
    log = TrialLog(tmp_path / "run" / "trials.jsonl")
    assert len(log.read()) == 4

    resumed = _cli([*argv, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "trained weights loaded" in resumed.stdout and "supernet  epoch" not in resumed.stdout
    records = log.read()
    assert len(records) == 49 and len(set(_architectures(records))) == 49
    assert sorted(int(r.trial_id) for r in records) == list(range(49))
