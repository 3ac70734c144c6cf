"""The evolutionary tuner: Pareto ranking on hand-made fronts, mutations of one decision inside the
space, no repeats, the MAC budget in closed form, resume, and the distributed mode."""

import json
import math
import random
import signal
import subprocess
import sys

import keras
import keras_tuner as kt
import pytest
from conftest import ROOT, search_argv

from bottleneck_search import BottleneckHyperModel, SearchSpace, load_run, make_tuner
from bottleneck_search.cli import main
from bottleneck_search.ranking import (
    crowding_distances,
    nondominated_fronts,
    pareto_order,
)
from bottleneck_search.search.oracles.evolution import EvolutionOracle
from bottleneck_search.space.hyperparameters import architecture_from_hp


def test_nondominated_fronts_of_a_hand_made_set():
    points = [(0.90, 10), (0.80, 5), (0.70, 8), (0.95, 20), (0.60, 9), (0.80, 5)]
    # 2 (0.70, 8) is dominated by 1 (0.80, 5) and by 5, its twin; 4 (0.60, 9) by 1, 2 and 5. Of
    # the twins 1 and 5 the first is in the front, the second one front behind (as the run
    # directory's Pareto front keeps the first of tied trials).
    assert nondominated_fronts(points) == [[0, 1, 3], [5], [2], [4]]


def test_crowding_distance_keeps_the_ends_and_measures_the_gaps():
    points = [(0.5, 1), (0.6, 2), (0.9, 3), (1.0, 10)]
    distances = crowding_distances(points, [0, 1, 2, 3])
    assert distances[0] == distances[3] == math.inf
    # accuracy range 0.5, cost range 9: point 1 spans (0.9 - 0.5) / 0.5 + (3 - 1) / 9
    assert distances[1] == pytest.approx(0.4 / 0.5 + 2 / 9)
    assert distances[2] == pytest.approx(0.4 / 0.5 + 8 / 9)
    order = pareto_order(points + [(0.4, 5)])
    assert order[4][0] == 1 and all(order[i][0] == 0 for i in range(4))
    assert order[1] > order[2]  # the more crowded of two front members ranks behind


def _oracle(space, tmp_path, max_macs=None, **kwargs):
    """The oracle of an evolution tuner over `space`, its hyperparameters declared."""
    tuner = make_tuner(
        "evolution",
        BottleneckHyperModel(space),
        max_macs=max_macs,
        directory=tmp_path,
        project_name="evolution",
        seed=3,
        **{"max_trials": 40, **kwargs},
    )
    return tuner.oracle


def _decisions(space, values):
    hp = kt.HyperParameters()
    architecture_from_hp(space, hp)
    hp.values = dict(values)
    return architecture_from_hp(space, hp).widths


def test_a_mutation_changes_one_site_decision_and_stays_in_the_space(tiny_space_path, tmp_path):
    space = SearchSpace.from_yaml(tiny_space_path)
    oracle = _oracle(space, tmp_path)
    rng = random.Random(0)
    for _ in range(200):
        parent = oracle._complete({}, rng)
        child, mutation = oracle.mutate(parent, rng)
        before, after = _decisions(space, parent), _decisions(space, child)
        changed = [site for site in before if before[site] != after[site]]
        assert len(changed) == 1, (before, after)
        site = changed[0]
        assert mutation.startswith(f"{site}: ")
        widths = next(s.widths for s in space.sites if s.name == site)
        assert after[site] is None or after[site] in widths
        if before[site] is not None and after[site] is not None:  # a width moves to a neighbour
            assert abs(widths.index(before[site]) - widths.index(after[site])) == 1


def test_a_users_own_hyperparameters_mutate_too():
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=10, seed=1)
    hp = kt.HyperParameters()  # as a user's build(hp) would declare them
    hp.Choice("optimizer", ["sgd", "adam", "rmsprop"])
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    oracle.update_space(hp)
    rng = random.Random(0)
    seen = set()
    for _ in range(100):
        parent = {"optimizer": "adam", "learning_rate": 1e-3}
        child, mutation = oracle.mutate(parent, rng)
        changed = [name for name in parent if parent[name] != child[name]]
        assert len(changed) == 1
        seen.add(changed[0])
        if changed[0] == "learning_rate":  # a tenth of the log range: a factor of 10 ** 0.2
            assert child["learning_rate"] == pytest.approx(
                1e-3 * 10 ** (0.2 if child["learning_rate"] > 1e-3 else -0.2)
            )
    assert seen == {"optimizer", "learning_rate"}


def _mutations(declare, parent, draws=60):
    """Every value `declare(hp)`'s one hyperparameter mutates to from `parent`."""
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=10, seed=1)
    hp = kt.HyperParameters()
    declare(hp)
    oracle.update_space(hp)
    (name,) = hp.values
    rng = random.Random(0)
    return {oracle.mutate({name: parent}, rng)[0][name] for _ in range(draws)}


