"""The confirmation stage: seeds' means and spreads, the recommendation, resuming after a kill,
exports of confirmed weights, and the test split kept away from the search."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, search_argv

from bottleneck_search import Confirmation, Proposer, SearchConfig, TrialTraining, run_search
from bottleneck_search.results.confirmed import noise_margin, summarise
from bottleneck_search.rundir.confirmations import (
    NO_BOTTLENECK,
    ConfirmationLog,
    ConfirmationRecord,
    architecture_key,
)
from bottleneck_search.search.jobs.confirm import confirm_run
from bottleneck_search.stats import mean_and_std


def own_copy(run_dir, tmp_path):
    """A copy of the session's shared run, so that confirming it changes no other test's run."""
    return shutil.copytree(run_dir, tmp_path / "tiny")


def record(widths, seed, val, test=0.5, macs=100, labels=("front",)):
    return ConfirmationRecord(
        architecture=widths,
        labels=labels,
        seed=seed,
        val_accuracy=val,
        test_accuracy=test,
        macs=macs,
        params=10,
        epochs=1,
        seconds=1.0,
        weights=ConfirmationRecord.weights_path(architecture_key(widths), seed),
    )


def test_means_spreads_margin_and_a_tie_resolved_to_the_cheapest():
    cheap = [record({"a": 4}, s, v, macs=100) for s, v in ((1, 0.80), (2, 0.84), (3, 0.82))]
    base = [
        record({"a": None}, s, v, test=0.6, macs=400, labels=(NO_BOTTLENECK,))
        for s, v in ((1, 0.83), (2, 0.81), (3, 0.85))
    ]
    far = [record({"a": 2}, s, v, macs=50) for s, v in ((1, 0.60), (2, 0.62), (3, 0.61))]
    confirmation = summarise(cheap + base + far)
    rows = {row.macs: row for row in confirmation.rows}
    assert (rows[100].val_mean, rows[100].val_std) == pytest.approx(mean_and_std([0.8, 0.84, 0.82]))
    assert rows[100].val_std == pytest.approx(0.02)
    # Pooled std of the three (0.02, 0.02, 0.01): sqrt((0.0004 + 0.0004 + 0.0001) / 3).
    pooled = ((0.0004 + 0.0004 + 0.0001) / 3) ** 0.5
    assert confirmation.margin == pytest.approx(2 * pooled * (2 / 3) ** 0.5)
    assert noise_margin(list(confirmation.rows)) == confirmation.margin
    # 0.82 and 0.83 are tied; 0.61 is not: the cheapest of the tied is recommended.
    assert [row.macs for row in confirmation.tied] == [100, 400]
    assert confirmation.recommended is rows[100] and confirmation.baseline is rows[400]
    text = " ".join(confirmation.sentences())
    assert "These 2 architectures are indistinguishable at this budget" in text
    assert "the cheapest saves 75% of MACs" in text
    assert "4.00x fewer MACs, validation -1.00 points (within the seed noise" in text
    assert "test -10.00 points" in text


def test_a_clear_winner_is_called_one():
    best = [record({"a": 4}, s, v) for s, v in ((1, 0.90), (2, 0.91))]
    worse = [record({"a": 8}, s, v, macs=50) for s, v in ((1, 0.70), (2, 0.71))]
    confirmation = summarise(best + worse)
    assert confirmation.tied == (confirmation.recommended,)
    assert confirmation.recommended.macs == 100
    assert "ahead of every other architecture by more than the noise margin" in " ".join(
        confirmation.sentences()
    )


@pytest.fixture(scope="module")
def confirmed_run(tiny_run, tmp_path_factory):
    """A copy of the session's run, confirmed with its best and no bottleneck, two seeds each:
    `(run directory, the records confirm_run returned)`."""
    run_dir = own_copy(tiny_run, tmp_path_factory.mktemp("confirmed"))
    return run_dir, confirm_run(run_dir, top=1, seeds=2)


@pytest.mark.slow
def test_confirming_a_run_retrains_each_candidate_per_seed_and_never_twice(confirmed_run):
    tiny_run, records = confirmed_run
    assert len(records) == 2 * len({r.key for r in records})
    assert {r.seed for r in records} == {3, 4}  # the search's seed (2) + 1, + 2
    assert any(NO_BOTTLENECK in r.labels for r in records)
    assert all(r.test_accuracy > 0.2 and r.val_accuracy > 0.2 for r in records)  # chance: 0.1
    for r in records:
        assert os.path.isfile(tiny_run / r.weights)
    again = []
    assert confirm_run(tiny_run, top=1, seeds=2, on_progress=again.append) == records
    assert again == []  # nothing retrained
    confirmation = summarise(records)
    row = confirmation.rows[0]
    group = [
        r
        for r in records
        if r.key
        == ConfirmationRecord.weights_path(architecture_key(row.architecture), 0).split("/")[1]
    ]
    assert (row.val_mean, row.val_std) == pytest.approx(
        mean_and_std([r.val_accuracy for r in group])
    )


@pytest.mark.slow
def test_an_export_takes_the_confirmed_weights(confirmed_run, tmp_path, cli):
    tiny_run, records = confirmed_run
    code, out, err = cli("export", tiny_run, "--top", "3", "--out", tmp_path / "out")
    assert code == 0, err
    listing = json.loads((tmp_path / "out" / "exports.json").read_text())
    confirmed_keys = {r.key for r in records}
    for entry in listing["exports"]:
        folder = tmp_path / "out" / entry["folder"]
        description = json.loads((folder / "architecture.json").read_text())
        if architecture_key(description["sites"]) in confirmed_keys:
            assert description["weights"].startswith("confirmation run with seed")
            assert description["confirmed"]["seeds"] == 2
        else:
            assert description["weights"] == "final epoch of the trial"
    assert any(
        "confirmed"
        in json.loads((tmp_path / "out" / e["folder"] / "architecture.json").read_text())
        for e in listing["exports"]
    )


@pytest.mark.slow
def test_killed_mid_confirmation_resumes_without_losing_or_repeating_a_run(
    tiny_space_path, tmp_path
):
    run_dir = tmp_path / "run"
    argv = search_argv(tiny_space_path, run_dir, "--confirm", "1", "--confirm-seeds", "2")
    killed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "kill_at.py"),
            "confirmations-jsonl",
            "2",
            "--",
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    before = ConfirmationLog(run_dir).read()
    assert len(before) == 1  # the second line was cut in half: not a record
    resumed = subprocess.run(
        [sys.executable, "-m", "bottleneck_search.cli", *argv, "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = ConfirmationLog(run_dir).read()
    planned = 2 * len({r.key for r in after})
    assert len(after) == planned and len({(r.key, r.seed) for r in after}) == planned
    assert before[0] in after  # kept, not retrained
    assert f"(1 of {planned} runs already recorded)" in resumed.stdout


@pytest.mark.slow
def test_the_search_never_sees_the_test_split(tiny_space_path, tmp_path, monkeypatch):
    from bottleneck_search.search.jobs import tuning as job

    seen = {}
    original = job.make_tuner

    def spying_make_tuner(*args, **kwargs):
        tuner = original(*args, **kwargs)
        search = tuner.search

        def counting_search(train, validation_data=None, **fit_kwargs):
            seen["train"] = sum(len(y) for _, y in train)
            seen["val"] = sum(len(y) for _, y in validation_data)
            return search(train, validation_data=validation_data, **fit_kwargs)

        tuner.search = counting_search
        return tuner

    monkeypatch.setattr(job, "make_tuner", spying_make_tuner)
    run_dir = tmp_path / "run"
    run_search(
        SearchConfig(
            space=tiny_space_path,
            proposer=Proposer(max_trials=1),
            training=TrialTraining(epochs=1),
            confirm=Confirmation(top=0),
            run_dir=str(run_dir),
        )
    )
    recorded = json.loads((run_dir / "config.json").read_text())["dataset"]
    assert (
        seen == {"train": recorded["train"], "val": recorded["val"]} == {"train": 1222, "val": 305}
    )
    assert recorded["test"] == 270 and 1222 + 305 + 270 == 1797
