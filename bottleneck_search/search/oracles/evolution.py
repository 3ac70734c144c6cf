"""`EvolutionOracle`: regularized (aging) evolution with Pareto-aware parent selection, as a Keras
Tuner oracle (`--tuner evolution`).

The first `population_size` trials are the no-bottleneck architecture, the reference, the
cheapest (when the space is known) and random samples. Every later trial mutates a parent: a
tournament among the most recent `population_size` completed trials (older ones have aged out),
won by the lowest non-dominated front of (validation accuracy up, MACs down), then the largest
crowding distance (`ranking`). A mutation changes one decision: a site's reduction on or
off, a width to its neighbour, or one of the user's own hyperparameters to a neighbouring value.
Nothing already proposed is proposed again (floats compared to 12 significant digits, and
proposed as such), and with a known space nothing over `max_macs` is proposed (the closed-form
cost takes milliseconds). When random draws keep finding proposed points, a finite space is
walked in order, so it is exhausted before the oracle stops, as Keras Tuner's `GridSearch` is.
Keras Tuner's reported objective stays the scalar `val_score`.

The population is the oracle's own trials, and the lineage and the proposals made are saved in
Keras Tuner's oracle state, so `--resume`, a kill and the distributed chief/worker mode (the chief
runs the oracle) continue the same evolution. Each proposal is also appended to
`<run>/lineage.jsonl` (`parent_trial_id`, `mutation`), which the run's readers join to the trial
log: the oracle runs where Keras Tuner's state is kept, while the trial log is written where
trials train (a worker, a trainer process).
"""

from __future__ import annotations

import json
import os
import random

import keras_tuner as kt

from bottleneck_search.parts.proposer import check_population
from bottleneck_search.ranking import pareto_order
from bottleneck_search.rundir.files import append_line
from bottleneck_search.search.engine.objective import over_budget
from bottleneck_search.space.hyperparameters import architecture_from_hp, architecture_to_hp
from bottleneck_search.space.search_space import SearchSpace

HP = kt.engine.hyperparameters
RUNNING, STOPPED = kt.engine.trial.TrialStatus.RUNNING, kt.engine.trial.TrialStatus.STOPPED
# Proposals tried (a tournament and a mutation each) before a random sample is taken instead.
ATTEMPTS = 50


