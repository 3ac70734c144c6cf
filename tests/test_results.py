"""export and report on a finished tiny run: what is written, that it loads, and bad input."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bottleneck_search import (
    BottleneckHyperModel,
    SearchSpace,
    apply_bottlenecks,
    count_flops,
    make_tuner,
    pareto_front,
)
from bottleneck_search.cli import main
from bottleneck_search.results.export import export_architectures
from bottleneck_search.results.report import write_report
from bottleneck_search.rundir.trial_log import TrialLog

pytestmark = pytest.mark.slow


def best_trial_id(run_dir):
    records = [r for r in TrialLog(run_dir / "trials.jsonl").read() if r.status == "COMPLETED"]
    return max(records, key=lambda r: (r.score, -r.macs)).trial_id


def test_export_loads_and_predicts_what_the_checkpoint_predicts(
    tiny_run, tiny_space_path, tmp_path
):
    folders = export_architectures(tiny_run, out=tmp_path / "out", top=2)
    assert [os.path.basename(f) for f in folders][0] == f"trial_{best_trial_id(tiny_run)}"
    listing = json.loads((tmp_path / "out" / "exports.json").read_text())
    assert [e["folder"] for e in listing["exports"]] == [os.path.basename(f) for f in folders]

    folder = folders[0]
    trial_id = os.path.basename(folder).removeprefix("trial_")
    exported = keras.saving.load_model(os.path.join(folder, "model.keras"), safe_mode=True)
    space = SearchSpace.from_yaml(tiny_space_path)
    # Independently, through Keras Tuner itself: reload the run's tuner and its trial checkpoint.
    tuner = make_tuner(
        "random",
        BottleneckHyperModel(space),
        directory=tiny_run.parent,
        project_name=tiny_run.name,
        max_trials=3,
        overwrite=False,
    )
    original = tuner.load_model(tuner.oracle.get_trial(trial_id))
    images = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    expected = original.predict(images, verbose=0)
    np.testing.assert_allclose(exported.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)

    served = tf.saved_model.load(os.path.join(folder, "saved_model"))
    np.testing.assert_allclose(
        served.serve(tf.constant(images)).numpy(), expected, rtol=1e-5, atol=1e-6
    )

    description = json.loads(Path(folder, "architecture.json").read_text())
    assert description["space"]["file"] == "tiny.yaml" and len(description["space"]["sha256"]) == 64
    assert {"tensorflow", "keras"} <= set(description["versions"])
    rebuilt = apply_bottlenecks(space, os.path.join(folder, "architecture.json"))
    assert (
        count_flops(rebuilt).macs
        == description["macs"]
        == TrialLog(tiny_run / "trials.jsonl").read_by_id()[trial_id].macs
    )
    assert "MACs" in Path(folder, "flops.txt").read_text()


def test_export_pareto_and_retrain(tiny_run, tmp_path):
    front = [r.trial_id for r in pareto_front(tiny_run)]
    folders = export_architectures(tiny_run, out=tmp_path / "front", pareto=True)
    assert [os.path.basename(f) for f in folders] == [f"trial_{i}" for i in front]
    retrained = export_architectures(tiny_run, out=tmp_path / "retrained", top=1, retrain_epochs=1)[
        0
    ]
    description = json.loads(Path(retrained, "architecture.json").read_text())
    assert description["weights"] == "retrained 1 epochs on train + validation"
    checkpointed = keras.saving.load_model(
        os.path.join(tmp_path / "front", os.path.basename(retrained), "model.keras")
    )
    fresh = keras.saving.load_model(os.path.join(retrained, "model.keras"))
    assert not np.allclose(checkpointed.get_weights()[0], fresh.get_weights()[0])


def test_report_files(tiny_run):
    report = write_report(tiny_run)
    rows = (tiny_run / "trials.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(TrialLog(tiny_run / "trials.jsonl").read())
    with Image.open(report.pareto_png) as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # not blank: axes, points and text
    assert (pixels < 128).mean() > 0.005
    markdown = (tiny_run / "report.md").read_text()
    assert "## Pareto front" in markdown and "![accuracy vs MACs](pareto.png)" in markdown
    assert "MACs, no bottleneck" in markdown and "**total**" in markdown


def test_export_replaces_an_existing_folder_only_with_overwrite(capsys, tiny_run, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "taken")]) == 2
    assert "already exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "taken"), "--overwrite"]) == 0
    assert (
        not (tmp_path / "taken" / "mine.txt").exists()
        and (tmp_path / "taken" / "exports.json").exists()
    )


def test_export_from_python_refuses_a_top_below_one(tiny_run, tmp_path):
    from bottleneck_search import ResultsError

    with pytest.raises(ResultsError, match="`top` must be a positive integer. Received: top=0."):
        export_architectures(tiny_run, out=tmp_path / "x", top=0)
    assert not (tmp_path / "x").exists()


def test_export_onnx_runs_in_onnx_runtime_as_keras_predicts(tiny_run, tmp_path):
    import onnxruntime

    (folder,) = export_architectures(tiny_run, out=tmp_path / "out", onnx=True)
    listing = json.loads((tmp_path / "out" / "exports.json").read_text())
    check = listing["exports"][0]["onnx"]
    assert check["file"] == "model.onnx" and check["images"] == 256  # of 360 validation images
    assert check["max_abs_difference"] <= 1e-4
    # Independently: the exported .keras and .onnx files on images neither has seen.
    images = np.random.default_rng(1).random((7, 8, 8, 1), dtype=np.float32)
    keras_model = keras.saving.load_model(os.path.join(folder, "model.keras"), safe_mode=True)
    session = onnxruntime.InferenceSession(os.path.join(folder, "model.onnx"))
    (predicted,) = session.run(None, {session.get_inputs()[0].name: images})
    np.testing.assert_allclose(predicted, keras_model.predict(images, verbose=0), atol=1e-5)


def test_export_onnx_without_the_extra_says_how_to_install_it(cli, monkeypatch, tiny_run, tmp_path):
    from bottleneck_search import model_io

    monkeypatch.setattr(model_io, "_installed", lambda name: name != "onnxruntime")
    code, out, err = cli("export", tiny_run, "--format", "onnx", "--out", tmp_path / "out")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "bottleneck-search export: error: export --format onnx needs onnxruntime, not installed "
        "here. Install the extra: pip install 'bottleneck-search[onnx]'."
    ]
    assert not (tmp_path / "out").exists()


def test_the_pareto_plot_labels_its_log_axis_inside_one_decade():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bottleneck_search.results.plot import _label_log_axis

    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter([1.2e6, 2.5e6, 6e6, 8e6], [0.5, 0.7, 0.8, 0.85])
    axes.set_xscale("log")
    _label_log_axis(axes.xaxis)
    figure.canvas.draw()
    labels = [tick.get_text() for tick in axes.get_xticklabels() if tick.get_text()]
    assert labels == ["1M", "2M", "5M"]  # matplotlib's own labels only 10^6 and 10^7
