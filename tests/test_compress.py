"""Compressing a trained model: low-rank warm starts reproduce the conv at full width and degrade
gracefully below it, untouched weights carry over bit for bit, the allocation is the exact
knapsack optimum of its estimate, and `compress` meets its budget end to end."""

import itertools
import json

import keras
import numpy as np
import pytest
from test_from_model import nested_model

from bottleneck_search import SearchSpace, count_flops
from bottleneck_search.cli import main
from bottleneck_search.compress.allocation import allocate
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.rundir.sensitivity import SensitivityRow, SensitivityTable
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.space import ReductionOptions
from bottleneck_search.space.from_model import layers_by_path
from bottleneck_search.space.lowrank import LINEAR_REDUCTION, channel_moments, lowrank_factors
from bottleneck_search.supernet import Supernet

L = keras.layers


def _digits_model():
    """Three 3x3 convs (one followed by batch norm) on 8x8 digits: two sites, c2 and c3."""
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="c1")(inputs)
    x = L.Conv2D(32, 3, padding="same", name="c2")(x)
    x = L.Activation("relu")(L.BatchNormalization(name="bn2")(x))
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="c3")(x)
    outputs = L.Dense(10, activation="softmax", name="fc")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="tiny_digits")


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """`_digits_model` trained 6 epochs on digits (about 0.95 validation accuracy), and its file."""
    keras.utils.set_random_seed(0)
    model = _digits_model()
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(digits.train, epochs=6, verbose=0, shuffle=False)
    path = tmp_path_factory.mktemp("models") / "tiny_digits.keras"
    model.save(path)
    return model, str(path)


def _images(digits, batches=2):
    return np.concatenate([x for x, _ in digits.val.take(batches)])


@pytest.mark.parametrize("data_aware", [False, True])
def test_at_full_width_the_warm_started_model_is_the_trained_one(trained, digits, data_aware):
    model, _ = trained
    space = SearchSpace.from_model(
        model, widths=[1.0], init="lowrank", init_data=digits.train if data_aware else None
    )
    assert space.warm_start.method == ("output" if data_aware else "svd")
    full = {site.name: site.in_channels for site in space.sites}
    assert full == {"c2": 16, "c3": 32}
    x = _images(digits)
    reduced = space.build(full)
    difference = np.abs(np.asarray(reduced(x)) - np.asarray(model(x))).max()
    assert difference < 1e-5, difference
    assert reduced.get_layer("c3_reduce").get_config()["activation"] == "linear"


def test_untouched_layers_keep_their_trained_weights_bit_for_bit(trained):
    model, _ = trained
    space = SearchSpace.from_model(model, init="lowrank")
    reduced = space.build({"c2": 8, "c3": 16})
    originals = layers_by_path(model)
    for path, layer in layers_by_path(reduced).items():
        if path in ("c2", "c3") or path.endswith("_reduce") or not layer.weights:
            continue
        for new, old in zip(layer.get_weights(), originals[path].get_weights(), strict=True):
            np.testing.assert_array_equal(new, old, err_msg=path)
    # The convs after a reduction keep their bias; their kernels are the projected ones.
    np.testing.assert_array_equal(
        reduced.get_layer("c3").get_weights()[1], model.get_layer("c3").get_weights()[1]
    )


def _output_error(kernel, reduce, conv, x):
    """Mean squared error of the per-tap outputs `W^T x` against the factorised pair's."""
    matrix = np.moveaxis(kernel, -2, 0).reshape(kernel.shape[-2], -1)
    pair = reduce.reshape(kernel.shape[-2], -1) @ np.moveaxis(conv, -2, 0).reshape(
        conv.shape[-2], -1
    )
    return float(np.mean((x @ matrix - x @ pair) ** 2))


