"""A Keras Tuner user's own code, served by the product: a keras.io-style `build(hp)` with two
`bottleneck_conv` sites and its own hyperparameters and compile, searched by stock tuners with
`CostMetrics` (no SearchSpace anywhere)."""

from pathlib import Path

import keras
import keras_tuner as kt
import pytest

from bottleneck_search import (
    CostMetrics,
    CostPenalty,
    EvolutionOracle,
    FlopCountError,
    SearchConfigError,
    count_flops,
)
from bottleneck_search.space.user_code import import_user_build

ROOT = Path(__file__).resolve().parent.parent
TARGET_MACS = 20_000  # below every model of `build`: each is penalised


# The shape of keras.io's "Getting started with KerasTuner" on 8x8 digits: two bottleneck_conv
# sites, filters, dropout and a learning rate of its own, compiled by itself.
build, _ = import_user_build(f"{ROOT}/docs/examples/own_build.py:build_model")


@pytest.mark.parametrize("kind", ["random", "evolution"])
def test_a_stock_tuner_over_a_users_build_records_counted_macs_and_a_penalised_score(
    kind, digits, tmp_path
):
    objective = kt.Objective("val_score", "max")
    if kind == "random":
        tuner = kt.RandomSearch(
            build, objective=objective, max_trials=3, seed=1, directory=tmp_path, project_name="t"
        )
    else:
        oracle = EvolutionOracle(objective, max_trials=3, population_size=2, seed=1)
        tuner = kt.Tuner(oracle=oracle, hypermodel=build, directory=tmp_path, project_name="t")
    penalty = CostPenalty("soft", target_macs=TARGET_MACS)
    tuner.search(
        digits.train,
        validation_data=digits.val,
        epochs=1,
        verbose=0,
        callbacks=[CostMetrics(penalty=penalty)],
    )
    trials = tuner.oracle.get_best_trials(3)
    assert len(trials) == 3
    for trial in trials:
        model = build(trial.hyperparameters)  # the same hyperparameters build the same graph
        metrics = trial.metrics
        assert metrics.get_last_value("macs") == count_flops(model).macs
        assert metrics.get_last_value("params") == model.count_params()
        accuracy = metrics.get_last_value("val_accuracy")
        assert metrics.get_last_value("val_score") == pytest.approx(
            penalty.score(accuracy, count_flops(model).macs)
        )
        assert metrics.get_last_value("val_score") < accuracy  # over target: penalised
    assert len({t.metrics.get_last_value("macs") for t in trials}) > 1  # the sites were searched


def test_a_model_the_counter_cannot_count_stops_training_naming_the_layer(digits):
    inputs = keras.Input((None, None, 1))  # free image size: no shape to count at
    x = keras.layers.Conv2D(4, 3, name="free_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    penalty = CostPenalty("soft", target_macs=TARGET_MACS)
    fit = dict(validation_data=digits.val, epochs=1, verbose=0)
    with pytest.raises(FlopCountError, match="Layer 'free_conv' has an undefined dimension"):
        model.fit(digits.train, **fit, callbacks=[CostMetrics(penalty=penalty)])
    # Counted at the shape it is trained on, when told: 6*6*4 * 9 + 4*10.
    costs = CostMetrics(penalty=penalty, input_shape=(8, 8, 1))
    assert model.fit(digits.train, **fit, callbacks=[costs]).history["macs"] == [1336]


def test_a_penalty_without_a_target_is_refused_when_the_callback_is_made():
    with pytest.raises(SearchConfigError, match="needs the penalty's target"):
        CostMetrics(penalty=CostPenalty("soft"))
    with pytest.raises(SearchConfigError, match="cost='latency' needs the architecture"):
        CostMetrics(penalty=CostPenalty("soft", cost="latency", target_latency_us=100.0))


def test_make_tuner_searches_a_users_build_keeping_its_compile_and_hyperparameters(
    digits, tmp_path
):
    from bottleneck_search import make_tuner
    from bottleneck_search.rundir.trial_log import TrialLog

    default = build(kt.HyperParameters())
    # Between the cheapest and the default: some trials are over budget and never train.
    cheapest_hp = kt.HyperParameters()
    for site in ("mid1", "mid2"):
        cheapest_hp.Fixed(f"{site}/reduce", True)
        cheapest_hp.Fixed(f"{site}/width", 4)
    budget = (count_flops(build(cheapest_hp)).macs + count_flops(default).macs) // 2
    tuner = make_tuner(
        "random", build, max_macs=budget, max_trials=6, seed=3, directory=tmp_path, project_name="u"
    )
    assert tuner.hypermodel.penalty.target_macs == count_flops(default).macs  # the default design
    assert tuner.hypermodel.task.score == "val_accuracy"  # from build's own compile
    tuner.search(digits.train, validation_data=digits.val, epochs=1, verbose=0)
    records = {r.trial_id: r for r in TrialLog(tmp_path / "u" / "trials.jsonl").read()}
    assert len(records) == 6
    statuses = {r.status for r in records.values()}
    assert statuses == {"COMPLETED", "INFEASIBLE"}, statuses
    for trial in tuner.oracle.trials.values():
        record = records[trial.trial_id]
        model = build(trial.hyperparameters)
        assert record.macs == count_flops(model).macs
        assert record.architecture == {
            site: trial.hyperparameters.values.get(f"{site}/width")
            if trial.hyperparameters.values[f"{site}/reduce"]
            else None
            for site in ("mid1", "mid2")
        }
        if record.macs > budget:
            assert record.status == "INFEASIBLE" and record.epochs == 0 and record.seconds < 1
        else:
            assert record.status == "COMPLETED" and record.val_accuracy > 0.5  # 10 classes
    best = tuner.get_best_models(1)[0]
    best_hp = tuner.get_best_hyperparameters(1)[0]
    # The user's own optimizer and learning rate, not the recipe's.
    assert best.optimizer.learning_rate.numpy() == pytest.approx(best_hp.values["learning_rate"])


class FitsItself(kt.HyperModel):
    """A user's HyperModel whose own fit tunes the batch size."""

    def build(self, hp):
        return build(hp)

    def fit(self, hp, model, x, *args, **kwargs):
        self.batch_sizes.append(hp.Choice("batch_size", [32, 64]))
        return model.fit(x.unbatch().batch(self.batch_sizes[-1]), *args, **kwargs)


def test_a_users_hypermodel_trains_with_its_own_fit(digits, tmp_path):
    from bottleneck_search import BottleneckHyperModel, make_tuner

    own = FitsItself(name="fits_itself")
    own.batch_sizes = []
    hypermodel = BottleneckHyperModel(own, penalty=CostPenalty("soft", target_macs=TARGET_MACS))
    assert hypermodel.name == "fits_itself"
    tuner = make_tuner(
        "random", hypermodel, max_trials=2, seed=0, directory=tmp_path, project_name="f"
    )
    tuner.search(digits.train, validation_data=digits.val, epochs=1, verbose=0)
    assert len(own.batch_sizes) == 2
    for trial in tuner.oracle.trials.values():
        assert "batch_size" in trial.hyperparameters.values
        assert trial.metrics.get_last_value("val_score") < trial.metrics.get_last_value(
            "val_accuracy"
        )


def _returns_none(hp):
    return None


def _uncompiled(hp):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="raw")


