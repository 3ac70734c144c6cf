"""`train_architecture`: one architecture trained from scratch under a `TrainingRecipe`, outside
any tuner, and scored on validation and test data. Confirmation runs and the benchmarks use it, so
their numbers are measured exactly as a search's trials are."""

from __future__ import annotations

import dataclasses
import time

import keras

from bottleneck_search.data import Dataset
from bottleneck_search.recipe import TrainingRecipe, steps_per_epoch
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.search_space import SearchSpace


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """One architecture trained once.

    Attributes:
        val_accuracy: validation accuracy as the recipe reads it (end of training).
        test_accuracy: accuracy on the test split, which the search never sees.
        val_history: validation accuracy after every epoch.
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

    Returns:
        The `TrainingRun` and the trained model.

    Example:

    ```python
    run, model = train_architecture(space, space.reference, data, epochs=1, seed=0)
    print(f"{run.val_accuracy:.3f} validation, {run.test_accuracy:.3f} test")
    ```
    """
    recipe = recipe or TrainingRecipe()
    start = time.monotonic()
    keras.utils.set_random_seed(seed)
    model = space.build(architecture)
    model.compile(
        optimizer=recipe.optimizer(steps_per_epoch((data.train,), {}), epochs),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        data.train,
        validation_data=data.val,
        epochs=epochs,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
        callbacks=list(callbacks or []),
    )
    val_history = tuple(float(value) for value in history.history["val_accuracy"])
    _, test_accuracy = model.evaluate(data.test, verbose=0)
    run = TrainingRun(
        val_accuracy=recipe.final_accuracy(val_history),
        test_accuracy=float(test_accuracy),
        val_history=val_history,
        seed=seed,
        seconds=time.monotonic() - start,
    )
    return run, model
