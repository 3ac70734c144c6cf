"""Models in the patterns users bring (written here, none copied): logits heads compiled with
`from_logits=True`, uncompiled softmax heads, one-hot labels, in-model `Rescaling` and
`Normalization`, frozen nested backbones, segmentation and regression heads, grouped and
separable convs. Each goes through the paths a user would take."""

import dataclasses
import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers as L

from bottleneck_search import (
    CompressConfig,
    Confirmation,
    DataSource,
    FlopCountError,
    Proposer,
    SearchConfig,
    SearchSpace,
    SearchSpaceError,
    SpaceSource,
    TrialTraining,
    apply_bottlenecks,
    compress_model,
    count_flops,
    export_architectures,
    load_run,
    run_search,
    train_architecture,
    write_report,
)
from bottleneck_search.model_io import compile_config
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.training import Task
from bottleneck_search.training.fit import prepared
from bottleneck_search.training.inference import task_from_model
from bottleneck_search.training.inputs import RAW, UNIT, expected_input_range


def classifier(head_activation=None, preprocessing=None, name="user_cnn"):
    """An 8x8x1 CNN with two 3x3 sites of 16 input channels and a 10-unit head."""
    inputs = keras.Input((8, 8, 1))
    x = preprocessing(inputs) if preprocessing is not None else inputs
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="c1")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="c2")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="c3")(x)
    x = L.Flatten()(x)
    return keras.Model(inputs, L.Dense(10, activation=head_activation, name="head")(x), name=name)


# -- what is read from the model ------------------------------------------------------------


def test_a_logits_head_compiled_from_logits_keeps_its_loss_through_the_file(tmp_path):
    model = classifier()
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    path = tmp_path / "logits.keras"
    model.save(path)
    task = task_from_model(keras.saving.load_model(path, compile=False), compile_config(path))
    assert task.from_logits and task.labels == "sparse" and task.classes == 10
    assert (task.score, task.direction) == ("val_accuracy", "max")
    assert "compiled" in task.source


@pytest.mark.parametrize(
    "activation, loss, from_logits, labels",
    [
        ("softmax", "sparse_categorical_crossentropy", False, "sparse"),
        (None, "sparse_categorical_crossentropy", True, "sparse"),
    ],
)
def test_an_uncompiled_head_is_read_from_its_activation(activation, loss, from_logits, labels):
    task = task_from_model(classifier(activation))
    assert task.from_logits is from_logits and task.labels == labels
    assert loss in json.dumps(task.loss)


def test_one_hot_labels_follow_a_categorical_loss_and_train(digits):
    model = classifier("softmax")
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    task = task_from_model(model)
    assert task.labels == "one_hot"
    data = prepared(digits, task)
    assert next(iter(data.train))[1].shape[-1] == 10
    space = SearchSpace.from_model(model, widths=[8])
    run, _ = train_architecture(space, space.no_bottleneck(), data, epochs=3, seed=0, task=task)
    assert run.val_accuracy > 0.5  # chance is 0.1


def test_a_regression_head_is_scored_on_mae_downwards():
    inputs = keras.Input((8, 8, 1))
    x = L.GlobalAveragePooling2D()(L.Conv2D(16, 3, name="c")(L.Conv2D(16, 3, name="b")(inputs)))
    model = keras.Model(inputs, L.Dense(2, activation="relu")(x))
    task = task_from_model(model)
    assert (task.score, task.direction, task.classes) == ("val_mae", "min", None)


@pytest.mark.parametrize(
    "preprocessing, expected",
    [
        (lambda: L.Rescaling(1 / 255), RAW),
        (lambda: L.Rescaling(1 / 127.5, offset=-1), RAW),
        (lambda: L.Normalization(mean=120.0, variance=70.0**2), RAW),
        (lambda: L.Normalization(mean=0.45, variance=0.3**2), UNIT),
        (lambda: None, UNIT),
        # keras.applications-style preprocessing written as keras.ops calls in the graph
        (lambda: lambda x: keras.ops.subtract(keras.ops.divide(x, 127.5), 1.0), RAW),
        # Keras' image examples: augmentation, then Rescaling, in a nested Sequential
        (lambda: keras.Sequential([L.RandomFlip(), L.Rescaling(1 / 255)]), RAW),
    ],
    ids=[
        "rescaling",
        "rescaling_signed",
        "normalization_raw",
        "normalization_unit",
        "none",
        "ops",
        "augmented",
    ],
)
def test_the_input_range_follows_the_models_own_preprocessing(preprocessing, expected):
    layer = preprocessing()
    assert expected_input_range(classifier(preprocessing=layer))[0] == expected