def _raises(hp):
    raise ValueError("no such layer size")


@pytest.mark.parametrize(
    "source, message",
    [
        (42, "must be a build\\(hp\\) function or a keras_tuner.HyperModel. Received: int."),
        (_returns_none, "_returns_none\\(hp\\) must return a keras.Model. Received: NoneType."),
        (_uncompiled, "_uncompiled\\(hp\\) returned model 'raw' uncompiled. Compile it"),
        (_raises, "_raises\\(hp\\) raised ValueError with its default hyperparameters: no such"),
    ],
    ids=["not_callable", "no_model", "uncompiled", "raises"],
)
def test_a_broken_build_is_refused_when_the_hypermodel_is_made(source, message):
    from bottleneck_search import BottleneckHyperModel

    with pytest.raises(SearchConfigError, match=message):
        BottleneckHyperModel(source)


def test_options_that_need_a_space_are_refused_for_a_users_build():
    from bottleneck_search import BottleneckHyperModel

    with pytest.raises(SearchConfigError, match="your build\\(hp\\) compiles its own"):
        BottleneckHyperModel(build, optimizer="sgd")
    with pytest.raises(SearchConfigError, match="A latency cost or budget needs a SearchSpace"):
        BottleneckHyperModel(build, max_latency_us=100.0)


def test_one_callback_counts_each_model_it_is_attached_to(digits):
    costs = CostMetrics(penalty=CostPenalty("linear", target_macs=TARGET_MACS))
    for reduce in (False, True):
        hp = kt.HyperParameters()
        hp.Fixed("mid1/reduce", reduce)
        model = build(hp)
        history = model.fit(
            digits.train, validation_data=digits.val, epochs=1, verbose=0, callbacks=[costs]
        )
        macs = count_flops(model).macs
        assert history.history["macs"] == [macs]
        accuracy = history.history["val_accuracy"][0]
        assert history.history["val_score"][0] == pytest.approx(accuracy - 0.1 * macs / TARGET_MACS)


def test_the_callback_scores_a_regression_head_on_its_error_and_a_logits_head_on_accuracy(digits):
    # Neither is a softmax classifier: the task comes from each model's own compile.
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, padding="same")(inputs))
    penalty = CostPenalty("soft", target_macs=1_000)  # below both models: each is penalised

    regression = keras.Model(inputs, keras.layers.Dense(1)(features))
    regression.compile("adam", loss="mse", metrics=["mae"])
    targets = digits.train.map(lambda x, y: (x, keras.ops.cast(y, "float32")))
    val_targets = digits.val.map(lambda x, y: (x, keras.ops.cast(y, "float32")))
    logs = regression.fit(
        targets,
        validation_data=val_targets,
        epochs=1,
        verbose=0,
        callbacks=[CostMetrics(penalty=penalty)],
    ).history
    macs = count_flops(regression).macs
    # The error is minimised: over the target, the penalty makes the score worse, i.e. higher.
    assert logs["val_score"][0] == pytest.approx(penalty.score(logs["val_mae"][0], macs, "min"))
    assert logs["val_score"][0] > logs["val_mae"][0]

    logits = keras.Model(inputs, keras.layers.Dense(10)(features))
    logits.compile(
        "adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logs = logits.fit(
        digits.train,
        validation_data=digits.val,
        epochs=1,
        verbose=0,
        callbacks=[CostMetrics(penalty=penalty)],
    ).history
    accuracy = logs["val_accuracy"][0]
    assert accuracy > 0.3  # 10 classes: chance is 0.1
    assert logs["val_score"][0] == pytest.approx(penalty.score(accuracy, count_flops(logits).macs))
    assert logs["val_score"][0] < accuracy
