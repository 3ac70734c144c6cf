"""The whole search job on a Keras Tuner user's own `build(hp)`: `search --hypermodel FILE.py:FUNCTION`
with trainer processes, the confirmation, the report, `export` and the model rebuilt from its
`hyperparameters.json`; a kill and `--resume`; a changed file refused; broken builds refused
before anything is written."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from bottleneck_search import SearchConfigError, build_from_hyperparameters, count_flops
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.space.user_build import UserBuild

ROOT = Path(__file__).resolve().parent.parent
KILL_AT = str(ROOT / "tests" / "kill_at.py")

# A keras.io-style build(hp): two bottleneck_conv sites, filters, dropout and a learning rate of
# the user's own, compiled by the user (the example docs/own-tuner-code.md searches).
MODELS = (ROOT / "docs" / "examples" / "own_build.py").read_text()


def _search(run_dir, reference, *extra, trials=3):
    return [
        "search",
        "--hypermodel",
        reference,
        "--run-dir",
        str(run_dir),
        "--max-trials",
        str(trials),
        "--epochs",
        "2",
        *extra,
    ]


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


@pytest.mark.slow
def test_a_hypermodel_search_in_trainers_is_confirmed_exported_and_rebuilt(cli, models, tmp_path):
    run_dir = tmp_path / "run"
    argv = _search(run_dir, f"{models}:build_model", "--tuner", "evolution")
    argv += ["--population-size", "2", "--trials-per-process", "3"]  # one trainer, all trials
    code, out, err = cli(*argv, "--confirm", "1", "--confirm-seeds", "2")
    assert code == 0, err
    assert "compiled and trained as" in out  # the user's compile, not our recipe

    build = UserBuild.from_reference(f"{models}:build_model")
    records = TrialLog(run_dir / "trials.jsonl").read()
    assert sorted(r.trial_id for r in records) == ["0", "1", "2"]
    assert all(r.status == "COMPLETED" and r.worker == "trainer" for r in records)
    for record in records:  # every value recorded; the MACs those values' model counts to
        assert {"filters", "dropout", "learning_rate", "mid1/reduce", "mid2/reduce"} <= set(
            record.hyperparameters
        )
        assert record.macs == count_flops(build.build_model(record.hyperparameters)).macs
    assert max(r.val_accuracy for r in records) > 0.3  # 10 classes: chance is 0.1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["space"]["hypermodel"]["path"] == str(models)

    confirmations = [json.loads(line) for line in (run_dir / "confirmations.jsonl").open()]
    assert len(confirmations) == 4  # the best front point and the defaults, 2 seeds each
    assert {label for c in confirmations for label in c["labels"]} == {"front", "no bottleneck"}
    assert all(c["hyperparameters"] for c in confirmations)
    assert "learning_rate=" in (run_dir / "report.md").read_text()

    code, _, err = cli("export", run_dir)
    assert code == 0, err
    folder = (
        run_dir
        / "export"
        / json.loads((run_dir / "export" / "exports.json").read_text())["exports"][0]["folder"]
    )
    trained = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    rebuilt = build_from_hyperparameters(folder / "hyperparameters.json")
    assert count_flops(rebuilt).macs == count_flops(trained).macs
    rebuilt.set_weights(trained.get_weights())
    images = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(
        rebuilt.predict(images, verbose=0), trained.predict(images, verbose=0)
    )


@pytest.mark.slow
def test_a_killed_hypermodel_search_resumes_once_and_refuses_a_changed_file(cli, models, tmp_path):
    run_dir = tmp_path / "run"
    argv = _search(run_dir, f"{models}:build_model", "--confirm", "0", trials=4)
    killed = subprocess.run(
        [sys.executable, KILL_AT, "trial-end", "2", "--", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode < 0, killed.stderr
    before = TrialLog(run_dir / "trials.jsonl").read_by_id()
    assert len(before) == 2

    models.write_text(MODELS + "# edited\n")
    code, _, err = cli(*argv, "--resume")
    assert code == 2
    line = err.strip().splitlines()[-1]
    recorded = json.loads((run_dir / "config.json").read_text())["space"]["hypermodel"]["sha256"]
    assert "differs from the one run" in line and recorded[:16] in line
    assert len(TrialLog(run_dir / "trials.jsonl").read()) == 2  # nothing trained

    models.write_text(MODELS)
    code, _, err = cli(*argv, "--resume")
    assert code == 0, err
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    ids = [json.loads(line)["trial_id"] for line in lines]
    assert sorted(ids) == ["0", "1", "2", "3"]  # each once: the two before the kill kept
    after = TrialLog(run_dir / "trials.jsonl").read_by_id()
    assert all(after[trial_id] == record for trial_id, record in before.items())


BROKEN = {
    "no file": ("absent.py:build_model", "No file absent.py"),
    "no function": ("{models}:build", "has no build; its functions and classes are: build_model,"),
    "not callable": ("{models}:NUMBER", "NUMBER is not a function (it is of type int)"),
    "raises": ("{models}:raises", "raises(hp) raised ValueError with its default hyperparameters"),
    "returns no model": ("{models}:returns_none", "must return a keras.Model. Received: NoneType"),
    "uncompiled": ("{models}:uncompiled", "uncompiled"),
    "malformed": ("models.py", "FILE.py:FUNCTION"),
}
BROKEN_MODELS = """
NUMBER = 3


def raises(hp):
    raise ValueError("a mistake of the user's")


def returns_none(hp):
    return None


def uncompiled(hp):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
"""


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_hypermodel_is_one_line_with_exit_2_and_nothing_written(
    cli, models, tmp_path, case
):
    models.write_text(MODELS + BROKEN_MODELS)
    reference, expected = BROKEN[case]
    run_dir = tmp_path / "run"
    code, _, err = cli(*_search(run_dir, reference.format(models=models)))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bottleneck-search search: error:")
    assert expected in lines[0]
    assert not run_dir.exists()


def test_options_a_hypermodel_search_cannot_honour_are_refused_by_name(cli, models, tmp_path):
    reference = f"{models}:build_model"
    for extra, named in (
        (("--strategy", "oneshot"), "--strategy"),
        (("--cost", "latency"), "--cost"),
        (("--warm-start",), "--warm-start"),
        (("--loss", "mse"), "--loss"),
    ):
        code, _, err = cli(*_search(tmp_path / "run", reference, *extra))
        assert code == 2, extra
        assert err.count("\n") == 1 and named in err, err
    assert not (tmp_path / "run").exists()


def test_a_module_reference_is_imported_from_the_python_path_with_its_files_hash(monkeypatch):
    from bottleneck_search.space.user_code import file_sha256, import_user_build

    monkeypatch.syspath_prepend(str(ROOT / "docs" / "examples"))
    build, code = import_user_build("own_build:build_model")
    assert callable(build) and code.path == str(ROOT / "docs" / "examples" / "own_build.py")
    assert code.sha256 == file_sha256(code.path)
    with pytest.raises(
        SearchConfigError, match="No module not_a_package.models on the Python path"
    ):
        import_user_build("not_a_package.models:build")