# -- frozen parts -----------------------------------------------------------------------------


def frozen_backbone_model():
    inner_in = keras.Input((8, 8, 1))
    y = L.Conv2D(16, 3, padding="same", name="bb1")(inner_in)
    y = L.Conv2D(16, 3, padding="same", name="bb2")(y)
    backbone = keras.Model(inner_in, y, name="backbone")
    backbone.trainable = False
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", name="head_conv")(backbone(inputs))
    outputs = L.Dense(10, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="frozen_user")


def test_frozen_backbones_are_no_sites_and_stay_frozen_with_their_weights():
    model = frozen_backbone_model()
    space = SearchSpace.from_model(model, widths=[8])
    assert [site.name for site in space.sites] == ["head_conv"]
    assert space.source["passed_over"] == {"frozen": 2}
    built = space.build({"head_conv": 8})
    backbone = built.get_layer("backbone")
    assert backbone.trainable is False and not backbone.trainable_weights
    np.testing.assert_array_equal(
        backbone.get_layer("bb2").get_weights()[0],
        model.get_layer("backbone").get_layer("bb2").get_weights()[0],
    )
    # From scratch: the trainable conv does not keep the user's weights.
    assert not np.array_equal(
        built.get_layer("head_conv").get_weights()[0][:, :, :8],
        model.get_layer("head_conv").get_weights()[0][:, :, :8],
    )


def test_a_frozen_conv_that_gets_a_reduction_trains_and_the_rest_stays_frozen():
    model = frozen_backbone_model()
    space = SearchSpace.from_model(model, widths=[8], include_frozen=True)
    assert [site.name for site in space.sites] == ["bb2", "head_conv"]
    built = space.build({"bb2": 8})
    backbone = built.get_layer("backbone")
    assert backbone.get_layer("bb2").trainable and not backbone.get_layer("bb1").trainable
    trained = {w.path.split("/")[0] for w in built.trainable_weights}
    assert "bb2" in trained and "bb1" not in trained and "bb2_reduce" in trained


# -- sites that are passed over ---------------------------------------------------------------


def test_grouped_separable_and_transposed_convs_are_sites_costed_as_the_counter_counts():
    inputs = keras.Input((8, 8, 32))
    x = L.Conv2D(32, 3, groups=4, padding="same", activation="relu", name="grouped")(inputs)
    x = L.SeparableConv2D(16, 3, padding="same", depth_multiplier=2, name="separable")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", name="up")(x)  # to 16x16
    model = keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)), name="grouped_net")
    space = SearchSpace.from_model(model, widths=[6, 8, 16, 32])
    grouped, separable, up = space.sites
    assert (grouped.name, grouped.groups, grouped.widths) == ("grouped", 4, (8, 16))  # x4, < 32
    assert (separable.name, separable.depth_multiplier) == ("separable", 2)
    assert (up.name, up.transposed, up.widths) == ("up", True, (6, 8, 16))
    assert space.source["passed_over"] == {"depthwise": 1}
    # transposed: a 1x1 16->6 on 8x8, then its 3x3 kernels run once per 8x8 input position
    assert space.macs({"up": 6}) - space.macs({}) == 64 * 16 * 6 + 64 * 9 * 8 * (6 - 16)
    # grouped: a 1x1 32->8 on 8x8, then the 3x3 conv over 4 groups of 2 channels, not of 8
    assert space.macs({"grouped": 8}) - space.macs({}) == 64 * 32 * 8 + 64 * 9 * 32 * (8 - 32) // 4
    # separable: a 1x1 32->16, then depthwise (9 x 2 per channel) and pointwise (2 x 16) on 16
    assert space.macs({"separable": 16}) - space.macs({}) == (
        64 * 32 * 16 + 64 * 2 * (9 + 16) * (16 - 32)
    )
    for architecture in space.architectures():
        built = space.build(architecture)
        report = count_flops(built)
        assert (report.macs, report.flops, report.params) == space.cost(architecture)
    built.compile(loss="mse")
    assert np.isfinite(built.train_on_batch(np.ones((2, 8, 8, 32)), np.ones((2, 10))))


