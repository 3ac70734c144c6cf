"""Per-site sensitivity of a trained model: what each reduction alone costs in accuracy (or in
the task's own scoring metric).

For every site and width, the trained model with only that site reduced (warm-started from its own
weights, batch norm recalibrated) is scored on validation data: a forward pass each, no training.
The scoring runs on a `Supernet` of the warm-started space, so no model is built per entry: the
supernet's sites hold every width's warm start at once (see `space.lowrank`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bottleneck_search.rundir.sensitivity import SensitivityRow, SensitivityTable
from bottleneck_search.supernet import Supernet
from bottleneck_search.training.task import Task


def measure_sensitivity(
    supernet: Supernet,
    task: Task,
    validation_data: Iterable,
    calibration_data: Sequence,
    emit: Callable[[str], None] = lambda line: None,
) -> SensitivityTable:
    """Scores every site and width of `supernet.space` alone on `validation_data`.

    Args:
        supernet: a `Supernet` over a warm-started space, compiled with `task`.
        task: the `Task` whose scoring metric is measured (its direction says what a drop is).
        validation_data: validation batches.
        calibration_data: the training batches batch norm is recalibrated on for each entry.
        emit: receives a progress line per site.

    Returns:
        The `SensitivityTable`.

    Example (the supernet would be over `SearchSpace.from_model(trained, init="lowrank")`):

    ```python
    supernet = Supernet(space)
    supernet.model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    table = measure_sensitivity(supernet, Task(), data.val, list(data.train.take(2)))
    print(table.rows[0].site, table.rows[0].accuracy_drop)
    ```
    """
    space = supernet.space
    unreduced = space.no_bottleneck()
    base = supernet.evaluate(unreduced, validation_data, calibration_data)
    seconds = base.seconds
    rows = []
    for number, site in enumerate(space.sites, start=1):
        for width in site.widths:
            architecture = space.validate({**unreduced.widths, site.name: width})
            scored = supernet.evaluate(architecture, validation_data, calibration_data)
            seconds += scored.seconds
            rows.append(
                SensitivityRow(
                    site=site.name,
                    width=width,
                    macs_saved=unreduced.macs - architecture.macs,
                    val_accuracy=scored.value(task),
                    val_loss=scored.metrics["loss"],
                    accuracy_drop=task.sign * (base.value(task) - scored.value(task)),
                )
            )
        worst = max(r.accuracy_drop for r in rows if r.site == site.name)
        drop = f"{100 * worst:.1f} points" if task.scores_accuracy else f"{worst:.4g} {task.score}"
        emit(
            f"sensitivity {number}/{len(space.sites)}: {site.name} "
            f"({len(site.widths)} widths, drop up to {drop})"
        )
    metric = None if task.scores_accuracy else task.score
    return SensitivityTable(base.value(task), base.metrics["loss"], tuple(rows), seconds, metric)
