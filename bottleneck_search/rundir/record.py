"""`config.json`: one run record, written by every job (a search, a compress) and read by
`load_run`.

Every record holds what made the run (`kind`, the job's own `arguments`), its space (the
`SearchSpace.get_config()` that rebuilds it, with a summary), the data (spec sizes and class
count), the task, the reduction and recipe, the backend, library versions and the start time;
a job adds its own keys (a search's penalty and config hash, a compress run's budget).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import keras

from bottleneck_search.data import Dataset
from bottleneck_search.model_io import model_record
from bottleneck_search.parts import DataSource, TrialTraining
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.environment import library_versions
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild
from bottleneck_search.training.task import Task

SEARCH, COMPRESS = "search", "compress"


def run_record(
    kind: str,
    arguments: dict[str, Any],
    space: SearchSpace | UserBuild,
    data: Dataset,
    task: Task,
    recipe: dict[str, Any],
    model_file: str | None = None,
    **extra,
) -> dict[str, Any]:
    """The record of a run of `kind` (`search` or `compress`) started now.

    Args:
        kind: which job made the run.
        arguments: the job's own arguments (JSON).
        space: the space searched or compressed, or your build searched (recorded as its
            `UserCode`: reference, path and sha256); `model_file` is the `.keras` file a space
            was made from, when the space itself was made from the loaded model.
        data, task: the data as the run saw it and what it trained.
        recipe: the training recipe's fields.
        **extra: the job's own keys.
    """
    if isinstance(space, UserBuild):
        searched = {
            "kind": "hypermodel",
            "name": space.name,
            "sites": len(space.default.widths),
            "hypermodel": space.code.to_config(),
        }
        specific = {}
    else:
        config = space.get_config()
        if model_file is not None:
            config["model"] = model_file
        searched = {
            **space.source,
            "name": space.name,
            "sites": len(space.sites),
            "size": space.size,
            "config": config,
        }
        specific = {
            **(
                {"model": model_record(config["model"], space.base_model)}
                if config.get("model")
                else {}
            ),
            "reduction": dataclasses.asdict(space.reduction),
        }
    return {
        "kind": kind,
        "arguments": arguments,
        "space": searched,
        "task": task.get_config(),
        **specific,
        "recipe": recipe,
        "dataset": {"name": data.name, "classes": data.num_classes, **data.sizes()},
        "backend": keras.backend.backend(),
        "versions": library_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def recorded_search_config(record: dict[str, Any]) -> SearchConfig:
    """The `SearchConfig` a run's readers (data, confirmation, export's retraining) go by: a
    search's own arguments, or what a compress run's arguments mean in those terms (its data,
    seed and budget; its fine-tuning as the epochs and learning rate)."""
    arguments = record.get("arguments", {})
    if record.get("kind") != COMPRESS:
        return SearchConfig.from_arguments(arguments)
    return SearchConfig.from_arguments(
        {
            "model": arguments["model"],
            "space": None,
            "dataset": arguments["dataset"],
            "train_size": arguments.get("train_size"),
            "epochs": max(arguments.get("finetune_epochs", 1), 1),
            "max_macs": record.get("budget"),
            "run_dir": arguments.get("run_dir"),
            "seed": arguments.get("seed", 0),
            "batch_size": arguments.get("batch_size", DataSource.batch_size),
            "learning_rate": arguments.get("learning_rate", TrialTraining.learning_rate),
            "data_dir": arguments.get("data_dir"),
        }
    )