def test_reconstruction_error_falls_with_width_and_data_helps_on_its_data():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 12, 6)).astype("float32")
    # Correlated inputs: 12 channels driven by 4 sources plus a little noise.
    x = rng.normal(size=(2000, 4)) @ rng.normal(size=(4, 12)) + 0.1 * rng.normal(size=(2000, 12))
    moment = x.T @ x / len(x)
    kernel_errors, svd_errors, output_errors = [], [], []
    for width in range(1, 13):
        reduce, conv = lowrank_factors(kernel, width)
        product = np.einsum("ck,hwko->hwco", reduce[0, 0], conv)
        kernel_errors.append(float(np.linalg.norm(product - kernel)))
        svd_errors.append(_output_error(kernel, reduce, conv, x))
        output_errors.append(
            _output_error(kernel, *lowrank_factors(kernel, width, moment, "output"), x)
        )
    assert all(a > b for a, b in itertools.pairwise(kernel_errors))
    assert kernel_errors[-1] < 1e-4  # k = C: exact
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(output_errors))
    # On the data it was fitted to, the data-aware factorisation is never worse than the kernel's.
    assert all(o <= s * (1 + 1e-6) + 1e-9 for o, s in zip(output_errors, svd_errors, strict=True))
    assert output_errors[3] < 0.1 * svd_errors[3]  # 4 sources: width 4 nearly exact on the data


def test_channel_moments_are_the_second_moments_of_each_site_input():
    model = nested_model()
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 16)).astype("float32")
    moments = channel_moments(model, ["inner_conv"], [x[:2], x[2:]])
    inner_input = np.asarray(model.get_layer("outer_conv")(x)).reshape(-1, 16)
    np.testing.assert_allclose(
        moments["inner_conv"], inner_input.T @ inner_input / len(inner_input), rtol=1e-4, atol=1e-5
    )


def test_the_supernet_holds_every_widths_warm_start(trained, digits):
    model, _ = trained
    space = SearchSpace.from_model(
        model, widths=[8, 16, 24], init="lowrank", init_data=digits.train
    )
    supernet = Supernet(space, seed=0)
    x = _images(digits, 1)
    for architecture in [{"c2": 8, "c3": None}, {"c2": 16, "c3": 8}, {"c2": None, "c3": 24}]:
        supernet.set_architecture(architecture)
        np.testing.assert_allclose(
            np.asarray(supernet.model(x, training=False)),
            np.asarray(space.build(architecture)(x, training=False)),
            atol=1e-5,
            err_msg=str(architecture),
        )


def test_lowrank_init_refuses_other_reductions_and_unknown_inits(trained):
    model, _ = trained
    with pytest.raises(SearchSpaceError, match="linear reductions"):
        SearchSpace.from_model(model, init="lowrank", reduction=ReductionOptions())
    with pytest.raises(SearchSpaceError, match="`init` must be one of"):
        SearchSpace.from_model(model, init="pca")
    assert SearchSpace.from_model(model, init="lowrank").reduction == LINEAR_REDUCTION


