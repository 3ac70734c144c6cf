"""`confirm_run`: the confirmation stage. After a search, the architectures it ends with are
retrained from scratch with several seeds each, so that they are compared on means with a spread
instead of one lucky trial each.

Candidates: the `top` points of the Pareto front with the best scores, the no-bottleneck
architecture, and the space's reference architecture when it has one; for a search of your
`build(hp)`, the front's hyperparameter sets and your build's defaults. Each is retrained with
`seeds` seeds (the search's seed + 1, + 2, ...) under the run's recipe, data and epochs, scored on
the validation split and, once, on the test split the search never saw.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from functools import partial

import keras

from bottleneck_search.argument_validation import check_count
from bottleneck_search.rundir.confirmations import (
    FRONT,
    NO_BOTTLENECK,
    REFERENCE,
    ConfirmationLog,
    ConfirmationRecord,
    architecture_key,
)
from bottleneck_search.rundir.files import atomic_output
from bottleneck_search.rundir.run import Run, load_run, require_completed
from bottleneck_search.rundir.trial_log import nondominated, ranked
from bottleneck_search.search.engine.callbacks import StopWhenRequested
from bottleneck_search.search.engine.training import recipe_build, train_built
from bottleneck_search.space.architecture import Architecture, short_form
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild
from bottleneck_search.stats import metric_text
from bottleneck_search.training.fit import clock


def confirm_run(
    run: str | os.PathLike | Run,
    top: int = 3,
    seeds: int = 3,
    on_progress: Callable[[str], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> list[ConfirmationRecord]:
    """Retrains a finished search's best front points and its baselines with several seeds.

    Runs already recorded in `<run>/confirmations.jsonl` are kept, never retrained, so a
    confirmation that was stopped continues where it stopped.

    Args:
        run: the run directory (or a loaded `Run`).
        top: how many Pareto-front architectures to confirm, best score first.
        seeds: retrainings per architecture.
        on_progress: receives one line per retraining.
        stop_requested: polled during training; once true, `KeyboardInterrupt` is raised.

    Returns:
        Every confirmation record of the run, old and new.

    Raises:
        SearchConfigError: `top` or `seeds` not positive.
        ResultsError: not a run directory, or no completed trial.

    Example:

    ```python
    records = confirm_run(run_dir, top=2, seeds=2)
    print({(r.labels, r.seed): r.test_accuracy for r in records})
    ```
    """
    check_count("top", top)
    check_count("seeds", seeds)
    run = run if isinstance(run, Run) else load_run(run)
    require_completed(run)
    config = run.search_config()
    space, data = run.trained_space_and_data()
    log = ConfirmationLog(run.path)
    done = log.done()
    plan = [
        (candidate, config.seed + index + 1)
        for candidate in candidates(run, space, top)
        for index in range(seeds)
    ]
    todo = [(candidate, seed) for candidate, seed in plan if (candidate.key, seed) not in done]
    emit = on_progress or (lambda line: None)
    if not todo:
        return log.read()
    emit(
        f"confirming {len(plan) // seeds} architectures x {seeds} seeds "
        f"({len(plan) - len(todo)} of {len(plan)} runs already recorded)"
    )
    task = run.task()
    callbacks = [StopWhenRequested(stop_requested)] if stop_requested is not None else []
    started = time.monotonic()
    shown = "val_accuracy" if task.scores_accuracy else task.score
    for number, (candidate, seed) in enumerate(todo, start=1):
        keras.backend.clear_session()
        architecture = candidate.architecture
        recipe = config.training.recipe()
        if isinstance(space, UserBuild):
            build = partial(space.build_model, candidate.hyperparameters)
        else:
            build = recipe_build(space, architecture, task, recipe, data, config.training.epochs)
        result, model = train_built(
            build,
            data,
            config.training.epochs,
            seed,
            recipe,
            callbacks,
            task,
            on_progress=partial(_prefixed, emit, f"confirm {number}/{len(todo)}"),
        )
        weights = ConfirmationRecord.weights_path(candidate.key, seed)
        target = os.path.join(run.path, weights)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with atomic_output(target) as temporary:
            model.save_weights(temporary)
        log.append(
            ConfirmationRecord(
                architecture=architecture.widths,
                hyperparameters=candidate.hyperparameters,
                labels=candidate.labels,
                seed=seed,
                val_accuracy=result.val_accuracy,
                test_accuracy=result.test_accuracy,
                macs=architecture.macs,
                params=architecture.params,
                epochs=config.training.epochs,
                seconds=result.seconds,
                weights=weights,
                trial_id=candidate.trial_id,
                metric=None if task.scores_accuracy else task.score,
                direction=task.direction,
            )
        )
        emit(
            f"confirm {number}/{len(todo)}  [{short_form(architecture.widths)}]  seed {seed}  "
            f"{metric_text(shown, result.val_accuracy, data.val_size)}  "
            f"test_{shown.removeprefix('val_').replace('accuracy', 'acc')} "
            f"{result.test_accuracy:.3f}  elapsed {clock(time.monotonic() - started)}"
        )
    return log.read()


def _prefixed(emit: Callable[[str], None], prefix: str, line: str) -> None:
    emit(f"  {prefix}{line}")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """What a confirmation retrains: an architecture (with every hyperparameter of your build's
    model, for a `--hypermodel` search), why (`labels`), and the trial it confirms."""

    labels: tuple[str, ...]
    architecture: Architecture
    hyperparameters: dict | None = None
    trial_id: str | None = None

    @property
    def key(self) -> str:
        return architecture_key(self.architecture.widths, self.hyperparameters)


def candidates(run: Run, space: SearchSpace | UserBuild, top: int) -> list[Candidate]:
    """What a confirmation retrains, each architecture once: the front's best `top`, then the
    space's no-bottleneck and reference architectures (your build's defaults)."""
    front = ranked(nondominated(run.records))[:top]
    chosen: dict[str, Candidate] = {}

    def add(candidate: Candidate) -> None:
        known = chosen.get(candidate.key)
        if known is None:
            chosen[candidate.key] = candidate
        else:
            chosen[candidate.key] = dataclasses.replace(
                known, labels=known.labels + candidate.labels
            )

    for record in front:
        if isinstance(space, UserBuild):
            architecture = Architecture.from_widths(
                record.architecture, macs=record.macs, flops=record.flops, params=record.params
            )
        else:
            architecture = space.validate(record.architecture)
        add(Candidate((FRONT,), architecture, record.hyperparameters, record.trial_id))
    if isinstance(space, UserBuild):
        default = space.default
        label = NO_BOTTLENECK if not any(default.widths.values()) else REFERENCE
        add(Candidate((label,), default, space.default_values))
        return list(chosen.values())
    add(Candidate((NO_BOTTLENECK,), space.no_bottleneck()))
    if space.reference is not None:
        add(Candidate((REFERENCE,), space.reference))
    return list(chosen.values())