def test_convs_that_cannot_be_sites_are_counted_in_the_no_sites_error():
    inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(16, 3, groups=16, padding="same", name="grouped")(inputs)
    x = L.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    shared = L.Conv2D(16, 3, padding="same", name="shared")
    x = shared(shared(x))
    model = keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)), name="mixer")
    with pytest.raises(Exception, match=r"passed over \(1 grouped, 1 depthwise, 1 shared\)"):
        SearchSpace.from_model(model)


def test_a_supernet_refuses_grouped_sites_in_one_sentence():
    from bottleneck_search import Supernet

    inputs = keras.Input((8, 8, 32))
    x = L.Conv2D(32, 3, groups=4, padding="same", name="grouped")(inputs)
    model = keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)))
    with pytest.raises(SearchSpaceError, match="cannot share the weights of grouped convs"):
        Supernet(SearchSpace.from_model(model, widths=[8]))


def test_count_flops_of_a_subclassed_model_with_an_input_shape_is_our_error():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = L.Conv2D(4, 3)

        def call(self, x):
            return self.conv(x)

    with pytest.raises(FlopCountError):
        count_flops(Subclassed(), input_shape=(8, 8, 1))


# -- the CLI on users' models -----------------------------------------------------------------


@pytest.fixture(scope="module")
def user_runs(tmp_path_factory):
    """`search --model` over a compiled logits model and over a `Rescaling(1/255)` model (with
    `--widths 4 --min-kernel-size 3`): one trial of 3 epochs each on digits."""
    from bottleneck_search.cli import main

    folder = tmp_path_factory.mktemp("user_models")
    logits = classifier(name="logits")
    logits.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    logits.save(folder / "logits.keras")
    classifier("softmax", L.Rescaling(1 / 255), name="rescaled").save(folder / "rescaled.keras")
    runs = {}
    for name in ("logits", "rescaled"):
        runs[name] = folder / f"run_{name}"
        code = main(
            [
                "search",
                "--model",
                str(folder / f"{name}.keras"),
                "--max-trials",
                "1",
                "--epochs",
                "3",
                "--confirm",
                "0",
                "--run-dir",
                str(runs[name]),
                *(["--widths", "4", "--min-kernel-size", "3"] if name == "rescaled" else []),
            ]
        )
        assert code == 0
    return runs


@pytest.mark.slow
def test_search_confirm_and_export_train_a_logits_model_with_its_own_loss(user_runs):
    from bottleneck_search import confirm_run, export_architectures

    run = user_runs["logits"]
    record = json.loads((run / "config.json").read_text())
    assert record["task"]["loss"]["config"]["from_logits"] is True
    (trial,) = TrialLog(run / "trials.jsonl").read()
    assert trial.val_accuracy > 0.5  # chance is 0.1
    confirmed = confirm_run(run, top=1, seeds=1)
    assert confirmed and all(r.val_accuracy > 0.5 for r in confirmed)
    (folder,) = export_architectures(run, top=1)
    exported = keras.saving.load_model(f"{folder}/model.keras")
    assert exported.compiled and exported.loss.get_config()["from_logits"] is True


@pytest.mark.slow
def test_search_feeds_a_rescaling_model_raw_pixels(user_runs):
    record = json.loads((user_runs["rescaled"] / "config.json").read_text())
    assert record["task"]["input_range"] == [0.0, 255.0]
    assert "Rescaling" in record["task"]["input_reason"]
    (trial,) = TrialLog(user_runs["rescaled"] / "trials.jsonl").read()
    assert trial.val_accuracy > 0.5
    # --widths 4: c2 and c3 (16 input channels) offer 4 only; c1 (1 channel) is too narrow
    assert record["space"]["passed_over"] == {"too narrow": 1}
    assert set(trial.architecture) == {"c2", "c3"}
    assert set(trial.architecture.values()) <= {None, 4}


def test_a_segmentation_model_is_refused_in_one_line_before_training(cli, tmp_path):
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", name="enc")(inputs)
    x = L.Conv2D(16, 3, padding="same", name="dec")(x)
    model = keras.Model(inputs, L.Conv2D(10, 1, activation="softmax")(x), name="segmenter")
    model.save(tmp_path / "seg.keras")
    code, out, err = cli(
        "search", "--model", tmp_path / "seg.keras", "--run-dir", tmp_path / "run", "--confirm", "0"
    )
    assert code == 2
    assert err.strip().count("\n") == 0 and "outputs (8, 8, 10) per image" in err
    assert not (tmp_path / "run" / "trials.jsonl").exists()


