"""Latency: the closed form of a latency table, a table's predictions against this machine, a
timed model left as it was, activation memory by hand, and the latency flags' bad input."""

import dataclasses
import json
import math
import random
import re
import statistics

import keras
import numpy as np
import pytest
from conftest import SPACES, hand_table, search_argv

from bottleneck_search import (
    CompressConfig,
    LatencyError,
    LatencySettings,
    SearchConfig,
    SearchConfigError,
)
from bottleneck_search.flops.memory import activation_memory
from bottleneck_search.latency import LatencyTable, build_latency_table, measure_latency
from bottleneck_search.latency.cache import (
    CACHE_VARIABLE,
    RUN_TABLE,
    run_latency_table,
    save_table,
    table_path,
)
from bottleneck_search.latency.fit import fit_scale, fit_terms
from bottleneck_search.latency.measure import round_robin_calls, time_round_robin
from bottleneck_search.latency.validation import drift_left_out, validate_table
from bottleneck_search.space.search_space import SearchSpace


def test_the_closed_form_is_the_base_plus_the_sum_of_the_entries(tiny_space_path):
    space = SearchSpace.from_yaml(tiny_space_path)
    table = hand_table(space, scale=0.75, per_reduction_us=40.0)
    timed = space.with_latency(table)

    def entry(i, site, width):  # scale * the change timed on the conv alone + 40 us, by hand
        return 0.75 * -(i + 1.0) * width + 40.0

    for seed in range(6):
        architecture = timed.sample(random.Random(seed))
        expected = 1000.0 + sum(
            entry(i, site, w) for i, (site, w) in enumerate(architecture.decisions) if w is not None
        )
        assert architecture.latency_us == pytest.approx(expected)
        assert table.predict_us(architecture) == pytest.approx(expected)
    assert timed.no_bottleneck().latency_us == 1000.0
    fastest = min(
        timed.architectures(),
        key=lambda a: sum(entry(i, s, w) for i, (s, w) in enumerate(a.decisions) if w),
    )
    assert timed.fastest() == fastest
    assert space.no_bottleneck().latency_us is None  # the space itself is unchanged
    again = LatencyTable.from_config(json.loads(json.dumps(table.get_config())))
    assert again == table


def test_the_fit_adds_a_cost_per_reduction_only_where_the_points_show_one():
    rng = random.Random(0)
    sums = [-rng.uniform(1e3, 1e5) for _ in range(6)]
    counts = [rng.randint(2, 12) for _ in range(6)]
    # A known scale with noise and no cost per reduction: the scale alone, recovered.
    plain = [(s, n, 0.8 * s + rng.gauss(0, 50)) for s, n in zip(sums, counts, strict=True)]
    scale, per_reduction = fit_terms(plain)
    assert scale == pytest.approx(0.8, rel=0.01) and per_reduction == 0.0
    # Each reduction costs 300 us beside a scale of 0.5 (a launch-bound GPU): both recovered.
    both = [(s, n, 0.5 * s + 300 * n + rng.gauss(0, 50)) for s, n in zip(sums, counts, strict=True)]
    scale, per_reduction = fit_terms(both)
    assert scale == pytest.approx(0.5, rel=0.02) and per_reduction == pytest.approx(300, rel=0.1)
    # Whole networks slower by 85 us a reduction whatever their convs alone did: no negative
    # scale, the cost per reduction alone.
    launches = [(s, n, 85.0 * n) for s, n in zip(sums, counts, strict=True)]
    assert fit_terms(launches) == (0.0, pytest.approx(85.0))
    # Every point with as many reductions: a cost per reduction is a constant there, and would
    # only extrapolate to other counts. The scale alone.
    same_count = [(s, 2, 0.5 * s + 600) for s in sums]
    assert fit_terms(same_count) == (fit_scale(same_count), 0.0)
    # Three points are too few to tell two terms from noise: the scale alone, not negative.
    assert fit_terms(both[:3])[1] == 0.0
    assert fit_terms([(s, n, -0.5 * s) for s, n in zip(sums[:3], counts, strict=False)]) == (0, 0)
    # Nothing to decide it: the plain sum.
    assert fit_terms([]) == (1.0, 0.0) and fit_terms([(0.0, 2, 12.0)]) == (1.0, 0.0)


