"""`confirm_run`: the confirmation stage. After a search, the architectures it ends with are
retrained from scratch with several seeds each, so that they are compared on means with a spread
instead of one lucky trial each.

Candidates: the `top` points of the Pareto front with the best scores, the no-bottleneck
architecture, and the space's reference architecture when it has one. Each is retrained with
`seeds` seeds (the search's seed + 1, + 2, ...) under the run's recipe, data and epochs, scored on
the validation split and, once, on the test split the search never saw.
"""

from __future__ import annotations

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
from bottleneck_search.search.engine.training import train_architecture
from bottleneck_search.space.architecture import Architecture, short_form
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
        (labels, architecture, trial_id, config.seed + index + 1)
        for labels, architecture, trial_id in candidates(run, space, top)
        for index in range(seeds)
    ]
    todo = [item for item in plan if (architecture_key(item[1].widths), item[3]) not in done]
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
    for number, (labels, architecture, trial_id, seed) in enumerate(todo, start=1):
        keras.backend.clear_session()
        result, model = train_architecture(
            space,
            architecture,
            data,
            config.training.epochs,
            seed,
            config.training.recipe(),
            callbacks,
            task,
            on_progress=partial(_prefixed, emit, f"confirm {number}/{len(todo)}"),
        )
        weights = ConfirmationRecord.weights_path(architecture.widths, seed)
        target = os.path.join(run.path, weights)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with atomic_output(target) as temporary:
            model.save_weights(temporary)
        log.append(
            ConfirmationRecord(
                architecture=architecture.widths,
                labels=labels,
                seed=seed,
                val_accuracy=result.val_accuracy,
                test_accuracy=result.test_accuracy,
                macs=architecture.macs,
                params=architecture.params,
                epochs=config.training.epochs,
                seconds=result.seconds,
                weights=weights,
                trial_id=trial_id,
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


def candidates(run: Run, space, top: int) -> list[tuple[tuple[str, ...], Architecture, str | None]]:
    """`(labels, architecture, trial id)` of what a confirmation retrains, each architecture once."""
    front = ranked(nondominated(run.records))[:top]
    chosen: dict[str, tuple[list[str], Architecture, str | None]] = {}

    def add(label: str, architecture: Architecture, trial_id: str | None = None) -> None:
        key = architecture_key(architecture.widths)
        if key in chosen:
            chosen[key][0].append(label)
        else:
            chosen[key] = ([label], architecture, trial_id)

    for record in front:
        add(FRONT, space.validate(record.architecture), record.trial_id)
    add(NO_BOTTLENECK, space.no_bottleneck())
    if space.reference is not None:
        add(REFERENCE, space.reference)
    return [
        (tuple(labels), architecture, trial_id)
        for labels, architecture, trial_id in chosen.values()
    ]
