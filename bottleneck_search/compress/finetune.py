"""Fine-tuning a compress candidate: built warm-started, batch norm recalibrated, fine-tuned,
and kept fine-tuned only when that beat its warm start on validation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import keras

from bottleneck_search.calibration import recalibrate_batch_norms
from bottleneck_search.compress.config import CompressConfig
from bottleneck_search.data import Dataset
from bottleneck_search.recipe import TrainingRecipe, steps_per_epoch
from bottleneck_search.rundir.files import CHECKPOINT, atomic_output, trial_folder
from bottleneck_search.rundir.trial_log import (
    COMPRESS_SOURCE,
    TrialLog,
    TrialRecord,
    TrialStatus,
    scored_value,
)
from bottleneck_search.space.architecture import Architecture, short_form
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.supernet.supernet import CALIBRATION_BATCHES
from bottleneck_search.training.fit import compile_model, evaluate_model, fit_model
from bottleneck_search.training.task import Task


def warm_started_model(
    space: SearchSpace,
    task: Task,
    architecture: Architecture,
    data: Dataset,
    epochs: int,
    seed: int,
    learning_rate: float,
    calibration_data,
    calibration_batches: int = CALIBRATION_BATCHES,
) -> keras.Model:
    """`architecture` built warm-started from `space`, batch norm recalibrated on
    `calibration_batches` batches of `calibration_data`, compiled with `task` and the recipe's
    optimizer at `learning_rate` for `epochs` epochs of `data.train`, not yet fine-tuned."""
    keras.utils.set_random_seed(seed)
    model = space.build(architecture)
    recalibrate_batch_norms(model, calibration_data, calibration_batches)
    optimizer = TrainingRecipe(learning_rate=learning_rate).optimizer(
        steps_per_epoch((data.train,), {}), max(epochs, 1)
    )
    compile_model(model, task, optimizer)
    return model


def fine_tune(
    config: CompressConfig,
    space: SearchSpace,
    task: Task,
    architecture: Architecture,
    data: Dataset,
    calibration: list,
    trial_id: str,
    log: TrialLog,
    emit: Callable[[str], None],
) -> dict:
    """Fine-tunes `architecture`, scores it, and records it as a trial: fine-tuned, or the warm
    start itself when fine-tuning did not beat it on validation."""
    started = time.monotonic()
    keras.backend.clear_session()
    epochs = config.finetune_epochs
    model = warm_started_model(
        space,
        task,
        architecture,
        data,
        epochs,
        config.seed,
        config.learning_rate,
        calibration,
        len(calibration),
    )
    metric = task.score.removeprefix("val_")
    warm = evaluate_model(model, data.val)[metric]
    tuned, kept = warm, "warm start"
    if epochs:
        warm_weights = model.get_weights()
        fit_model(model, data.train, epochs=epochs, on_progress=emit, label=f"candidate {trial_id}")
        tuned = evaluate_model(model, data.val)[metric]
        if task.better(tuned, warm):
            kept = "fine-tuned model"
        else:
            model.set_weights(warm_weights)
    measured = split_scores(model, task, data)
    folder = os.path.join(config.run_dir, trial_folder(trial_id))
    os.makedirs(folder, exist_ok=True)
    with atomic_output(os.path.join(folder, CHECKPOINT)) as temporary:
        model.save_weights(temporary)
    log.append(
        TrialRecord.of(
            trial_id,
            TrialStatus.COMPLETED,
            architecture,
            started,
            **scored_value(task, measured["val_accuracy"]),
            score=measured["val_accuracy"],
            epochs=epochs,
            source=COMPRESS_SOURCE,
        )
    )
    return {
        "trial_id": trial_id,
        "architecture": short_form(architecture.widths),
        "macs": architecture.macs,
        "warm_start_val_accuracy": warm,
        "fine_tuned_val_accuracy": tuned,
        "kept": kept,
        **measured,
        "seconds": time.monotonic() - started,
    }


def split_scores(model: keras.Model, task: Task, data: Dataset) -> dict[str, float]:
    """Validation and test values of the task's scoring metric, under the keys `val_accuracy`
    and `test_accuracy` whatever the metric is (`compression.json` names it as `metric`)."""
    compile_model(model, task)
    metric = task.score.removeprefix("val_")
    return {
        "val_accuracy": evaluate_model(model, data.val)[metric],
        "test_accuracy": evaluate_model(model, data.test)[metric],
    }
