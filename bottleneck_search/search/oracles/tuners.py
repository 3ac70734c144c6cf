"""`make_tuner`: a stock Keras Tuner tuner whose objective is the FLOP-penalised `val_score`."""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
import keras_tuner as kt

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.policy import TUNERS
from bottleneck_search.rundir.files import LINEAGE, TRIAL_LOG
from bottleneck_search.search.engine.hypermodel import BottleneckHyperModel
from bottleneck_search.search.engine.objective import OBJECTIVE, CostPenalty
from bottleneck_search.search.oracles.evolution import EvolutionOracle


def make_tuner(
    kind: str,
    hypermodel: BottleneckHyperModel | Callable[[kt.HyperParameters], keras.Model] | kt.HyperModel,
    penalty: CostPenalty | None = None,
    max_macs: int | None = None,
    max_latency_us: float | None = None,
    directory: str | os.PathLike | None = None,
    project_name: str | None = None,
    **kt_kwargs,
) -> kt.Tuner:
    """A Keras Tuner tuner (unmodified class) searching `hypermodel`'s space for the best
    `val_score`: the highest, or the lowest when the hypermodel's `Task` scores a metric to
    minimise (a loss, MAE).

    The tuner gets a copy of `hypermodel` with `penalty` and `max_macs` applied (when given) and a
    trial log at `<directory>/<project_name>/trials.jsonl`. Drive it like any Keras Tuner tuner:
    `search(x, validation_data=..., epochs=..., callbacks=...)`, `get_best_models()`,
    `results_summary()`.

    Args:
        kind: `"random"`, `"bayesian"`, `"hyperband"`, `"grid"`, or `"evolution"` (our
            `EvolutionOracle` in a stock `keras_tuner.Tuner`).
        hypermodel: a `BottleneckHyperModel`, or your own `build(hp)` function or
            `keras_tuner.HyperModel` (made into `BottleneckHyperModel(build)`).
        penalty: overrides the hypermodel's `CostPenalty`.
        max_macs: overrides the hypermodel's hard MAC budget.
        max_latency_us: overrides its hard latency budget (microseconds per call).
        directory, project_name: where Keras Tuner keeps its state (the run directory is their join).
        **kt_kwargs: passed to the tuner (`max_trials`, `seed`, `overwrite`, `max_epochs` for
            Hyperband, `population_size` for evolution, ...). As in Keras Tuner, `seed` seeds
            the oracle (which architectures are tried), not the trials' weights or data order:
            for a repeatable search, also call `keras.utils.set_random_seed` before `search`
            (the CLI's `--seed` does both). On a multi-threaded CPU, TensorFlow's sums can still
            differ in their last bits from run to run.

    Returns:
        The tuner.

    Example:

    ```python
    tuner = make_tuner("random", BottleneckHyperModel(space), max_trials=1, directory=tmp,
                       project_name="demo")
    tuner.search(data.train, validation_data=data.val, epochs=1, verbose=0)
    best = tuner.get_best_models(1)[0]
    ```
    """
    check_choice("kind", kind, TUNERS)
    if not isinstance(hypermodel, BottleneckHyperModel):  # your own build(hp) or HyperModel
        hypermodel = BottleneckHyperModel(hypermodel)
    changes = {}
    if penalty is not None:
        changes["penalty"] = penalty
    if max_macs is not None:
        changes["max_macs"] = max_macs
    if max_latency_us is not None:
        changes["max_latency_us"] = max_latency_us
    if directory is not None and project_name is not None:
        changes["trial_log"] = os.path.join(os.fspath(directory), project_name, TRIAL_LOG)
    hypermodel = hypermodel.replace(**changes)
    if kind == "hyperband":
        kt_kwargs.pop("max_trials", None)
        kt_kwargs.setdefault("max_epochs", 3)
    if kind == "evolution":
        return _evolution_tuner(hypermodel, directory, project_name, kt_kwargs)
    kt_kwargs.pop("population_size", None)
    tuner_class = getattr(kt, TUNERS[kind])
    return tuner_class(
        hypermodel,
        objective=kt.Objective(OBJECTIVE, direction=hypermodel.task.direction),
        directory=os.fspath(directory) if directory is not None else None,
        project_name=project_name,
        **kt_kwargs,
    )


# `keras_tuner.Oracle` arguments; the rest of `kt_kwargs` go to `keras_tuner.Tuner`.
_ORACLE_ARGUMENTS = (
    "max_trials",
    "seed",
    "population_size",
    "tournament_size",
    "max_retries_per_trial",
    "max_consecutive_failed_trials",
)


def _evolution_tuner(
    hypermodel: BottleneckHyperModel, directory, project_name, kt_kwargs
) -> kt.Tuner:
    oracle_arguments = {k: kt_kwargs.pop(k) for k in _ORACLE_ARGUMENTS if k in kt_kwargs}
    oracle = EvolutionOracle(
        objective=kt.Objective(OBJECTIVE, direction=hypermodel.task.direction),
        space=hypermodel.space,
        max_macs=hypermodel.max_macs,
        max_latency_us=hypermodel.max_latency_us,
        cost_metric="latency_us" if hypermodel.penalty.cost == "latency" else "macs",
        accuracy_metric=hypermodel.task.score if hypermodel.task.scores_accuracy else "",
        lineage_log=(
            os.path.join(os.fspath(directory), project_name, LINEAGE)
            if directory is not None and project_name is not None
            else None
        ),
        **{"max_trials": 10, **oracle_arguments},
    )
    return kt.Tuner(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=os.fspath(directory) if directory is not None else None,
        project_name=project_name,
        **kt_kwargs,
    )
