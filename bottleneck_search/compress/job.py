"""`compress_model`: the job behind `bottleneck-search compress`, told as a story.

1. Load the trained model (safe mode) and its data; score it on the validation and test splits.
2. Make its space with low-rank warm starts fitted on a few training batches
   (`SearchSpace.from_model(init="lowrank")`) and a `Supernet` over it.
3. Measure every site's sensitivity (`compress.sensitivity`): `sensitivity.json` / `.csv`.
4. Allocate widths under the budget (`compress.allocation`): `RESCORED` x `candidates` proposals,
   each scored again with all its reductions together (warm-started, recalibrated, no training).
5. Fine-tune the best `candidates` of them, each built warm-started from the trained weights; each
   is a trial of the run (`trials.jsonl`, its weights as the trial's checkpoint), so `report` and
   `export` read the run like a search's.
6. Write `compression.json` (before and after, on both splits), the report, and export the best.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable

import keras

from bottleneck_search.compress.allocation import allocate, check_budget
from bottleneck_search.compress.config import CompressConfig
from bottleneck_search.compress.finetune import fine_tune, split_scores
from bottleneck_search.compress.sensitivity import measure_sensitivity
from bottleneck_search.data import Dataset, load_dataset
from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.latency.cache import RUN_TABLE, cached_table, save_table
from bottleneck_search.model_io import compile_config
from bottleneck_search.recipe import TrainingRecipe
from bottleneck_search.rundir.files import (
    COMPRESSION_JSON,
    CONFIG,
    SENSITIVITY_CSV,
    SENSITIVITY_JSON,
    TRIAL_LOG,
    check_run_dir,
    create_run_dir,
    keep_in_memory_data,
    keep_original_model,
    write_atomically,
)
from bottleneck_search.rundir.record import COMPRESS, run_record
from bottleneck_search.rundir.task import checked_data
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.space.architecture import short_form
from bottleneck_search.space.catalog import load_run_model
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.supernet import Supernet
from bottleneck_search.supernet.supernet import CALIBRATION_BATCHES
from bottleneck_search.training.fit import compile_model
from bottleneck_search.training.inference import task_from_model
from bottleneck_search.training.task import Task, at_chance

# Allocation proposals scored jointly per candidate fine-tuned.
RESCORED = 4


@dataclasses.dataclass(frozen=True)
class CompressionResult:
    """What `compress_model` leaves: the run directory and its figures (`compression.json`).

    Attributes:
        run_dir: the compress run's directory (report, export, `compression.json`).
        summary: the figures of `compression.json`: the model's and the compressed
            architecture's MACs and scores before and after, the budget and every candidate.

    Example:

    ```python
    config = CompressConfig(model_path, macs_ratio=1.5, finetune_epochs=0, candidates=1, run_dir=f"{tmp}/c")
    result = compress_model(config)
    assert result.summary["after"]["macs"] <= result.summary["before"]["macs"] / 1.5
    ```
    """

    run_dir: str
    summary: dict

    def describe(self) -> str:
        """What the `compress` command prints."""
        before, after = self.summary["before"], self.summary["after"]
        metric = self.summary.get("metric") or "validation accuracy"
        return "\n".join(
            [
                f"compressed {self.summary['model']}: {before['macs']:,} -> {after['macs']:,} MACs "
                f"({before['macs'] / after['macs']:.2f}x fewer; budget {_summary_budget(self.summary)})",
                f"{metric} {before['val_accuracy']:.4f} -> {after['val_accuracy']:.4f}, "
                f"test {before['test_accuracy']:.4f} -> {after['test_accuracy']:.4f}",
                f"architecture: {after['architecture']}",
                f"run directory: {self.run_dir}",
                *([self.summary["warning"]] if self.summary.get("warning") else []),
            ]
        )


def compress_model(
    config: CompressConfig, on_progress: Callable[[str], None] | None = None
) -> CompressionResult:
    """Compresses a trained model to a MAC budget: warm-started reductions, then fine-tuning.

    Args:
        config: the job's arguments.
        on_progress: receives one line per step (the CLI prints them).

    Returns:
        A `CompressionResult`; the compressed model is exported to `<run>/export/`.

    Raises:
        SearchConfigError: bad arguments, a used run directory, or a budget below the cheapest
            architecture.
        SearchSpaceError: a model with no site left to reduce.
        UnsafeModelError: a model file holding code.

    Example:

    ```python
    config = CompressConfig(model=model_path, macs_ratio=1.5, finetune_epochs=0, run_dir=f"{tmp}/c")
    result = compress_model(config)
    print(result.describe())
    ```
    """
    from bottleneck_search.results.export import export_architectures
    from bottleneck_search.results.report import write_report

    config = config.with_default_run_dir()
    emit = on_progress or (lambda line: None)
    check_run_dir(config.run_dir, resume=False)
    model = config.model if isinstance(config.model, keras.Model) else load_run_model(config.model)
    task = _task(config, model)
    data = _load_data(config, model, task)
    started = time.monotonic()
    space = _space(config, model, data)
    cost = "latency" if config.latency_budgeted else "macs"
    if cost == "latency":
        latency = cached_table(
            space,
            config.latency.batch_size,
            config.latency.runtime,
            config.latency.threads,
            on_progress=emit,
        )
        space = space.with_latency(latency)
    budget = config.budget(space.no_bottleneck().macs if cost == "macs" else latency.base_us)
    check_budget(space, budget, cost)
    emit(task.describe())
    emit(f"compress: scoring {model.name} on {data.val_size} validation images")
    before = split_scores(model, task, data)
    warning = _at_chance(model, task, data, before["val_accuracy"])
    if warning:
        emit(warning)
    create_run_dir(config.run_dir)
    if isinstance(config.model, keras.Model):  # report and export rebuild the space from a file
        config = dataclasses.replace(config, model=keep_original_model(model, config.run_dir))
    if not isinstance(config.data.dataset, str):  # and export retrains on the same data
        kept = keep_in_memory_data(config.data.dataset, config.run_dir)
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset=kept))
    if cost == "latency":
        save_table(latency, os.path.join(config.run_dir, RUN_TABLE))
    record = _config_record(config, space, data, budget, task)
    write_atomically(os.path.join(config.run_dir, CONFIG), json.dumps(record, indent=2))

    keras.utils.set_random_seed(config.seed)
    supernet = Supernet(space, seed=config.seed)
    compile_model(supernet.model, task)
    calibration = list(data.train.take(CALIBRATION_BATCHES))
    table = measure_sensitivity(supernet, task, data.val, calibration, emit)
    write_atomically(
        os.path.join(config.run_dir, SENSITIVITY_JSON), json.dumps(table.get_config(), indent=1)
    )
    write_atomically(os.path.join(config.run_dir, SENSITIVITY_CSV), table.to_csv())

    proposals = allocate(space, table, budget, RESCORED * config.candidates, cost)
    joint = {}
    for architecture in proposals:
        joint[short_form(architecture.widths)] = supernet.evaluate(
            architecture, data.val, calibration
        ).value(task)
    chosen = sorted(proposals, key=lambda a: -task.sign * joint[short_form(a.widths)])
    chosen = chosen[: config.candidates]
    emit(
        f"allocation: {len(proposals)} architectures within {_budget_text(budget, cost)}, warm-started "
        f"{task.score.removeprefix('val_')} {min(joint.values()):.4f}-{max(joint.values()):.4f}; "
        f"fine-tuning the best "
        f"{len(chosen)} for {config.finetune_epochs} epochs"
    )
    del supernet
    keras.backend.clear_session()

    log = TrialLog(os.path.join(config.run_dir, TRIAL_LOG))
    finished = []
    for number, architecture in enumerate(chosen):
        trial_id = f"{number:02d}"
        tuned = fine_tune(config, space, task, architecture, data, calibration, trial_id, log, emit)
        finished.append({**tuned, "estimated_val_accuracy": joint[short_form(architecture.widths)]})
        emit(
            f"candidate {number + 1}/{len(chosen)}: {architecture.macs:,} MACs, validation "
            f"{tuned['warm_start_val_accuracy']:.4f} warm-started, "
            f"{tuned['fine_tuned_val_accuracy']:.4f} fine-tuned; kept the {tuned['kept']} "
            f"(test {tuned['test_accuracy']:.4f})"
        )
    # As `export` and `report` rank trials: the validation score, then fewer MACs on a tie.
    best = max(finished, key=lambda row: (task.sign * row["val_accuracy"], -row["macs"]))
    summary = {
        "model": config.model,
        "budget": budget if cost == "macs" else None,
        "latency_budget_us": budget if cost == "latency" else None,
        "metric": None if task.scores_accuracy else task.score,
        "method": space.warm_start.method,
        "before": {"macs": space.no_bottleneck().macs, **before},
        "after": best,
        "candidates": finished,
        "sensitivity_seconds": table.seconds,
        "seconds": time.monotonic() - started,
        "warning": warning,
    }
    write_atomically(os.path.join(config.run_dir, COMPRESSION_JSON), json.dumps(summary, indent=2))
    write_report(config.run_dir)
    export_architectures(config.run_dir, top=1)
    return CompressionResult(config.run_dir, summary)


def _budget_text(budget: float, cost: str) -> str:
    return f"{budget:,.0f} MACs" if cost == "macs" else f"{budget / 1000:.3f} ms predicted"


def _summary_budget(summary: dict) -> str:
    if summary.get("latency_budget_us") is not None:
        return _budget_text(summary["latency_budget_us"], "latency")
    return _budget_text(summary["budget"], "macs")


def _at_chance(model: keras.Model, task: Task, data: Dataset, accuracy: float) -> str:
    """A warning when the trained model itself scores within chance on the data ('' if not)."""
    if not (task.scores_accuracy and data.num_classes and data.val_size):
        return ""
    clause = at_chance(accuracy, data.num_classes, data.val_size, task)
    if clause is None:
        return ""
    return (
        f"warning: '{model.name}' itself scores {accuracy:.3f} on this data, {clause} No "
        "compressed model can be judged against it."
    )


def _task(config: CompressConfig, model: keras.Model) -> Task:
    """The model's task (its compiled loss and metrics, else its output), and its input range."""
    saved = compile_config(config.model) if not isinstance(config.model, keras.Model) else None
    return task_from_model(
        model, saved, config.task.loss, config.task.metric, config.task.input_range
    )


