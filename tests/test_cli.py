"""The `bottleneck-search` command: output, and one clear line with exit code 2 on bad input."""

import json
import logging
import subprocess
import sys

import keras
import pytest
from conftest import SPACES

L = keras.layers


def test_flops_example_prints_the_seed_table(cli):
    code, out, _ = cli("flops", "--example")
    assert code == 0
    assert "MACs 112,896,000" in out
    assert "MACs 5,268,480" in out


def test_flops_of_a_saved_model_as_json(cli, tmp_path):
    inputs = keras.Input((14, 14, 480))
    model = keras.Model(inputs, L.Conv2D(48, 5, padding="same", use_bias=False)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    code, out, _ = cli("flops", str(path), "--json", "--batch-size", "2")
    assert code == 0
    data = json.loads(out)
    assert (data["macs"], data["batch_size"]) == (2 * 112_896_000, 2)


def test_flops_fills_a_saved_models_free_dimensions(cli, tmp_path):
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, L.Conv2D(2, 3, use_bias=False)(inputs)).save(tmp_path / "m.keras")
    code, out, _ = cli("flops", tmp_path / "m.keras", "--input-shape", "10,12,3", "--json")
    assert code == 0
    assert json.loads(out)["macs"] == 8 * 10 * 2 * 27  # valid 3x3 on 10x12: 8x10 outputs


def test_flops_of_an_application(cli):
    code, out, _ = cli(
        "flops", "--application", "MobileNetV2", "--input-shape", "224,224,3", "--json"
    )
    assert code == 0
    assert json.loads(out)["macs"] == 300_774_272


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
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


def test_the_command_drops_tensorflows_retracing_warning_and_no_other(caplog):
    """A latency table or a search builds many models on purpose; TensorFlow then warns that
    its predict functions were traced again, with advice that does not apply."""
    import tensorflow as tf

    from bottleneck_search.process import import_tensorflow_quietly

    import_tensorflow_quietly()
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        tf.get_logger().warning(
            "5 out of the last 71 calls to <function f at 0x1> triggered tf.function "
            "retracing. Tracing is expensive and the excessive number of tracings could be due"
        )
        tf.get_logger().warning("Your input ran out of data.")
    assert [record.getMessage() for record in caplog.records] == ["Your input ran out of data."]


def test_space_prints_sites_size_and_costs(cli):
    code, out, _ = cli("space", str(SPACES / "inception_mini.yaml"))
    assert code == 0
    assert "4 sites, 144 architectures" in out
    assert "mix2_5x5" in out and "16,24,48" in out
    for label in ("cheapest", "no bottleneck", "reference", "most expensive"):
        assert label in out
    assert "reference architecture per block:" in out


def test_space_of_a_keras_model_with_an_architecture(cli, tmp_path):
    inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(16, 3, padding="same", name="a")(inputs)
    model = keras.Model(inputs, L.Conv2D(8, 3, padding="same", name="b")(x), name="two")
    model.save(tmp_path / "two.keras")
    (tmp_path / "arch.json").write_text('{"sites": {"b": 8}}')
    code, out, err = cli(
        "space", str(tmp_path / "two.keras"), "--architecture", str(tmp_path / "arch.json")
    )
    assert code == 0, err
    # given: a 1x1 16->8 then b 3x3 8->8 at 8x8: 64*(16*8 + 9*8*8) + a's 64*9*16*16
    given = next(line for line in out.splitlines() if line.startswith("given"))
    assert f"{64 * (16 * 8 + 9 * 8 * 8) + 64 * 9 * 16 * 16:,}" in given