@pytest.mark.parametrize(
    "declare, parent, expected",
    [
        # Keras Tuner's log steps multiply: 8, 16, 32, 64.
        (lambda hp: hp.Int("width", 8, 64, step=2, sampling="log"), 16, {8, 32}),
        (lambda hp: hp.Int("width", 8, 64, step=8), 16, {8, 24}),
        (lambda hp: hp.Float("rate", 0.0, 1.0, step=0.1), 0.5, {0.4, 0.6}),
        # reverse_log is dense near the top: its neighbours of 0.5 are not symmetric.
        (lambda hp: hp.Float("rate", 0.1, 1.0, sampling="reverse_log"), 0.5, None),
    ],
    ids=["int_log_step", "int_step", "float_step", "reverse_log"],
)
def test_mutations_stay_on_the_values_keras_tuner_would_sample(declare, parent, expected):
    mutated = _mutations(declare, parent)
    hp = kt.HyperParameters()
    declare(hp)
    (declared,) = hp.space
    for value in mutated:
        assert declared.min_value <= value <= declared.max_value and value != parent
        assert type(value) is type(declared.default)
    if expected is not None:
        assert sorted(mutated) == pytest.approx(sorted(expected))
    else:
        low, high = sorted(mutated)
        assert low < parent < high and (parent - low) != pytest.approx(high - parent)


def test_a_log_int_without_step_mutates_to_integers_in_range():
    mutated = _mutations(lambda hp: hp.Int("width", 8, 64, sampling="log"), 16)
    assert mutated and all(isinstance(v, int) and 8 <= v <= 64 for v in mutated)


def _run_by_hand(oracle, score_of, tmp_path, limit=40):
    """Creates and ends trials until the oracle stops; returns them."""
    kt.Tuner(oracle=oracle, hypermodel=lambda hp: None, directory=tmp_path, project_name="hand")
    trials = []
    for _ in range(limit):
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        oracle.update_trial(trial.trial_id, {"val_score": score_of(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        trials.append(trial)
    return trials


def test_a_float_with_a_step_is_run_once_per_value_then_the_oracle_stops(tmp_path):
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=40, seed=0)
    hp = kt.HyperParameters()
    hp.Float("rate", 0.0, 1.0, step=0.1)
    oracle.update_space(hp)
    trials = _run_by_hand(oracle, lambda values: values["rate"], tmp_path)
    values = [round(t.hyperparameters.values["rate"], 9) for t in trials]
    assert len(values) == len(set(values)) <= 11


@pytest.mark.parametrize("seed", [1, 2])
def test_a_finite_space_is_exhausted_then_the_oracle_stops(seed, tmp_path):
    # 155 points with a conditional hyperparameter: random draws alone left 1-2 of them
    # unproposed (both seeds), and the search stopped short.
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=200, seed=seed)
    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32, 64, 128, 256])
    hp.Float("rate", 0.1, 0.5, step=0.1)
    with hp.conditional_scope("units", [8, 16, 32, 64, 128]):
        hp.Int("depth", 1, 6)
    oracle.update_space(hp)
    trials = _run_by_hand(oracle, lambda values: values["rate"], tmp_path, limit=200)
    points = {json.dumps(t.hyperparameters.values, sort_keys=True) for t in trials}
    assert len(trials) == len(points) == 5 * 5 * 6 + 5  # every point once
    assert oracle.create_trial("tuner0").status == "STOPPED"


def test_float_proposals_are_never_equal_to_twelve_digits(tmp_path):
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=40, seed=3)
    hp = kt.HyperParameters()
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.05)
    oracle.update_space(hp)
    trials = _run_by_hand(oracle, lambda values: -abs(values["dropout"] - 0.2), tmp_path)
    assert len(trials) == 40
    proposals = [t.hyperparameters.values for t in trials]
    for values in proposals:  # stored as proposed: 12 significant digits at most
        assert all(value == float(f"{value:.12g}") for value in values.values())
    keys = {(f"{v['learning_rate']:.12g}", f"{v['dropout']:.12g}") for v in proposals}
    assert len(keys) == len(proposals)


def test_end_trial_takes_keras_tuners_older_two_argument_form(tmp_path):
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=3, seed=0)
    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32])
    oracle.update_space(hp)
    kt.Tuner(oracle=oracle, hypermodel=lambda hp: None, directory=tmp_path, project_name="old")
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_score": 0.5})
    oracle.end_trial(trial.trial_id, "COMPLETED")
    assert oracle.trials[trial.trial_id].status == "COMPLETED"
    assert oracle.trials[trial.trial_id].score == 0.5
    assert oracle.create_trial("tuner0").hyperparameters.values != trial.hyperparameters.values


