"""The training recipe: its schedule, and trials scored and checkpointed at the end of training."""

import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from bottleneck_search import (
    BottleneckHyperModel,
    SearchConfigError,
    SearchSpace,
    TrainingRecipe,
    make_tuner,
    train_architecture,
)
from bottleneck_search.rundir.trial_log import TrialLog


def test_cosine_schedule_warms_up_peaks_and_decays_to_zero():
    recipe = TrainingRecipe(learning_rate=0.01, warmup_fraction=0.1)
    schedule = recipe.rate_schedule(steps_per_epoch=10, epochs=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 99, 100)]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(0.005)  # linear warm-up over 10 steps
    assert rates[2] == pytest.approx(0.01)  # the peak
    assert rates[3] == pytest.approx(0.005, rel=1e-3)  # half-way down the cosine
    assert rates[4] < 1e-5 and rates[5] == 0.0
    resumed = recipe.optimizer(steps_per_epoch=10, epochs=10, initial_epoch=4)
    assert int(resumed.iterations) == 40  # Hyperband continues the schedule where it was
    constant = TrainingRecipe(learning_rate=1e-3, schedule="constant").optimizer(10, 10)
    assert float(constant.learning_rate) == pytest.approx(1e-3)
    assert isinstance(recipe.optimizer(10, 10), keras.optimizers.Adam)


def test_final_accuracy_is_the_mean_of_the_last_epochs():
    assert TrainingRecipe().final_accuracy([0.5, 0.9, 0.7]) == 0.7
    assert TrainingRecipe(score_epochs=2).final_accuracy([0.5, 0.9, 0.7]) == pytest.approx(0.8)
    assert TrainingRecipe(score_epochs=5).final_accuracy([0.5, 0.9]) == pytest.approx(0.7)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            {"schedule": "step"},
            "`schedule` must be one of 'cosine', 'constant'. Received: schedule='step'.",
        ),
        (
            {"learning_rate": 0},
            "`learning_rate` must be a positive number. Received: learning_rate=0.",
        ),
        (
            {"score_epochs": 0},
            "`score_epochs` must be a positive integer. Received: score_epochs=0.",
        ),
        (
            {"warmup_fraction": 1.0},
            "`warmup_fraction` must be a finite number at least 0 and below 1. "
            "Received: warmup_fraction=1.0.",
        ),
    ],
)
def test_bad_recipes(arguments, message):
    with pytest.raises(SearchConfigError, match=message):
        TrainingRecipe(**arguments)


class FinalWeights(keras.callbacks.Callback):
    """Keeps the model's weights and validation accuracy at the end of every epoch (on the class:
    Keras Tuner trains with a deep copy of each callback)."""

    weights: list = []
    accuracies: list = []

    def on_epoch_end(self, epoch, logs=None):
        FinalWeights.weights.append([w.copy() for w in self.model.get_weights()])
        FinalWeights.accuracies.append(float(logs["val_accuracy"]))


@pytest.mark.slow
def test_a_trial_is_scored_and_checkpointed_at_its_final_epoch(tiny_space_path, digits, tmp_path):
    space = SearchSpace.from_yaml(tiny_space_path)
    tuner = make_tuner(
        "random", BottleneckHyperModel(space), max_trials=1, directory=tmp_path, project_name="p"
    )
    watcher = FinalWeights
    tuner.search(
        digits.train, validation_data=digits.val, epochs=3, verbose=0, callbacks=[FinalWeights()]
    )
    (record,) = TrialLog(tmp_path / "p" / "trials.jsonl").read()  # make_tuner's default log
    assert record.val_accuracy == watcher.accuracies[-1]
    trial = tuner.oracle.get_best_trials(1)[0]
    assert trial.score == pytest.approx(record.score)
    # The checkpoint Keras Tuner keeps is the scored model: the final epoch's weights.
    (model,) = tuner.get_best_models(1)
    for saved, final in zip(model.get_weights(), watcher.weights[-1], strict=True):
        np.testing.assert_array_equal(saved, final)
    state = json.loads((tmp_path / "p" / f"trial_{trial.trial_id}" / "trial.json").read_text())
    assert state["metrics"]["metrics"]["val_score"]["observations"][0]["value"] == [
        pytest.approx(record.score)
    ]


@pytest.mark.slow
def test_the_recipe_lets_a_tiny_network_learn_and_an_own_optimizer_is_kept(tiny_space_path, digits):
    space = SearchSpace.from_yaml(tiny_space_path)
    run, model = train_architecture(space, space.no_bottleneck(), digits, epochs=3, seed=0)
    assert run.val_accuracy > 0.5 and run.test_accuracy > 0.5  # ten classes: chance is 0.1
    assert len(run.val_history) == 3 and run.val_accuracy == run.val_history[-1]
    assert float(model.optimizer.learning_rate) < 1e-6  # decayed to zero by the end
    own = BottleneckHyperModel(space, optimizer=keras.optimizers.SGD(0.05))
    built = own.build(kt.HyperParameters())
    assert isinstance(built.optimizer, keras.optimizers.SGD)
