"""`train_architecture`: one architecture trained from scratch under a `TrainingRecipe`, outside
any tuner, and scored on validation and test data. Confirmation runs and the benchmarks use it, so
their numbers are measured exactly as a search's trials are."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import keras

from bottleneck_search.data import Dataset
from bottleneck_search.recipe import TrainingRecipe, steps_per_epoch
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.training.fit import compile_model, evaluate_model, fit_model
from bottleneck_search.training.task import Task


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """One architecture trained once.

    Attributes:
        val_accuracy: the scoring metric (`task.score`; validation accuracy by default) as the
            recipe reads it (end of training).
        test_accuracy: the same metric on the test split, which the search never sees.
        val_history: the scoring metric after every epoch.
        seed: the seed of the weights' initialisation and the data order.
        seconds: wall time of training and evaluation (not a benchmark figure: CPU time is
            shared with whatever else runs).
    """

    val_accuracy: float
    test_accuracy: float
    val_history: tuple[float, ...]
    seed: int
    seconds: float


def train_architecture(
    space: SearchSpace,
    architecture: Architecture,
    data: Dataset,
    epochs: int,
    seed: int,
    recipe: TrainingRecipe | None = None,
    callbacks: list | None = None,
    task: Task | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[TrainingRun, keras.Model]:
    """Trains `architecture` from scratch on `data.train` and scores it on `data.val` and `data.test`.

    Args:
        space: the space the architecture belongs to.
        architecture: what to build.
        data: a `Dataset` adapted to the space's input.
        epochs: training epochs.
        seed: seeds Keras (weights, dropout) and the data order.
        recipe: the `TrainingRecipe` (its defaults when None), as in a search's trials.
        callbacks: more Keras callbacks for `fit` (e.g. one that stops on request).
        task: the `Task` (loss, metrics, scoring metric); a softmax classifier's by default.
            `data`'s labels must be in the form it takes (see `training.fit.prepared`).
        on_progress: receives a line per epoch once the training runs for a few seconds.

    Returns:
        The `TrainingRun` and the trained model.

    Example:

    ```python
    run, model = train_architecture(space, space.reference, data, epochs=1, seed=0)
    print(f"{run.val_accuracy:.3f} validation, {run.test_accuracy:.3f} test")
    ```
    """
    recipe = recipe or TrainingRecipe()
    task = task or Task()
    build = recipe_build(space, architecture, task, recipe, data, epochs)
    return train_built(build, data, epochs, seed, recipe, callbacks, task, on_progress)


def recipe_build(
    space: SearchSpace,
    architecture: Architecture,
    task: Task,
    recipe: TrainingRecipe,
    data: Dataset,
    epochs: int,
) -> Callable[[], keras.Model]:
    """What builds `architecture` of `space` compiled for `task` with the recipe's optimizer,
    scheduled over `epochs` of `data.train`, as a trial trains."""

    def build() -> keras.Model:
        model = space.build(architecture)
        compile_model(model, task, recipe.optimizer(steps_per_epoch((data.train,), {}), epochs))
        return model

    return build


def train_built(
    build: Callable[[], keras.Model],
    data: Dataset,
    epochs: int,
    seed: int,
    recipe: TrainingRecipe,
    callbacks: list | None,
    task: Task,
    on_progress: Callable[[str], None] | None = None,
) -> tuple[TrainingRun, keras.Model]:
    """Trains the compiled model `build()` makes (after seeding with `seed`) as
    `train_architecture` does: your build's models (`--hypermodel`) keep their own compile."""
    start = time.monotonic()
    keras.utils.set_random_seed(seed)
    model = build()
    history = fit_model(
        model,
        data.train,
        validation_data=data.val,
        epochs=epochs,
        callbacks=list(callbacks or []),
        on_progress=on_progress,
    )
    val_history = tuple(float(value) for value in history.history[task.score])
    test = evaluate_model(model, data.test)[task.score.removeprefix("val_")]
    run = TrainingRun(
        val_accuracy=recipe.final_accuracy(val_history),
        test_accuracy=test,
        val_history=val_history,
        seed=seed,
        seconds=time.monotonic() - start,
    )
    return run, model


def trial_optimizer(optimizer, recipe: TrainingRecipe) -> keras.optimizers.Optimizer:
    """A new optimizer for one trial: a copy of `optimizer` (an instance or a name), or for None
    Adam at the recipe's rate (`compile_with_recipe` schedules it once the steps are known)."""
    if optimizer is None:
        return keras.optimizers.Adam(recipe.learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def compile_with_recipe(model: keras.Model, task: Task, recipe: TrainingRecipe, args, kwargs):
    """Recompiles `model` with the recipe's optimizer, scheduled over the steps of the `fit`
    that `args` and `kwargs` (its arguments) describe."""
    epochs = kwargs.get("epochs", 1)
    steps = steps_per_epoch(args, kwargs)
    # `--strategy mirrored` builds the model in its strategy; `fit` runs outside it.
    compile_model(
        model,
        task,
        lambda: recipe.optimizer(steps, epochs, kwargs.get("initial_epoch", 0)),
        in_model_strategy=True,
    )
