"""How a job's models train: what is learned (`TaskOverrides`), how each trial trains
(`TrialTraining`), and the confirmation stage that retrains the best (`Confirmation`)."""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_choice, check_count
from bottleneck_search.parts.base import Part
from bottleneck_search.recipe import TrainingRecipe

INPUT_RANGES = ("auto", "unit", "raw")


@dataclasses.dataclass(frozen=True)
class TaskOverrides(Part):
    """What a job trains and scores with, where it should not be read from the model (see
    `task_from_model`) or a YAML space's softmax head.

    Args:
        loss: a Keras loss name instead of the model's compiled loss or what its output implies.
        metric: a Keras metric name that scores architectures (default: accuracy for a
            classifier).
        input_range: `auto` (from the model's own preprocessing: `Rescaling`, `Normalization`),
            `unit` ([0, 1]) or `raw` (0-255): the range images are fed in.

    Raises:
        SearchConfigError: an unknown `input_range`.

    Example:

    ```python
    TaskOverrides(loss="categorical_crossentropy", input_range="raw")
    ```
    """

    loss: str | None = None
    metric: str | None = None
    input_range: str = "auto"

    def __post_init__(self):
        check_choice("input_range", self.input_range, INPUT_RANGES)


@dataclasses.dataclass(frozen=True)
class TrialTraining(Part):
    """How each trial trains: its epochs and its `TrainingRecipe`.

    Args:
        epochs: epochs per trial (Hyperband: the most any trial gets).
        learning_rate: Adam's peak learning rate.
        schedule: `cosine` (warm-up, then cosine decay to zero over the trial) or `constant`.
        score_epochs: a trial scores the mean validation metric of its last this-many epochs.

    Raises:
        SearchConfigError: an argument out of range (the recipe's own checks included).

    Example:

    ```python
    TrialTraining(epochs=8, learning_rate=1e-3).recipe()
    ```
    """

    epochs: int = 4
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    score_epochs: int = 1

    def __post_init__(self):
        check_count("epochs", self.epochs)
        self.recipe()  # checks its own arguments

    def recipe(self) -> TrainingRecipe:
        """The trials' `TrainingRecipe`."""
        return TrainingRecipe(
            learning_rate=self.learning_rate, schedule=self.schedule, score_epochs=self.score_epochs
        )


@dataclasses.dataclass(frozen=True)
class Confirmation(Part):
    """The stage after a search that retrains the best Pareto-front architectures (plus no
    bottleneck and the space's reference) from scratch with several seeds.

    Args:
        top: architectures from the front; 0 turns the stage off. None: 3, or 2 on the offline
            `digits` data (see `SearchConfig.confirmation`).
        seeds: seeds per architecture. None: 3, or 2 on `digits`.

    Raises:
        SearchConfigError: a negative `top`, or `seeds` below 1.

    Example:

    ```python
    Confirmation(top=0)            # no confirmation
    Confirmation(top=2, seeds=5)
    ```
    """

    top: int | None = None
    seeds: int | None = None

    def __post_init__(self):
        if self.top is not None:
            check_count("top", self.top, least=0, hint="0 turns the stage off.")
        if self.seeds is not None:
            check_count("seeds", self.seeds)
