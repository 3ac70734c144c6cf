"""The Keras Tuner face: per-site hyperparameters, BottleneckHyperModel and bottleneck_conv."""

import keras
import keras_tuner as kt
import numpy as np
import pytest
from conftest import SPACES

from bottleneck_search import (
    BottleneckHyperModel,
    SearchConfigError,
    SearchSpace,
    architecture_from_hp,
    architecture_to_hp,
    bottleneck_conv,
    count_flops,
)

L = keras.layers


@pytest.fixture(scope="module")
def mini():
    return SearchSpace.from_yaml(SPACES / "inception_mini.yaml")


def test_hyperparameters_per_site_are_conditional(mini):
    hp = kt.HyperParameters()
    architecture = architecture_from_hp(mini, hp)
    assert architecture == mini.no_bottleneck()
    names = [p.name for p in hp.space]
    assert names[:2] == ["mix1_3x3/reduce", "mix1_3x3/width"]
    width = hp.space[1]
    assert list(width.values) == [8, 16]
    assert not hp.is_active(width)  # only active once reduce is True


def test_architecture_to_hp_round_trip(mini):
    for architecture in [mini.reference, mini.no_bottleneck(), mini.cheapest()]:
        assert architecture_from_hp(mini, architecture_to_hp(mini, architecture)) == architecture


def test_hypermodel_builds_the_chosen_architecture(mini):
    hypermodel = BottleneckHyperModel(mini, optimizer=keras.optimizers.Adam(1e-3))
    model = hypermodel.build(architecture_to_hp(mini, mini.reference))
    architecture = hypermodel.architecture_of(model)
    assert architecture == mini.reference
    assert architecture.macs == count_flops(model).macs == mini.macs(mini.reference)
    assert not any(name.startswith("bottleneck") for name in vars(model))  # the model untouched
    with pytest.raises(SearchConfigError, match="was not built by this BottleneckHyperModel"):
        hypermodel.architecture_of(keras.Sequential([keras.Input((2,))]))
    assert model.get_layer("mix2_3x3_reduce").filters == 48
    assert model.optimizer is not hypermodel.optimizer  # each trial gets its own optimizer


def tiny_images(n, seed):
    """Class 1 has a bright 4x4 square in the middle; class 0 does not."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 16, 16, 8), dtype=np.float32) * 0.5
    y = rng.integers(0, 2, n)
    x[y == 1, 6:10, 6:10, :] += 1.0
    return x, y


def test_bottleneck_conv_in_a_plain_random_search(tmp_path):
    def build(hp):
        inputs = keras.Input((16, 16, 8))
        x = L.Conv2D(16, 3, padding="same", activation="relu", name="c1")(inputs)
        x = bottleneck_conv(
            hp, x, 16, 3, name="c2", widths=[4, 8], padding="same", activation="relu"
        )
        outputs = L.Dense(2, activation="softmax")(L.GlobalMaxPooling2D()(x))
        model = keras.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = tiny_images(256, 0)
    x_val, y_val = tiny_images(64, 1)
    tuner = kt.RandomSearch(
        build, objective="val_accuracy", max_trials=2, seed=1, directory=tmp_path, project_name="p"
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=4, batch_size=16, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" for t in trials)
    for trial in trials:
        model = tuner.load_model(trial)
        has_reduce = any(layer.name == "c2_reduce" for layer in model.layers)
        assert has_reduce == trial.hyperparameters.get("c2/reduce")
        # c2 alone: 16*16*16*9*16 MACs, or with a reduction of width w: 16*16*(16*w + 9*w*16)
        c2_macs = sum(r.macs for r in count_flops(model).rows if r.name.startswith("c2"))
        w = trial.hyperparameters.get("c2/width") if has_reduce else None
        assert c2_macs == (256 * 9 * 16 * 16 if w is None else 256 * (16 * w + 9 * w * 16))
    assert trials[0].score > 0.5  # a bright square is easy to see: better than chance


def test_bottleneck_conv_declares_nothing_without_a_fitting_width():
    hp = kt.HyperParameters()
    inputs = keras.Input((8, 8, 3))
    bottleneck_conv(hp, inputs, 4, 3, name="stem")  # 3 channels: the narrowest width is 8
    assert hp.space == []
