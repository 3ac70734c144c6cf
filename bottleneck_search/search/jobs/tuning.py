"""The Keras Tuner side of a search, as its config makes it: the hypermodel (the space, task,
penalty, budgets and recipe), the stock tuner over it with its state in the run directory, and the
loop that runs trials until the oracle has no more. The search's own process and its trainer
processes (`trainer_process`) both run trials through these."""

from __future__ import annotations

import os
from collections.abc import Callable

import keras_tuner as kt

from bottleneck_search.data import Dataset
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.trial_log import TrialLog
from bottleneck_search.search.engine.hypermodel import BottleneckHyperModel
from bottleneck_search.search.engine.observer import TrialObserver
from bottleneck_search.search.jobs import costs
from bottleneck_search.search.jobs.stopping import stop_reason
from bottleneck_search.search.oracles.tuners import make_tuner
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.training.task import Task


def search_hypermodel(
    config: SearchConfig, space: SearchSpace, task: Task, observer: TrialObserver | None = None
) -> BottleneckHyperModel:
    """The hypermodel a search trains: `task` (`space_and_data`'s), the config's penalty
    (resolved for `space`) and recipe."""
    return BottleneckHyperModel(
        space,
        task=task,
        penalty=costs.search_penalty(config, space),
        max_latency_us=costs.max_latency_us(config),
        measure_latency=costs.latency_check(config),
        recipe=config.training.recipe(),
        observer=observer,
        config_hash=config.digest() if config.distribution.active else None,
    )


def search_tuner(config: SearchConfig, hypermodel: BottleneckHyperModel) -> kt.Tuner:
    """The config's Keras Tuner tuner over `hypermodel`, keeping its state in the run directory
    (reloaded from there when it holds some)."""
    directory, project = os.path.split(os.path.abspath(config.run_dir))
    return make_tuner(
        config.proposer.tuner,
        hypermodel,
        max_macs=config.objective.max_macs,
        directory=directory,
        project_name=project,
        **_tuner_arguments(config),
    )


def search_in_process(tuner: kt.Tuner, data: Dataset, config: SearchConfig) -> None:
    """Runs Keras Tuner's search loop in this process: trials until the oracle has no more."""
    tuner.search(
        data.train,
        validation_data=data.val,
        epochs=config.training.epochs,
        shuffle=False,
        verbose=1 if config.verbose else 0,
    )


def run_tuner(search: Callable[[], None], config: SearchConfig, oracle, log: TrialLog) -> None:
    """Calls `search()`, turning what stops it early into our errors (see `stop_reason`)."""
    try:
        search()
    except (kt.errors.FatalError, OSError, RuntimeError) as error:
        reason = stop_reason(error, config, oracle, log)
        if reason is None:
            raise
        raise reason from error


def _tuner_arguments(config: SearchConfig) -> dict:
    """The Keras Tuner arguments the config decides, beyond the tuner's kind."""
    arguments = {
        "seed": config.seed,
        "overwrite": False,
        "max_consecutive_failed_trials": config.proposer.max_consecutive_failures,
    }
    if config.proposer.tuner == "hyperband":
        arguments["max_epochs"] = config.training.epochs
    else:
        arguments["max_trials"] = config.proposer.max_trials
    if config.proposer.tuner == "evolution":
        arguments["population_size"] = config.proposer.population_size
    if config.distribution.active:
        arguments["max_retries_per_trial"] = 1  # a trial lost with its worker is re-issued once
    if config.proposer.strategy == "mirrored":
        import tensorflow as tf

        arguments["distribution_strategy"] = tf.distribute.MirroredStrategy()
    return arguments
