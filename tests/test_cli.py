"""The `bottleneck-search` command: output, and one clear line with exit code 2 on bad input."""

import json
import subprocess
import sys

import keras
import pytest

from bottleneck_search.cli import main

L = keras.layers


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_flops_example_prints_the_seed_table(capsys):
    code, out, _ = run_cli(capsys, "flops", "--example")
    assert code == 0
    assert "MACs 112,896,000" in out
    assert "MACs 5,268,480" in out


def test_flops_of_a_saved_model_as_json(capsys, tmp_path):
    inputs = keras.Input((14, 14, 480))
    model = keras.Model(inputs, L.Conv2D(48, 5, padding="same", use_bias=False)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    code, out, _ = run_cli(capsys, "flops", str(path), "--json", "--batch-size", "2")
    assert code == 0
    data = json.loads(out)
    assert (data["macs"], data["batch_size"]) == (2 * 112_896_000, 2)


def test_flops_of_an_application(capsys):
    code, out, _ = run_cli(
        capsys, "flops", "--application", "MobileNetV2", "--input-shape", "224,224,3", "--json"
    )
    assert code == 0
    assert json.loads(out)["macs"] == 300_774_272


def _lambda_model(path):
    inputs = keras.Input((4,))
    keras.Model(inputs, L.Lambda(lambda x: x * 2)(inputs)).save(path)


def _lstm_model(path):
    inputs = keras.Input((5, 3))
    keras.Model(inputs, L.LSTM(2, name="rnn")(inputs)).save(path)


@pytest.mark.parametrize(
    "make_file, extra_args, message",
    [
        (None, [], "does not exist"),
        (lambda p: p.write_text("not a model"), [], "is not a Keras model file"),
        (_lambda_model, [], "--unsafe-load"),
        (_lstm_model, [], "'rnn' of class LSTM has no FLOP counting function"),
    ],
    ids=["missing", "not_a_model", "unsafe", "unsupported_layer"],
)
def test_flops_bad_model_file(capsys, tmp_path, make_file, extra_args, message):
    path = tmp_path / "model.keras"
    if make_file is not None:
        make_file(path)
    code, out, err = run_cli(capsys, "flops", str(path), *extra_args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_flops_unknown_application_suggests_names(capsys):
    code, _, err = run_cli(capsys, "flops", "--application", "ResNet5")
    assert code == 2
    assert "Unknown keras.applications model 'ResNet5'" in err and "ResNet50" in err


def test_unsafe_load_is_an_explicit_opt_in(capsys, tmp_path):
    path = tmp_path / "lambda.keras"
    _lambda_model(path)
    code, _, err = run_cli(capsys, "flops", str(path), "--unsafe-load", "--lenient")
    assert code == 0, err


def test_console_script_has_no_traceback_and_no_tensorflow_chatter(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bottleneck_search.cli", "flops", str(tmp_path / "nope.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"bottleneck-search flops: error: Model file '{tmp_path / 'nope.keras'}' does not exist. Check the path."
    ]