def test_a_table_of_an_earlier_version_is_refused_and_a_run_holding_one_says_what_to_do(
    tiny_space_path, tmp_path
):
    space = SearchSpace.from_yaml(tiny_space_path)
    data = hand_table(space).get_config()
    # Version 5 had no cost per reduction: it reads as a table whose fit held it at zero.
    version_5 = {**data, "version": 5}
    del version_5["per_reduction_us"]
    assert LatencyTable.from_config(version_5) == hand_table(space)
    for version in (3, 4):  # whole-network entries; entries timed in pairs with the conv alone
        data["version"] = version
        with pytest.raises(
            LatencyError,
            match=rf"^old.json is a latency table of version {version}, measured another way; "
            r"this bottleneck-search reads versions 5 and 6 only.$",
        ):
            LatencyTable.from_config(data, source="old.json")
    # A run's own copy is not measured again behind its finished trials' backs.
    (tmp_path / RUN_TABLE).write_text(json.dumps(data))
    with pytest.raises(
        LatencyError,
        match=rf"version 4, .* The finished trials of run '{re.escape(str(tmp_path))}' were scored "
        r"and ranked with it, .* Start a new run \(another --run-dir\)",
    ):
        run_latency_table(str(tmp_path), space)
    assert json.loads((tmp_path / RUN_TABLE).read_text()) == json.loads(json.dumps(data))


def test_models_are_timed_in_turn_in_blocks_after_their_warm_up():
    order = []
    calls = [lambda name=name: order.append(name) for name in "abc"]
    timings = time_round_robin(calls, repeats=7, warmup=2)
    assert [len(t) for t in timings] == [7, 7, 7]
    # Warm-up in turn, then blocks of one untimed and up to BLOCK timed calls, in turn.
    assert order[:6] == list("abcabc")
    blocks = "".join(order[6:])
    assert blocks == "".join(name * (1 + n) for n in (3, 3, 1) for name in "abc")
    assert all(order.count(name) == round_robin_calls(7, 2) for name in "abc")


def test_a_table_of_another_space_is_refused(tiny_space_path):
    from bottleneck_search.errors import SearchSpaceError

    space = SearchSpace.from_yaml(tiny_space_path)
    other = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    with pytest.raises(SearchSpaceError, match="does not fit space 'tiny'"):
        space.with_latency(hand_table(other))