# -- Python API on other tasks ----------------------------------------------------------------


def brightness_data(count=160, seed=0):
    """8x8 images of random brightness: the mean pixel (a regression target), whether it is
    above the median (a class), and which pixels are bright (a mask)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((count, 8, 8, 1)) * rng.random((count, 1, 1, 1))).astype("float32")
    brightness = x.mean(axis=(1, 2, 3))
    return x, brightness, (brightness > np.median(brightness)).astype("int64")


def two_site_model(head):
    inputs = keras.Input((8, 8, 1))
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="a")(inputs)
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="b")(h)
    return keras.Model(inputs, head(h))


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    """A search, confirmation and export of a regression model with its own MAE loss, from
    Python with arrays: run once for the tests that read it."""
    x, brightness, _ = brightness_data()
    y = np.stack([brightness, x.std(axis=(1, 2, 3))], axis=1)
    model = two_site_model(lambda h: L.Dense(2, name="out")(L.GlobalAveragePooling2D()(h)))
    model.compile("adam", "mae", metrics=["mae"])
    run_dir = str(tmp_path_factory.mktemp("regression") / "run")
    config = SearchConfig(
        space=SpaceSource(spec=None, model=model, widths=[4]),
        data=(x, y),
        proposer=Proposer(max_trials=2),
        training=TrialTraining(epochs=3),
        confirm=Confirmation(top=1, seeds=1),
        run_dir=run_dir,
    )
    result = run_search(config)
    export_architectures(run_dir, top=1)
    write_report(run_dir)
    return run_dir, result, float(np.abs(y - y.mean(axis=0)).mean())


@pytest.mark.slow
def test_a_regression_model_is_searched_confirmed_and_exported_on_its_mae(regression_run):
    run_dir, result, mean_predictor_mae = regression_run
    with open(f"{run_dir}/config.json") as handle:
        recorded = json.load(handle)
    assert recorded["task"]["score"] == "val_mae" and recorded["task"]["direction"] == "min"
    assert recorded["arguments"]["dataset"] == f"npz:{run_dir}/data.npz"  # kept in the run
    assert recorded["dataset"]["classes"] is None
    with open(f"{run_dir}/trial_0/trial.json") as handle:  # Keras Tuner's own objective
        assert json.load(handle)["metrics"]["metrics"]["val_score"]["direction"] == "min"
    trials = result.completed
    assert len(trials) == 2 and all(t.metric["name"] == "val_mae" for t in trials)
    # It learned: better than always predicting the targets' mean.
    assert min(t.value for t in trials) < mean_predictor_mae
    assert result.best(1)[0].score == min(t.score for t in trials)  # lowest first
    confirmations = result.confirmations
    assert {c.metric for c in confirmations} == {"val_mae"}
    assert {c.direction for c in confirmations} == {"min"}
    (folder,) = [p for p in os.listdir(f"{run_dir}/export") if p.startswith("trial_")]
    with open(f"{run_dir}/export/{folder}/architecture.json") as handle:
        assert json.load(handle)["metric"]["name"] == "val_mae"
    exported = keras.saving.load_model(f"{run_dir}/export/{folder}/model.keras")
    assert exported.loss == "mae"  # saved compiled with the model's own loss
    report = Path(f"{run_dir}/report.md").read_text()
    assert "| trial | MACs | params | val_mae | score |" in report
    assert "val_mae" in report.split("## Confirmed results")[1] and "points" not in report


@pytest.mark.slow
def test_segmentation_and_multi_output_models_search_on_their_own_labels(tmp_path):
    x, brightness, bright = brightness_data()
    masks = (x[..., 0] > np.median(x)).astype("int64")
    segmenter = two_site_model(lambda h: L.Conv2D(2, 1, activation="softmax")(h))
    segmenter.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    two_heads = two_site_model(
        lambda h: [
            L.Dense(2, activation="softmax", name="bright")(L.GlobalAveragePooling2D()(h)),
            L.Dense(1, name="level")(L.GlobalAveragePooling2D()(h)),
        ]
    )
    two_heads.compile(
        "adam", ["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]]
    )
    for name, model, labels in (
        ("segmentation", segmenter, masks),
        ("two_heads", two_heads, (bright, brightness)),
    ):
        config = SearchConfig(
            space=SpaceSource(spec=None, model=model, widths=[4]),
            data=DataSource((x, labels), batch_size=8),
            proposer=Proposer(max_trials=1),
            training=TrialTraining(epochs=3),
            confirm=Confirmation(top=0),
            run_dir=str(tmp_path / name),
        )
        (trial,) = run_search(config).completed
        task = json.loads((tmp_path / name / "config.json").read_text())["task"]
        if name == "segmentation":  # pixel accuracy, well above the 0.5 of guessing
            assert task["score"] == "val_accuracy" and trial.val_accuracy > 0.75
        else:  # scored on its first output's accuracy, both heads trained with their losses
            assert task["score"] == "val_bright_accuracy" and task["metrics"] == [
                ["accuracy"],
                ["mae"],
            ]
            assert trial.val_accuracy > 0.6


@pytest.mark.slow
def test_compress_of_a_regression_model_scores_its_mae_downwards(tmp_path):
    x, brightness, _ = brightness_data()
    model = two_site_model(lambda h: L.Dense(1, name="out")(L.GlobalAveragePooling2D()(h)))
    model.compile("adam", "mae", metrics=["mae"])
    model.fit(x, brightness, epochs=8, verbose=0)
    config = CompressConfig(
        model=model,
        data=(x, brightness),
        macs_ratio=1.3,
        finetune_epochs=1,
        candidates=1,
        run_dir=str(tmp_path / "compressed"),
    )
    summary = compress_model(config).summary
    assert summary["metric"] == "val_mae"
    (candidate,) = summary["candidates"]
    # Never worse than its own warm start, lower being better.
    assert summary["after"]["val_accuracy"] <= candidate["warm_start_val_accuracy"]
    assert summary["before"]["val_accuracy"] < float(np.abs(brightness - brightness.mean()).mean())
    table = json.loads((tmp_path / "compressed" / "sensitivity.json").read_text())
    assert table["metric"] == "val_mae"
    assert "val val_mae" in (tmp_path / "compressed" / "report.md").read_text()
    assert (tmp_path / "compressed" / "data.npz").is_file()


@pytest.mark.slow
def test_warm_start_fits_compress_low_rank_on_the_data_and_starts_near_the_trained_model(
    tmp_path, digits
):
    model = classifier("softmax")
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(digits.train, epochs=6, verbose=0)
    trained = model.evaluate(digits.val, verbose=0, return_dict=True)["accuracy"]
    run_dir = str(tmp_path / "warm")
    config = SearchConfig(
        space=SpaceSource(spec=None, model=model, warm_start=True, widths=[8]),
        proposer=Proposer(max_trials=1),
        training=TrialTraining(epochs=1, learning_rate=5e-4, schedule="constant"),
        confirm=Confirmation(top=0),
        run_dir=run_dir,
    )
    run_search(config)
    run = load_run(run_dir)
    (trial,) = run.completed
    assert trial.val_accuracy > trained - 0.1  # a trial starts where the trained model is
    space, data = run.trained_space_and_data()
    assert space.warm_start.method == "output"  # data-aware, as compress fits it
    # The same factorisation whenever the run's space is rebuilt (trainers, confirmation).
    again, _ = run.trained_space_and_data()
    reduced = space.validate({site.name: 8 for site in space.sites})
    for a, b in zip(
        space.build(reduced).get_weights(), again.build(reduced).get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    images = next(iter(data.val))[0]
    np.testing.assert_allclose(
        space.build(space.no_bottleneck()).predict(images, verbose=0),
        model.predict(images, verbose=0),
        atol=1e-5,
    )
    # One epoch of the reduced architecture from the warm start, against from scratch.
    recipe = config.training.recipe()
    warm, _ = train_architecture(space, reduced, data, 1, 0, recipe)
    scratch, _ = train_architecture(
        SearchSpace.from_model(model, widths=[8]), reduced, data, 1, 0, recipe
    )
    assert warm.val_accuracy > scratch.val_accuracy + 0.2


@pytest.mark.slow
def test_compress_keeps_the_warm_start_when_fine_tuning_makes_it_worse(tmp_path, digits):
    model = classifier()
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(digits.train, epochs=4, verbose=0)
    config = CompressConfig(
        model=model,
        macs_ratio=1.3,
        finetune_epochs=1,
        candidates=1,
        learning_rate=5.0,  # a rate that wrecks any fine-tuning
        run_dir=str(tmp_path / "compressed"),
    )
    result = compress_model(config)
    (candidate,) = result.summary["candidates"]
    assert candidate["fine_tuned_val_accuracy"] < candidate["warm_start_val_accuracy"]
    assert candidate["kept"] == "warm start"
    assert result.summary["after"]["val_accuracy"] == candidate["warm_start_val_accuracy"]
    assert result.summary["before"]["val_accuracy"] > 0.5  # its logits scored as logits
    exported = keras.saving.load_model(
        tmp_path / "compressed" / "export" / f"trial_{candidate['trial_id']}" / "model.keras"
    )
    assert exported.compiled  # saved with its task: evaluate works at once


def test_an_architecture_file_is_applied_by_structure_when_auto_names_change(tmp_path):
    def unnamed():  # auto-generated layer names, as a user's model has them
        inputs = keras.Input((8, 8, 16))
        x = L.Conv2D(16, 3, padding="same")(L.Conv2D(16, 3, padding="same")(inputs))
        return keras.Model(inputs, L.Dense(10)(L.Flatten()(x)))

    first = unnamed()
    space = SearchSpace.from_model(first, widths=[8])
    name = space.sites[1].name
    path = tmp_path / "architecture.json"
    path.write_text(
        json.dumps({"sites": {name: 8}, "site_keys": {s.name: s.key for s in space.sites}})
    )
    rebuilt = unnamed()  # the same model rebuilt: other auto-generated names
    assert name not in [layer.name for layer in rebuilt.layers]
    with pytest.warns(UserWarning, match="matched by their position and shapes"):
        reduced = apply_bottlenecks(rebuilt, path)
    assert count_flops(reduced).macs == space.macs({name: 8})


@pytest.mark.parametrize("best, learned", [(0.13, False), (0.2, True)])
def test_a_search_at_chance_says_so_and_recommends_nothing(tmp_path, best, learned):
    from conftest import make_record

    from bottleneck_search.results.summary import search_summary

    task = Task(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), classes=10)
    (tmp_path / "config.json").write_text(
        json.dumps({"dataset": {"classes": 10, "val": 305}, "task": task.get_config()})
    )
    records = [make_record("0", accuracy=0.1), make_record("1", accuracy=best)]
    summary = search_summary(str(tmp_path), records)
    # chance for 10 classes on 305 images: at most 0.139 (95% Wilson interval around 0.1)
    assert ("Nothing was learned" in summary) is not learned
    assert ("Pareto front" in summary) is learned
    if not learned:
        assert "logits expected" in summary and "--input-range" in summary


def test_run_search_takes_an_in_memory_model_and_keeps_it_in_the_run(tmp_path):
    from bottleneck_search import Confirmation, Proposer, SearchConfig, TrialTraining, run_search

    run_dir = tmp_path / "run"
    config = SearchConfig(
        space=classifier("softmax"),  # a keras.Model: SpaceSource(spec=None, model=...)
        proposer=Proposer(max_trials=1),
        training=TrialTraining(epochs=1),
        confirm=Confirmation(top=0),
    )
    result = run_search(dataclasses.replace(config, run_dir=str(run_dir)))
    record = json.loads((run_dir / "config.json").read_text())
    assert record["arguments"]["model"] == str(run_dir / "original.keras")
    assert record["arguments"]["space"] is None and record["model"]["layers"] == 6
    assert result.completed and result.completed[0].val_accuracy is not None


def test_a_pydataset_is_read_as_arrays():
    from sklearn.datasets import load_digits

    from bottleneck_search import load_dataset

    digits = load_digits()

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 10

        def __getitem__(self, index):
            rows = slice(index * 40, (index + 1) * 40)
            return digits.images[rows] / 16.0, digits.target[rows]

    data = load_dataset(Batches(), (8, 8, 1))
    assert sum(data.sizes().values()) == 400 and data.num_classes == 10


def test_a_one_shot_search_of_grouped_sites_is_refused_before_the_run_holds_anything(cli, tmp_path):
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(16, 3, padding="same", name="c1")(inputs)
    x = L.Conv2D(16, 3, groups=4, padding="same", name="grouped")(x)
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(L.Flatten()(x)))
    model.save(tmp_path / "grouped.keras")
    run = tmp_path / "run"
    code, _, err = cli(
        "search", "--model", tmp_path / "grouped.keras", "--strategy", "oneshot", "--run-dir", run
    )
    assert code == 2 and "supernet holds plain convs only" in err and "['grouped']" in err
    assert not (run / "config.json").exists()
