"""The parts a job is assembled from (`bottleneck_search.parts`): each round-trips through
`get_config`/`from_config`, a `SearchConfig` through its flat arguments (the CLI's flags and
`config.json`), and a run directory recorded before the parts existed still reads."""

import dataclasses
import json

import pytest

from bottleneck_search import (
    CompressConfig,
    Confirmation,
    DataSource,
    Distribution,
    LatencySettings,
    Proposer,
    SearchConfig,
    SearchConfigError,
    SearchObjective,
    SpaceSource,
    TaskOverrides,
    TrainerProcesses,
    TrialTraining,
)
from bottleneck_search.rundir.config import FLAT

PARTS = [
    SpaceSource(spec=None, model="m.keras", widths=[0.5], round_to=4, warm_start=True),
    DataSource("fashion_mnist", train_size=100, batch_size=8),
    TaskOverrides(loss="mae", metric="mae", input_range="raw"),
    TrialTraining(epochs=2, learning_rate=1e-3, schedule="constant", score_epochs=2),
    SearchObjective("linear", target_macs=10, max_macs=20, cost="latency", target_latency=2.0),
    Proposer(tuner="evolution", max_trials=6, population_size=3),
    TrainerProcesses(trials_per_process=2, trial_timeout=5.0),
    Distribution(worker="h:1", tls_ca="ca.pem", worker_id="w1"),
    LatencySettings(batch_size=4, runtime="onnxruntime", threads=2),
    Confirmation(top=0),
]


@pytest.mark.parametrize("part", PARTS, ids=lambda part: type(part).__name__)
def test_every_part_round_trips_through_its_config(part):
    config = part.get_config()
    assert type(part).from_config(config) == part
    assert type(part).from_config(json.loads(json.dumps(config))) == part  # through a file


def test_a_part_refuses_an_argument_it_does_not_have():
    with pytest.raises(SearchConfigError) as caught:
        Proposer.from_config({"tuner": "random", "epochs": 3})
    assert caught.value.argument == "epochs" and "Proposer has no argument epochs" in str(
        caught.value
    )


def test_a_config_of_parts_and_its_flat_arguments_are_the_same_search():
    config = SearchConfig(
        space="googlenet",
        data=DataSource("fashion_mnist", batch_size=64),
        proposer=Proposer(tuner="bayesian", max_trials=7),
        latency=LatencySettings(batch_size=8),
        confirm=Confirmation(top=1, seeds=2),
        seed=3,
    )
    flat = config.arguments()
    assert len(flat) == 54  # the CLI's flags, one to one
    assert flat["space"] == "googlenet" and flat["latency_batch_size"] == 8
    assert flat["batch_size"] == 64 and flat["confirm_seeds"] == 2 and flat["seed"] == 3
    again = SearchConfig.from_arguments(json.loads(json.dumps(flat)))
    assert again == config and again.digest() == config.digest()
    assert config.replace(epochs=9).training == TrialTraining(epochs=9)
    assert set(FLAT) | {"run_dir", "seed", "resume", "verbose"} == set(flat)


def test_plain_values_stand_for_the_two_parts_every_search_names():
    assert SearchConfig(space="googlenet").space == SpaceSource("googlenet")
    assert SearchConfig(data="mnist").data == DataSource("mnist")
    with pytest.raises(SearchConfigError) as caught:
        SearchConfig(proposer="evolution")
    assert caught.value.argument == "proposer" and "must be a Proposer" in str(caught.value)


def test_an_old_run_record_reads_as_the_same_config():
    # config.json's arguments as a search wrote them before the parts (a 2026-12 run), with a
    # key since dropped from the package.
    recorded = {
        **dataclasses.asdict(TrialTraining()),
        "space": "inception_mini",
        "tuner": "evolution",
        "population_size": 4,
        "confirm": 0,
        "latency_runtime": "keras",
        "no_longer_an_argument": 1,
    }
    config = SearchConfig.from_arguments(recorded)
    assert config.proposer == Proposer(tuner="evolution", population_size=4)
    assert config.confirm == Confirmation(top=0)


def test_compress_shares_the_data_task_and_latency_parts():
    config = CompressConfig.from_arguments(
        {"model": "m.keras", "macs_ratio": 2.0, "batch_size": 16, "latency_threads": 2}
    )
    assert config.data == DataSource(batch_size=16) and config.latency == LatencySettings(threads=2)
    flat = config.arguments()
    assert flat["batch_size"] == 16 and flat["latency_threads"] == 2 and flat["macs_ratio"] == 2.0
    assert CompressConfig.from_arguments(flat) == config
