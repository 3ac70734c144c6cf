"""What a search weighs accuracy against: its penalty on MACs or on predicted latency, its hard
budgets, and the latency table a latency cost needs (measured once per machine, kept in the run)."""

from __future__ import annotations

from collections.abc import Callable

import keras

from bottleneck_search.latency.cache import run_latency_table
from bottleneck_search.latency.measure import measure_latency
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.search.engine.objective import CostPenalty
from bottleneck_search.space.search_space import SearchSpace

# Calls timed when a trained trial's latency is measured (after 3 warm-up calls).
TRIAL_REPEATS = 10


def search_penalty(config: SearchConfig, space: SearchSpace) -> CostPenalty:
    """The config's penalty on its cost, its target resolved for `space`."""
    target_us = (
        config.objective.target_latency * 1000
        if config.objective.target_latency is not None
        else None
    )
    return CostPenalty(
        config.objective.penalty,
        config.objective.target_macs,
        cost=config.objective.cost,
        target_latency_us=target_us,
    ).resolve(space)


def max_latency_us(config: SearchConfig) -> float | None:
    """The hard latency budget in microseconds (the config says milliseconds)."""
    return config.objective.max_latency * 1000 if config.objective.max_latency is not None else None


def timed_space(config: SearchConfig, space: SearchSpace, emit=None) -> SearchSpace:
    """`space` with the run's latency table attached when the search needs one (measured
    now, or read from the cache or the run directory; see `latency.cache`)."""
    if not config.objective.uses_latency:
        return space
    table = run_latency_table(
        config.run_dir,
        space,
        config.latency.batch_size,
        config.latency.runtime,
        config.latency.threads,
        emit,
    )
    return space.with_latency(table)


def latency_check(config: SearchConfig) -> Callable[[keras.Model], float] | None:
    """With `cost="latency"`, what measures a trained model with the table's settings."""
    if config.objective.cost != "latency":
        return None
    settings = (config.latency.batch_size, config.latency.runtime, config.latency.threads)
    return lambda model: measure_latency(model, *settings, repeats=TRIAL_REPEATS).median_us