def test_allocation_is_the_knapsack_optimum_of_the_additive_estimate(trained):
    model, _ = trained
    space = SearchSpace.from_model(model, widths=[8, 16, 24], init="lowrank")
    unreduced = space.no_bottleneck()
    rng = np.random.default_rng(3)
    rows = []
    for site in space.sites:
        for width in site.widths:
            macs_saved = unreduced.macs - space.macs({site.name: width})
            drop = float(rng.uniform(0, 0.05))
            rows.append(SensitivityRow(site.name, width, macs_saved, 0.9 - drop, 0.3, drop))
    table = SensitivityTable(0.9, 0.3, tuple(rows), 1.0)
    budget = unreduced.macs * 2 // 3
    chosen = allocate(space, table, budget, count=3)
    brute = sorted(
        (a for a in space.architectures() if a.macs <= budget),
        key=lambda a: (sum(table.drop(n, w) for n, w in a.widths.items()), a.macs),
    )
    assert [a.widths for a in chosen] == [a.widths for a in brute[:3]]
    assert all(a.macs <= budget for a in chosen)


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
def test_compress_meets_its_budget_and_exports_what_it_reports(trained, tmp_path, capsys):
    model, path = trained
    run = tmp_path / "run"
    code = main(
        ["compress", path, "--macs-ratio", "1.5", "--finetune-epochs", "1", "--candidates", "2"]
        + ["--widths", "0.25,0.5,0.75", "--run-dir", str(run)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sensitivity 2/2: c3" in out and "candidate 2/2" in out
    summary = json.loads((run / "compression.json").read_text())
    budget = int(count_flops(model).macs / 1.5)
    assert summary["budget"] == budget
    assert summary["before"]["macs"] == count_flops(model).macs
    best = summary["after"]
    folder = run / "export" / f"trial_{best['trial_id']}"
    exported = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    assert count_flops(exported).macs == best["macs"] <= budget
    exported.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    from bottleneck_search import load_dataset

    data = load_dataset("digits", (8, 8, 1), batch_size=32)
    scores = exported.evaluate(data.val, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert best["val_accuracy"] > 0.8  # 10 classes; the trained model has about 0.95
    report = (run / "report.md").read_text()
    assert "## Compression" in report and "| c3 | 8 |" in report
    assert (run / "sensitivity.png").stat().st_size > 0
    table = json.loads((run / "sensitivity.json").read_text())
    assert {(r["site"], r["width"]) for r in table["rows"]} == {
        ("c2", 8),
        ("c2", 16),  # 0.75 x 16 = 12, rounded to a multiple of 8
        ("c3", 8),
        ("c3", 16),
        ("c3", 24),
    }


@pytest.mark.parametrize("kind", ["nested", "sequential"])
def test_warm_starts_work_in_nested_and_sequential_models(kind):
    model = nested_model()
    if kind == "sequential":
        model = keras.Sequential(
            [
                keras.Input((8, 8, 16)),
                L.Conv2D(16, 3, padding="same", name="s1"),
                L.Conv2D(8, 3, padding="same", name="s2"),
            ]
        )
    x = np.random.default_rng(2).normal(size=(6, 8, 8, 16)).astype("float32")
    space = SearchSpace.from_model(model, widths=[1.0, 8], init="lowrank", init_data=[x[:3], x[3:]])
    full = {site.name: site.in_channels for site in space.sites}
    assert len(full) == (3 if kind == "nested" else 2)
    np.testing.assert_allclose(np.asarray(space.build(full)(x)), np.asarray(model(x)), atol=1e-4)
    narrow = np.asarray(space.build({name: 8 for name in full})(x))
    assert np.abs(narrow - np.asarray(model(x))).max() > 0  # an approximation below full width


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
def test_compress_to_a_latency_budget_keeps_its_prediction_within_it(trained, tmp_path, capsys):
    """`--max-latency` halfway between the fastest architecture and the model, as the model's
    latency table (measured here, batch 1) predicts them: the chosen one is predicted within."""
    from bottleneck_search.latency import cached_table
    from bottleneck_search.latency.cache import read_table
    from bottleneck_search.model_io import load_model

    _, path = trained
    widths = [0.25, 0.5, 0.75]
    space = SearchSpace.from_model(
        load_model(path), widths=widths, skip_reduced=True, init="lowrank"
    )
    table = cached_table(space, repeats=5, validation=0)  # what compress then finds cached
    budget_ms = (space.with_latency(table).fastest().latency_us + table.base_us) / 2000
    run = tmp_path / "run"
    argv = ["compress", path, "--max-latency", str(budget_ms), "--finetune-epochs", "0"]
    code = main([*argv, "--widths", "0.25,0.5,0.75", "--candidates", "1", "--run-dir", str(run)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((run / "compression.json").read_text())
    assert read_table(run / "latency_table.json") == table
    assert summary["budget"] is None
    assert summary["latency_budget_us"] == pytest.approx(budget_ms * 1000)
    record = TrialLog(run / "trials.jsonl").read_by_id()[summary["after"]["trial_id"]]
    assert record.latency_us == pytest.approx(table.predict_us(record.architecture))
    assert record.latency_us <= summary["latency_budget_us"]
    assert "ms predicted" in out
    report = (run / "report.md").read_text()
    assert "## Latency on this machine" in report and "| original model |" in report
