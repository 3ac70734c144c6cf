"""`Proposer`: who proposes a search's trials, and how many."""

from __future__ import annotations

import dataclasses

from bottleneck_search.argument_validation import check_choice, check_count
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts.base import Part
from bottleneck_search.policy import STRATEGIES, TUNERS


@dataclasses.dataclass(frozen=True)
class Proposer(Part):
    """The tuner (or the one-shot strategy) that proposes architectures.

    Args:
        tuner: `random`, `bayesian`, `hyperband`, `grid` or `evolution` (Keras Tuner's stock
            tuners, and our evolutionary oracle in a stock tuner).
        max_trials: trials to run (Hyperband decides its own count from the epochs).
        population_size: `evolution`'s population (None: 8, or half of `max_trials` when
            smaller); from 2 to `max_trials`.
        max_consecutive_failures: the search stops once this many trials in a row have failed
            (Keras Tuner's `max_consecutive_failed_trials`).
        strategy: None trains each trial on its own; `mirrored` trains each with
            `tf.distribute.MirroredStrategy`; `oneshot` trains one weight-sharing supernet and
            scores architectures with its weights (`search.jobs.oneshot`).
        supernet_epochs: `oneshot`: epochs the supernet trains (None: twice the trial epochs).
        evaluate: `oneshot`: evaluate every architecture of a space of at most this many, else
            this many chosen by evolution (None: `policy.ONESHOT_EVALUATIONS`).

    Raises:
        SearchConfigError: an argument out of range, or one that belongs to another tuner or
            strategy.

    Example:

    ```python
    Proposer(tuner="evolution", max_trials=40, population_size=10)
    Proposer(strategy="oneshot", evaluate=500)
    ```
    """

    tuner: str = "random"
    max_trials: int = 10
    population_size: int | None = None
    max_consecutive_failures: int = 3
    strategy: str | None = None
    supernet_epochs: int | None = None
    evaluate: int | None = None

    def __post_init__(self):
        check_choice("tuner", self.tuner, TUNERS)
        check_count("max_trials", self.max_trials)
        check_count("max_consecutive_failures", self.max_consecutive_failures)
        if self.population_size is not None:
            if self.tuner != "evolution":
                raise SearchConfigError(
                    "`population_size` is the evolution tuner's; this search's tuner is "
                    f"{self.tuner!r}. Set tuner='evolution' or leave population_size unset. "
                    f"Received: population_size={self.population_size!r}.",
                    argument="population_size",
                )
            check_population(self.population_size, self.max_trials)
        if self.strategy is not None:
            check_choice(
                "strategy", self.strategy, STRATEGIES, hint="None trains each trial alone."
            )
        for name in ("supernet_epochs", "evaluate"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.strategy != "oneshot":
                raise SearchConfigError(
                    f"`{name}` belongs to strategy='oneshot'; set that strategy or leave {name} "
                    f"unset. Received: {name}={value!r}, strategy={self.strategy!r}.",
                    argument=name,
                )
            check_count(name, value)
        if self.strategy == "oneshot" and self.tuner != "random":
            raise SearchConfigError(
                "strategy='oneshot' chooses what to evaluate itself (every architecture, or "
                "evolution); tuner belongs to a trial-by-trial search. Leave it at its default. "
                f"Received: tuner={self.tuner!r}.",
                argument="tuner",
            )


def check_population(population_size: object, max_trials: int | None) -> None:
    """Refuses an evolutionary population outside 2..`max_trials` (a search's, or one an
    `EvolutionOracle` is given).

    Raises:
        SearchConfigError: naming the bounds and the value.
    """
    check_count(
        "population_size",
        population_size,
        least=2,
        most=max_trials,
        hint=f"A population is at most max_trials ({max_trials})." if max_trials else "",
    )