def test_a_minimised_objective_breeds_from_its_lowest_scores(tmp_path):
    # Seeded: in 16 of 400 seeds the best of the three is units=1 with 2 already tried, so no
    # mutation of it is new and the oracle rightly explores at random (no parent). Unseeded, this
    # failed one fresh-clone CI run; so did seed=0, which Keras Tuner's Oracle takes for "no
    # seed" (`seed or random.randint(...)`).
    oracle = EvolutionOracle(
        kt.Objective("val_score", "min"),
        max_trials=6,
        population_size=3,
        tournament_size=3,
        seed=1,
    )
    hp = kt.HyperParameters()
    hp.Int("units", 1, 50)
    oracle.update_space(hp)
    trials = _run_by_hand(oracle, lambda values: float(values["units"]), tmp_path, limit=4)
    parent = oracle.lineage[trials[3].trial_id]["parent_trial_id"]
    best = min(trials[:3], key=lambda t: t.hyperparameters.values["units"])
    assert parent == best.trial_id


@pytest.mark.parametrize("max_trials", [1, None])
def test_the_budgets_keras_tuner_accepts_elsewhere_are_accepted(max_trials, tmp_path):
    oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=max_trials)
    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32])
    oracle.update_space(hp)
    trials = _run_by_hand(oracle, lambda values: 0.5, tmp_path, limit=5)
    assert len(trials) == (1 if max_trials == 1 else 3)


@pytest.mark.parametrize("evolving", [True, False], ids=["evolving", "initial_population_only"])
def test_no_architecture_is_proposed_twice_and_none_over_the_budget(
    tiny_space_path, tmp_path, evolving
):
    space = SearchSpace.from_yaml(tiny_space_path)
    every = list(space.architectures())
    budget = sorted(a.macs for a in every)[5]
    feasible = [a for a in every if a.macs <= budget]
    trials = len(feasible) + 3
    population = 2 if evolving else trials  # all initial: random samples until none is new
    oracle = _oracle(space, tmp_path, budget, population_size=population, max_trials=trials)
    proposed = []
    for index in range(len(feasible) + 3):
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        proposed.append(_decisions(space, trial.hyperparameters.values))
        oracle.update_trial(
            trial.trial_id, {"val_score": 0.1 * index, "val_accuracy": 0.1 * index, "macs": 1.0}
        )
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    keys = [json.dumps(p, sort_keys=True) for p in proposed]
    assert len(keys) == len(set(keys)) == len(feasible)  # every feasible one once, then it stops
    assert all(space.validate(p).macs <= budget for p in proposed)


@pytest.mark.slow
def test_a_killed_evolution_resumes_the_same_population(capsys, tiny_space_path, tmp_path):
    run_dir = tmp_path / "run"
    argv = search_argv(
        tiny_space_path, run_dir, "--tuner", "evolution", "--population-size", "3", trials=6
    )
    killed = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "kill_at.py"), "trial-end", "4", "--", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = load_run(run_dir)
    assert len(before.records) == 4

    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    run = load_run(run_dir)
    assert sorted(r.trial_id for r in run.records) == ["0", "1", "2", "3", "4", "5"]
    initial = sorted(r.trial_id for r in run.records if r.mutation.startswith("initial: "))
    assert initial == ["0", "1", "2"]  # the initial population was not sampled again
    for record in run.records:
        if record.trial_id not in initial:
            assert record.parent_trial_id in {"0", "1", "2", "3", "4"}
    architectures = [json.dumps(r.architecture, sort_keys=True) for r in run.records]
    assert len(set(architectures)) == 6  # nothing proposed twice, across the kill
    report = (run_dir / "report.md").read_text()
    assert "## Lineage of trial" in report


def test_evolution_over_a_space_read_from_a_keras_model(tmp_path):
    layers = keras.layers
    inputs = keras.Input((16, 16, 8))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="a")(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="b")(x)
    outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    space = SearchSpace.from_model(keras.Model(inputs, outputs), widths=[2, 4, 8])
    oracle = _oracle(space, tmp_path, population_size=3, max_trials=8)
    seen = []
    for index in range(8):
        trial = oracle.create_trial("tuner0")
        seen.append(json.dumps(_decisions(space, trial.hyperparameters.values), sort_keys=True))
        oracle.update_trial(trial.trial_id, {"val_score": 0.5, "val_accuracy": 0.5 + index / 100})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert len(set(seen)) == 8
    origins = [oracle.lineage[str(i)]["mutation"] for i in range(8)]
    assert origins[:3] == ["initial: no bottleneck", "initial: reference", "initial: cheapest"]
    assert all(" -> " in m for m in origins[3:])  # mutations of a parent from then on


def test_seed_zero_seeds_the_oracle(tmp_path):
    # Keras Tuner's Oracle takes seed=0 for "no seed" and draws one from the global `random`.
    proposals = []
    for run in range(2):
        random.seed(run)  # what another test, or the user's code, left in the global state
        oracle = EvolutionOracle(kt.Objective("val_score", "max"), max_trials=5, seed=0)
        hp = kt.HyperParameters()
        hp.Int("units", 1, 50)
        oracle.update_space(hp)
        trials = _run_by_hand(oracle, lambda values: values["units"], tmp_path / str(run))
        proposals.append([t.hyperparameters.values for t in trials])
    assert oracle.seed == 0 and proposals[0] == proposals[1]