def _load_data(config: CompressConfig, model: keras.Model, task: Task) -> Dataset:
    data = load_dataset(
        config.data.dataset,
        tuple(model.inputs[0].shape[1:]),
        config.data.batch_size,
        seed=config.seed,
        data_dir=config.data.data_dir,
        download=config.data.download,
        train_size=config.data.train_size,
        value_range=task.input_range,
    )
    return checked_data(task, model.name, list(model.outputs[0].shape[1:]), data)


def _space(config: CompressConfig, model: keras.Model, data: Dataset) -> SearchSpace:
    try:
        return SearchSpace.from_model(
            model,
            widths=list(config.widths),
            skip_reduced=True,
            init="lowrank",
            init_data=data.train,
        )
    except SearchSpaceError as error:
        if "no candidate sites" not in str(error):
            raise
        raise SearchSpaceError(
            f"'{config.model}' has nothing to compress: no conv with a kernel of 3 or more whose "
            "input is wider than its narrowest offered width and not already reduced by a 1x1 "
            "conv. Offer narrower --widths, or compress another model."
        ) from error


def _config_record(
    config: CompressConfig, space: SearchSpace, data: Dataset, budget: float, task: Task
) -> dict:
    """`config.json`: a compress run's own record (see `rundir.record`)."""
    arguments = {**config.arguments(), "model": os.path.abspath(config.model)}
    arguments["widths"] = list(config.widths)
    return run_record(
        COMPRESS,
        arguments,
        space,
        data,
        task,
        dataclasses.asdict(TrainingRecipe(learning_rate=config.learning_rate)),
        # The space was made from the loaded model; the file it is kept in rebuilds it.
        model_file=os.path.abspath(config.model),
        budget=budget if not config.latency_budgeted else None,
        latency_budget_us=budget if config.latency_budgeted else None,
    )
