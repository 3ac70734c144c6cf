"""`TrainingRecipe`: how every trial trains and how its accuracy is read off.

A trial's accuracy must measure the architecture, not the luck of its last few batches. With a
constant learning rate, accuracy on a small budget jumps by points from one epoch to the next and
two seeds of one architecture disagree as much as two architectures do. The default recipe is the
one NAS benchmarks use: the learning rate warms up linearly over the first `warmup_fraction` of
the steps to `learning_rate`, then decays to zero along a cosine (Keras' `CosineDecay`), and the
score is read at the end of training (the mean validation accuracy of the last `score_epochs`
epochs), never at the luckiest epoch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sized

from bottleneck_search.argument_validation import check_choice, check_count, check_number
from bottleneck_search.errors import SearchConfigError

SCHEDULES = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """The optimizer schedule of every trial and which epochs score it.

    Attributes:
        learning_rate: Adam's peak learning rate (the constant one with `schedule="constant"`).
        schedule: `"cosine"` (linear warm-up, then cosine decay to zero over the trial's epochs)
            or `"constant"`.
        warmup_fraction: share of the trial's steps spent warming up (cosine only).
        score_epochs: the trial's accuracy is the mean validation accuracy of its last this-many
            epochs (1: the final epoch).

    Example:

    ```python
    recipe = TrainingRecipe(learning_rate=2e-3, score_epochs=2)
    rate = recipe.rate_schedule(steps_per_epoch=100, epochs=5)
    assert float(rate(0)) == 0.0 and abs(float(rate(50)) - 2e-3) < 1e-9   # warm-up: 50 steps
    assert recipe.final_accuracy([0.80, 0.86, 0.88]) == 0.87
    ```
    """

    learning_rate: float = 2e-3
    schedule: str = "cosine"
    warmup_fraction: float = 0.1
    score_epochs: int = 1

    def __post_init__(self):
        check_choice("schedule", self.schedule, SCHEDULES)
        check_number("learning_rate", self.learning_rate)
        check_number("warmup_fraction", self.warmup_fraction, above=None, at_least=0, below=1)
        check_count("score_epochs", self.score_epochs)

    def rate_schedule(self, steps_per_epoch: int, epochs: int):
        """The learning rate over a trial of `epochs` epochs: a float, or Keras' `CosineDecay`."""
        if self.schedule == "constant":
            return self.learning_rate
        import keras

        total = max(1, steps_per_epoch * epochs)
        warmup = math.floor(total * self.warmup_fraction)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else self.learning_rate,
            decay_steps=max(1, total - warmup),
            alpha=0.0,
            warmup_target=self.learning_rate if warmup else None,
            warmup_steps=warmup,
        )

    def optimizer(self, steps_per_epoch: int, epochs: int, initial_epoch: int = 0):
        """A fresh `keras.optimizers.Adam` for a trial of `epochs` epochs, resuming its schedule at
        `initial_epoch` (Hyperband continues trials from a checkpoint)."""
        import keras

        optimizer = keras.optimizers.Adam(self.rate_schedule(steps_per_epoch, epochs))
        if initial_epoch:
            optimizer.iterations.assign(initial_epoch * steps_per_epoch)
        return optimizer

    def final_accuracy(self, accuracies) -> float:
        """The trial's accuracy from its per-epoch validation accuracies."""
        last = list(accuracies)[-self.score_epochs :]
        return sum(last) / len(last)

    def describe(self) -> str:
        """One line for progress output and reports."""
        if self.schedule == "constant":
            rate = f"Adam at a constant {self.learning_rate:g}"
        else:
            rate = (
                f"Adam, {self.warmup_fraction:.0%} warm-up to {self.learning_rate:g}, "
                "cosine decay to 0"
            )
        return f"{rate}; {self.describe_scoring()}"

    def describe_scoring(self) -> str:
        """Which epochs score a trial, in words."""
        if self.score_epochs == 1:
            return "scored on the final epoch"
        return f"scored on the mean of the last {self.score_epochs} epochs"


def steps_per_epoch(args, kwargs) -> int:
    """The batches one epoch of `model.fit(*args, **kwargs)` runs, which the schedule needs."""
    if kwargs.get("steps_per_epoch"):
        return int(kwargs["steps_per_epoch"])
    data = args[0] if args else kwargs.get("x")
    cardinality = getattr(data, "cardinality", None)
    if cardinality is not None:
        count = int(cardinality())
        return count if count > 0 else sum(1 for _ in data)
    if isinstance(data, Sized):
        return math.ceil(len(data) / kwargs.get("batch_size", 32))
    raise SearchConfigError(
        "Cannot tell how many batches an epoch has, which the learning-rate schedule needs. Pass "
        "a tf.data.Dataset or arrays, or steps_per_epoch=..."
    )
