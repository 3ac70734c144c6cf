"""The training layer: a `Task` survives JSON, the penalty works in both directions, and long
trainings print a line per epoch while short ones stay quiet."""

import time

import keras
import pytest

from bottleneck_search import CostPenalty
from bottleneck_search.training import Task
from bottleneck_search.training.fit import EpochProgress


def test_a_task_survives_json_with_fresh_metric_objects():
    task = Task(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(), "mae"],
        input_range=(0, 255),
    )
    again = Task.from_config(task.get_config())
    assert again == task and again.from_logits
    assert again.score == "val_sparse_categorical_accuracy" and again.direction == "max"
    first, second = task.new_metrics()[0], task.new_metrics()[0]
    assert first is not second  # metric objects hold state: never shared between models


def test_the_penalty_makes_more_macs_worse_in_both_directions():
    penalty = CostPenalty("soft", target_macs=100)
    # accuracy: 0.9 * 2 ** -0.07; MAE: 0.2 * 2 ** 0.07 (higher is worse)
    assert penalty.score(0.9, 200) == pytest.approx(0.9 * 2**-0.07)
    assert penalty.score(0.2, 200, "min") == pytest.approx(0.2 * 2**0.07)
    linear = CostPenalty("linear", target_macs=100)
    assert linear.score(0.2, 200, "min") == pytest.approx(0.2 + 0.1 * 2)
    assert penalty.floor(300, "min") > 1e20  # a rejected architecture scores worst either way


def test_a_long_training_prints_a_line_per_epoch_and_a_short_one_stays_quiet():
    lines = []
    progress = EpochProgress(lines.append, epochs=4, label="trial 7")
    progress.on_train_begin()
    progress.on_epoch_end(0, {"loss": 0.5, "val_accuracy": 0.8})
    assert lines == []  # under QUIET_SECONDS so far
    progress.started = time.monotonic() - 30  # as if the first epoch had taken 30 s
    progress.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.7, "val_accuracy": 0.8})
    (line,) = lines
    assert line.startswith("  trial 7  epoch 1/4  loss 0.5000  val_accuracy 0.8000")
    assert "elapsed 0:30  ETA 1:30" in line