def default_population(max_trials: int | None) -> int:
    """8, or half the budget when that is smaller (at least 2, at most the budget; 8 for an
    unbounded search, `max_trials=None`).

    Real et al. (2019) ran populations of 100 for 20,000 trials; at this tool's budgets of 20 to
    100 trials, a population of 8 leaves most of the budget to evolution. A tournament of 3 among
    8 selects a little more strongly than their 25 among 100, which suits a short budget.
    """
    if max_trials is None:
        return 8
    return min(max_trials, max(2, min(8, max_trials // 2)))


class EvolutionOracle(kt.Oracle):
    """Aging evolution over Keras Tuner hyperparameters, selecting parents by Pareto rank.

    Args:
        objective: Keras Tuner's objective (the search reports `val_score`).
        max_trials: trials in all (None: until stopped, as for `keras_tuner.Oracle`).
        population_size: trials that make the initial population and the living population
            (default `default_population(max_trials)`); from 2 to `max_trials`.
        tournament_size: population members drawn for each tournament (default 3).
        space: the `SearchSpace`, when known: adds the cheapest architecture to the initial
            population and checks `max_macs` in closed form.
        max_macs: architectures above it are never proposed (needs `space`).
        max_latency_us: nor those predicted slower (needs `space` with a latency table).
        accuracy_metric, cost_metric: the trial metrics ranked (higher and lower is better); a
            trial without the accuracy metric is ranked by its objective in the objective's
            direction, and one without the cost metric counts as cost 0.
        lineage_log: a file to append each proposal's `trial_id`, `parent_trial_id` and
            `mutation` to, as a JSON line (`make_tuner` uses `<run>/lineage.jsonl`).
        seed, **kwargs: as for `keras_tuner.Oracle`.

    Example:

    ```python
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=20, space=space)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=BottleneckHyperModel(space),
                              directory=tmp, project_name="evolution")
    ```
    """

    def __init__(
        self,
        objective=None,
        max_trials: int | None = 20,
        population_size: int | None = None,
        tournament_size: int = 3,
        space: SearchSpace | None = None,
        max_macs: int | None = None,
        max_latency_us: float | None = None,
        accuracy_metric: str = "val_accuracy",
        cost_metric: str = "macs",
        lineage_log: str | os.PathLike | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        if seed is not None:  # Keras Tuner reads seed=0 as "no seed" (`seed or random...`)
            self.seed = seed
        if population_size is not None:
            check_population(population_size, max_trials)
        population_size = population_size or default_population(max_trials)
        self.population_size = population_size
        self.tournament_size = max(1, tournament_size)
        self.space = space
        self.max_macs = max_macs
        self.max_latency_us = max_latency_us
        self.accuracy_metric = accuracy_metric
        self.cost_metric = cost_metric
        self.lineage_log = lineage_log
        self.lineage: dict[str, dict] = {}  # trial id -> {"parent_trial_id", "mutation"}
        self.proposed: set[str] = set()  # keys of every proposed set of values

    # -- Keras Tuner's oracle interface --------------------------------------------------------

    def populate_space(self, trial_id):
        rng = random.Random(f"{self.seed}/{trial_id}")
        proposal = self._propose(rng)
        if proposal is None:
            return {"status": STOPPED, "values": None}
        values, origin = proposal
        self.proposed.add(_key(values))
        self.lineage[trial_id] = origin
        if self.lineage_log is not None:
            append_line(self.lineage_log, json.dumps({"trial_id": trial_id, **origin}))
        return {"status": RUNNING, "values": values}

    @kt.synchronized  # also turns Keras Tuner's older `end_trial(trial_id, status)` into a Trial
    def end_trial(self, trial):
        # Duplicates are judged on what trials ran with: a hyperparameter first registered in
        # `fit` is part of it, and of every later proposal.
        self.proposed.add(_key(self.trials[trial.trial_id].hyperparameters.values))
        return super().end_trial(trial)

    def get_state(self):
        state = super().get_state()
        state["evolution"] = {"lineage": self.lineage, "proposed": sorted(self.proposed)}
        return state

    def set_state(self, state):
        super().set_state(state)
        evolution = state.get("evolution", {})
        self.lineage = dict(evolution.get("lineage", {}))
        self.proposed = set(evolution.get("proposed", []))

    # -- proposals -----------------------------------------------------------------------------

    def population(self) -> list:
        """The most recent `population_size` completed trials, oldest first."""
        done = [
            self.trials[trial_id]
            for trial_id in self.end_order
            if self.trials[trial_id].status == kt.engine.trial.TrialStatus.COMPLETED
        ]
        return done[-self.population_size :]

    def _propose(self, rng: random.Random) -> tuple[dict, dict] | None:
        population = self.population()
        if len(self.lineage) < self.population_size or not population:
            for values, name in self._initial(rng):
                if self._admissible(values):
                    return values, {"parent_trial_id": None, "mutation": f"initial: {name}"}
        else:
            order = pareto_order([self._point(trial) for trial in population])
            for _ in range(ATTEMPTS):
                drawn = rng.sample(
                    range(len(population)), min(self.tournament_size, len(population))
                )
                parent = population[min(drawn, key=lambda i: order[i])]
                child, mutation = self.mutate(parent.hyperparameters.values, rng)
                if child is not None and self._admissible(child):
                    return child, {"parent_trial_id": parent.trial_id, "mutation": mutation}
        for _ in range(ATTEMPTS):  # everything near the population was tried: explore
            values = self._complete({}, rng)
            if self._admissible(values):
                return values, {"parent_trial_id": None, "mutation": "random"}
        # Random draws keep finding proposed points: a finite space is walked in order, so it
        # is exhausted before the search stops, as Keras Tuner's GridSearch is.
        for values in _grid_points(self.hyperparameters.space):
            if self._admissible(values):
                return values, {"parent_trial_id": None, "mutation": "unexplored"}
        return None

    def _initial(self, rng: random.Random):
        """The initial population's candidates, in order, with their names."""
        reductions = [hp for hp in self.hyperparameters.space if hp.name.endswith("/reduce")]
        yield self._complete({hp.name: False for hp in reductions}, None), "no bottleneck"
        yield self._complete({hp.name: True for hp in reductions}, None), "reference"
        if self.space is not None:
            cheapest = architecture_to_hp(self.space, self.space.cheapest()).values
            yield self._complete(dict(cheapest), None), "cheapest"
        for _ in range(ATTEMPTS):
            yield self._complete({}, rng), "random"

    def mutate(self, values: dict, rng: random.Random) -> tuple[dict | None, str]:
        """`values` with one active, tunable hyperparameter moved to a neighbouring value (a
        hyperparameter made active by the move gets a random value); `(None, reason)` when
        nothing can move."""
        complete = self._complete(values, None)
        movable = [
            hp
            for hp in self.hyperparameters.space
            if hp.name in complete and _neighbours(hp, complete[hp.name])
        ]
        if not movable:
            return None, "nothing to mutate"
        hp = rng.choice(movable)
        new = rng.choice(_neighbours(hp, complete[hp.name]))
        child = self._complete({**complete, hp.name: new}, rng)
        return child, _describe(hp.name, complete, child)

    def _complete(self, values: dict, rng: random.Random | None) -> dict:
        """The active hyperparameters' values: from `values` where given, else random (or the
        default when `rng` is None)."""
        hps = kt.HyperParameters()
        for hp in self.hyperparameters.space:
            hps.merge([hp])
            if hps.is_active(hp):
                if hp.name in values:
                    hps.values[hp.name] = values[hp.name]
                elif rng is not None:
                    hps.values[hp.name] = _snapped(hp.random_sample(rng.randrange(2**31)))
        return dict(hps.values)

    def _admissible(self, values: dict) -> bool:
        """Not proposed before, and within the hard budgets (when the space is known)."""
        if _key(values) in self.proposed:
            return False
        if self.space is None or (self.max_macs is None and self.max_latency_us is None):
            return True
        hp = self.hyperparameters.copy()
        hp.values = dict(values)
        architecture = architecture_from_hp(self.space, hp)
        return over_budget(architecture, self.max_macs, self.max_latency_us) is None

    def _point(self, trial) -> tuple[float, float]:
        """`(quality, cost)`: higher quality and lower cost are better."""
        metrics = trial.metrics
        if metrics.exists(self.accuracy_metric):
            accuracy = metrics.get_last_value(self.accuracy_metric)
        else:
            minimised = getattr(self.objective, "direction", "max") == "min"
            score = trial.score if trial.score is not None else 0.0
            accuracy = -score if minimised else score
        cost = metrics.get_last_value(self.cost_metric) if metrics.exists(self.cost_metric) else 0
        return float(accuracy), float(cost)


def _neighbours(hp, value) -> list:
    """The values one step from `value` in `hp`'s range."""
    if isinstance(hp, HP.Boolean):
        return [not value]
    if isinstance(hp, HP.Choice):
        if value not in hp.values:
            return []
        index = hp.values.index(value)
        return [hp.values[i] for i in (index - 1, index + 1) if 0 <= i < len(hp.values)]
    if isinstance(hp, HP.Int | HP.Float) and hp.step is not None:
        grid = _stepped_grid(hp)
        nearest = min(range(len(grid)), key=lambda i: abs(grid[i] - value))
        return [grid[i] for i in (nearest - 1, nearest + 1) if 0 <= i < len(grid)]
    if isinstance(hp, HP.Int | HP.Float):
        # Keras Tuner's own mapping between values and [0, 1] honours `sampling` (linear, log,
        # reverse_log); a tenth of that range is a neighbour.
        position = hp.value_to_prob(value)
        moved = {hp.prob_to_value(min(max(position + d, 0.0), 1.0 - 1e-9)) for d in (-0.1, 0.1)}
        return sorted(_snapped(v) for v in moved if _snapped(v) != _snapped(value))
    return []  # Fixed


def _grid_points(space: list, values: dict | None = None, start: int = 0):
    """Every set of active values of `space` (Keras Tuner hyperparameters, parents before
    the ones they condition), in order, leaving out those where a hyperparameter without a
    finite grid (a float without `step`) is active. Lazy: a walk stops at the first point the
    caller takes."""
    values = values or {}
    for index in range(start, len(space)):
        hp = space[index]
        if all(condition.is_active(values) for condition in hp.conditions):
            options = _finite_values(hp)
            if options is None:
                return
            for option in options:
                yield from _grid_points(space, {**values, hp.name: option}, index + 1)
            return
    yield values


def _finite_values(hp) -> list | None:
    """Every value `hp` takes (snapped), or None when it has infinitely many."""
    if isinstance(hp, HP.Boolean):
        return [False, True]
    if isinstance(hp, HP.Choice):
        return list(hp.values)
    if isinstance(hp, HP.Fixed):
        return [hp.value]
    if isinstance(hp, HP.Int) and hp.step is None and hp.sampling == "linear":
        return list(range(hp.min_value, hp.max_value + 1))
    if isinstance(hp, HP.Int | HP.Float) and hp.step is not None:
        return _stepped_grid(hp)
    return None


def _stepped_grid(hp) -> list:
    """The sorted values of a numeric hyperparameter with a `step` (Keras Tuner's own grid,
    which honours `sampling`: a log step multiplies), floats snapped."""
    return sorted({round(v) if isinstance(hp, HP.Int) else _snapped(v) for v in hp.values})


def _snapped(value):
    """A float to 12 significant digits, so that `0.1` and `0.30000000000000004 - 0.2` agree."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _describe(name: str, parent: dict, child: dict) -> str:
    """A mutation in words: `mix1_3x3: off -> 16`, `mix1_3x3: 16 -> 8`, `learning_rate: 0.001 -> ...`."""
    site, _, kind = name.rpartition("/")
    if kind in ("reduce", "width") and f"{site}/reduce" in parent:

        def decision(values):
            return str(values[f"{site}/width"]) if values[f"{site}/reduce"] else "off"

        return f"{site}: {decision(parent)} -> {decision(child)}"
    return f"{name}: {parent[name]!r} -> {child[name]!r}"


def _key(values: dict) -> str:
    return json.dumps(
        {name: _snapped(value) for name, value in values.items()}, sort_keys=True, default=str
    )