def test_each_site_of_a_users_model_is_timed_as_its_own_conv_alone():
    """Grouped, separable and transposed convs inside a frozen nested backbone, after the
    model's own `Rescaling`: each entry's models are the site's conv rebuilt from its config,
    alone and after its reduction, at its shapes."""
    from bottleneck_search.latency.blocks import block_model, site_conv

    L = keras.layers
    inner_in = keras.Input((8, 8, 32))
    x = L.Conv2D(32, 3, groups=4, padding="same", activation="relu", name="grouped")(inner_in)
    x = L.SeparableConv2D(16, 3, padding="same", depth_multiplier=2, name="separable")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="up")(x)
    backbone = keras.Model(inner_in, x, name="backbone")
    backbone.trainable = False
    inputs = keras.Input((8, 8, 32))
    scaled = L.Rescaling(1 / 255)(inputs)
    outputs = L.Dense(3)(L.GlobalAveragePooling2D()(backbone(scaled)))
    space = SearchSpace.from_model(
        keras.Model(inputs, outputs), widths=[8, 16], include_frozen=True
    )
    assert [s.name for s in space.sites] == ["grouped", "separable", "up"]
    base = space.build(space.no_bottleneck())
    for site in space.sites:
        conv = site_conv(base, site)
        expected = tuple(conv.output.shape[1:])
        config = {k: v for k, v in conv.get_config().items() if k != "name"}
        for width in (None, *site.widths):
            block = block_model(conv, site, space, 2, width)
            *reduction, rebuilt = block.layers[1:]
            assert [layer.name for layer in reduction] == ([f"{site.name}_reduce"] if width else [])
            assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == config
            assert block.predict_on_batch(
                np.zeros((2, *site.input_size, site.in_channels))
            ).shape == (
                2,
                *expected,
            )
    table = build_latency_table(space, batch_size=2, repeats=2, fit=1)
    assert not table.missing_entries(space) and table.block_calls > 0
    with pytest.raises(LatencyError, match="Site 'gone' is not a layer"):
        site_conv(base, dataclasses.replace(space.sites[0], name="gone"))


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
def test_a_table_built_here_predicts_architectures_it_did_not_see():
    """inception_mini at batch 64 (20-40 ms a call here), a table built with the defaults (20
    calls, 6 fitted architectures): against the base timed beside each architecture, so what
    the machine's speed drifts by does not count (a ratio, not a time). The tolerance is the
    benchmark's +-10%, or three times this run's own noise when the machine is noisier than
    that (another pytest worker shares its two cores). Measured here (table version
    4, entries timed in pairs): the median error of 5 architectures 0.015-0.061 over 6 builds, 3
    of them beside a busy core; with 12 calls and 4 fitted, 0.044-0.244 (their scale spread
    0.99-1.66), which failed CI once. Version 5 (entries timed in turn, the base alone first and
    in the fit): 0.033-0.047 over 4 builds, 0.024-0.078 over 4 beside a busy core."""
    from bottleneck_search.latency.validation import TOLERANCE

    space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    table = build_latency_table(space, batch_size=64)
    assert table.network_calls > 0 and table.block_calls > 0 and table.base_us > 0
    table = validate_table(table, space, 5)
    rows = table.validation["rows"]
    assert len(rows) == 5
    fitted = [tuple(w.items()) for w in table.fitted]
    assert not any(tuple(r["architecture"].items()) in fitted for r in rows)
    base_errors = [abs(r["base_us"] / table.base_us - 1) for r in rows]
    assert table.validation["base_within"] == sum(e <= TOLERANCE for e in base_errors) / 5
    errors = sorted(abs(drift_left_out(table, r)) for r in rows)
    # No prediction can be judged finer than this run's own noise: the standard error of the
    # base's median, and how far the base itself moved when timed beside the rows. Under a busy
    # second worker the base came back within +-10% in only 40-60% of rows and the median error
    # reached 0.107-0.198 (CI, base CV 22.7%) against a tolerance of 0.10: the machine, not the
    # table. So here the bar is three times that noise (a unit slip or a reduction's sign is
    # caught at any noise); bench/latency.py measures the +-10% claim on a quiet machine.
    tolerance = max(
        TOLERANCE,
        3 * table.base_spread / math.sqrt(table.settings["repeats"]),
        3 * statistics.median(base_errors),
    )
    assert errors[len(errors) // 2] <= tolerance, table.describe()
    # The cheapest architecture is predicted faster than no reduction, as it measured.
    assert table.predict_us(space.cheapest()) < table.base_us


def test_a_timed_model_is_left_unchanged(tiny_space_path):
    model = SearchSpace.from_yaml(tiny_space_path).build({"body1": 4})
    weights = [w.copy() for w in model.get_weights()]
    config = model.get_config()
    latency = measure_latency(model, batch_size=2, repeats=3)
    assert latency.median_us > 0 and latency.low_us <= latency.median_us <= latency.high_us
    assert latency.repeats == 3 and latency.batch_size == 2
    assert model.get_config() == config
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"batch_size": 0},
            "`{}batch_size` must be an integer from 1 to 65536. Received: {}batch_size=0.",
        ),
        (
            {"batch_size": 70000},
            "`{}batch_size` must be an integer from 1 to 65536. Received: {}batch_size=70000.",
        ),
        ({"threads": 2000}, "`{}threads` must be an integer from 1 to 1024. Leave it unset"),
        ({"threads": True}, "`{}threads` must be an integer from 1 to 1024. Leave it unset"),
    ],
)
def test_a_measurement_and_a_run_refuse_the_same_latency_settings(
    tiny_space_path, settings, problem
):
    """The one rule (`limits.check_latency_settings`), each caller naming its own argument."""
    with pytest.raises(LatencyError, match=re.escape(problem.format("", ""))):
        measure_latency(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), **settings)
    fields = {f"latency_{name}": value for name, value in settings.items()}
    for config in (SearchConfig, CompressConfig):  # from the flags, as the CLI makes them
        with pytest.raises(SearchConfigError, match=re.escape(problem.format("", ""))) as caught:
            config.from_arguments({"model": "m.keras", "max_macs": 10, **fields})
        assert caught.value.argument == f"latency_{next(iter(settings))}"  # the flag's name
    with pytest.raises(SearchConfigError, match=re.escape(problem.format("", ""))):
        LatencySettings(**settings)  # the part itself, from Python


def test_peak_activation_memory_by_hand():
    inputs = keras.Input((8, 8, 4))
    left = keras.layers.Conv2D(16, 3, padding="same", name="left")(inputs)
    reduced = keras.layers.Conv2D(2, 1, name="reduce")(inputs)
    right = keras.layers.Conv2D(16, 3, padding="same", name="right")(reduced)
    outputs = keras.layers.Concatenate(name="concat")([left, right])
    model = keras.Model(inputs, outputs)
    memory = activation_memory(model, batch_size=2)
    # Per example (float32 elements): input 256, left 1024, reduce 128, right 1024, concat 2048.
    # At concat: left, right and concat are held (the input was last read by reduce): 4096.
    assert memory.peak_bytes == 2 * 4 * (1024 + 1024 + 2048)
    assert memory.peak_layer == "concat"
    assert memory.input_bytes == 2 * 4 * 256


def test_activation_memory_enters_nested_models():
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(8, 3, padding="same")(inner_in), name="inner")
    inputs = keras.Input((8, 8, 4))
    outputs = keras.layers.GlobalAveragePooling2D(name="gap")(inner(inputs))
    memory = activation_memory(keras.Model(inputs, outputs))
    # inner's conv: input 256 + output 512 elements; the nested model's input is the outer one.
    assert memory.peak_bytes == 4 * (256 + 512)
    assert memory.peak_layer == "inner/" + inner.layers[-1].name


def test_a_latency_search_records_predicted_and_measured_latency(
    cli, tiny_space_path, tmp_path, monkeypatch
):
    from bottleneck_search import load_run, pareto_front

    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    space = SearchSpace.from_yaml(tiny_space_path)
    table = hand_table(space)
    save_table(table, table_path(space, 1, "keras", None))
    run_dir = tmp_path / "run"
    code, out, err = cli(
        *search_argv(
            tiny_space_path, run_dir, "--cost", "latency", "--max-latency", "0.99", trials=3
        )
    )
    assert code == 0, err
    run = load_run(str(run_dir))
    assert run.cost == "latency"
    assert (run_dir / "latency_table.json").is_file()
    assert len(run.records) == 3 and run.completed  # every trial recorded, some trained
    for record in run.records:
        assert record.latency_us == pytest.approx(table.predict_us(record.architecture))
        if record.latency_us > 990:
            assert record.status == "INFEASIBLE" and "exceeds the max latency" in record.reason
        else:
            assert record.status == "COMPLETED"
            assert record.measured_latency_us > 0
    # Trained for real: the best is above chance (0.1 on 10 classes; 3 trials of 2 epochs on the
    # tiny space reached 0.24 in a CI run).
    assert max(r.val_accuracy for r in run.completed) > 0.15
    front = pareto_front(run)
    assert front and [r.latency_us for r in front] == sorted(r.latency_us for r in front)


def test_onnxruntime_times_the_exported_model_and_leaves_it_unchanged(tiny_space_path):
    model = SearchSpace.from_yaml(tiny_space_path).build({"body2": 8})
    weights = [w.copy() for w in model.get_weights()]
    latency = measure_latency(model, batch_size=4, runtime="onnxruntime", threads=1, repeats=5)
    assert latency.runtime == "onnxruntime" and latency.threads == 1 and latency.median_us > 0
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
