"""The one check per kind of argument (`argument_validation`): what each accepts, what it refuses
and the message, and that the package's public objects use it (the values a hand-written check
had let through: an infinite budget, a boolean for a number)."""

import math

import pytest

from bottleneck_search import (
    CompressConfig,
    CostPenalty,
    Distribution,
    Proposer,
    SearchConfig,
    SearchObjective,
    SpaceSource,
    TrainerProcesses,
    TrainingRecipe,
)
from bottleneck_search.argument_validation import (
    check_choice,
    check_count,
    check_flag,
    check_number,
)
from bottleneck_search.errors import LatencyError, SearchConfigError


@pytest.mark.parametrize(
    "value, kwargs, returned",
    [(3, {}, 3), (0, {"least": 0}, 0), (7, {"least": 2, "most": 7}, 7)],
)
def test_a_count_in_range_is_returned_as_an_int(value, kwargs, returned):
    result = check_count("n", value, **kwargs)
    assert result == returned and type(result) is int


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (0, {}, "`n` must be a positive integer. Received: n=0."),
        (True, {}, "`n` must be a positive integer. Received: n=True."),
        (2.0, {}, "`n` must be a positive integer. Received: n=2.0."),
        (-1, {"least": 0}, "`n` must be 0 or a positive integer. Received: n=-1."),
        (1, {"least": 2}, "`n` must be an integer of at least 2. Received: n=1."),
        (9, {"most": 8}, "`n` must be an integer from 1 to 8. Received: n=9."),
        ("3", {"unit": "MiB"}, "`n` must be a positive integer (MiB). Received: n='3'."),
        (0, {"hint": "0 is none."}, "`n` must be a positive integer. 0 is none. Received: n=0."),
    ],
)
def test_a_bad_count_names_the_argument_and_the_value(value, kwargs, message):
    with pytest.raises(SearchConfigError) as caught:
        check_count("n", value, **kwargs)
    assert str(caught.value) == message and caught.value.argument == "n"


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (0, {}, "`x` must be a positive number. Received: x=0."),
        (math.inf, {}, "`x` must be a positive number. Received: x=inf."),
        (math.nan, {"above": None}, "`x` must be a finite number. Received: x=nan."),
        (True, {}, "`x` must be a positive number. Received: x=True."),
        ("1", {}, "`x` must be a positive number. Received: x='1'."),
        (1, {"above": 1}, "`x` must be a finite number above 1. Received: x=1."),
        (
            1.0,
            {"above": None, "at_least": 0, "below": 1},
            "`x` must be a finite number at least 0 and below 1. Received: x=1.0.",
        ),
        (-2, {"unit": "seconds"}, "`x` must be a positive number of seconds. Received: x=-2."),
    ],
)
def test_a_bad_number_names_the_argument_and_the_value(value, kwargs, message):
    with pytest.raises(SearchConfigError) as caught:
        check_number("x", value, **kwargs)
    assert str(caught.value) == message


def test_choices_flags_and_the_error_type():
    assert check_number("x", 3) == 3.0 and check_choice("c", "a", ("a", "b")) == "a"
    with pytest.raises(LatencyError, match=r"^`c` must be one of 'a', 'b'. Received: c='z'.$"):
        check_choice("c", "z", ("a", "b"), error=LatencyError)
    assert check_flag("f", False) is False
    with pytest.raises(SearchConfigError, match="`f` must be True or False. Received: f='yes'."):
        check_flag("f", "yes")


@pytest.mark.parametrize(
    "make, argument",
    [
        # Values the hand-written checks had accepted.
        (lambda: SearchObjective(max_latency=True), "max_latency"),
        (lambda: SearchObjective(target_macs=-5), "target_macs"),
        (lambda: SearchObjective(max_macs=1.5), "max_macs"),
        (lambda: SpaceSource(warm_start="no", model="m.keras"), "warm_start"),
        (lambda: CompressConfig(model="m.keras", max_latency=math.inf), "max_latency"),
        (lambda: CompressConfig(model="m.keras", macs_ratio=math.inf), "macs_ratio"),
        (
            lambda: CompressConfig(model="m.keras", macs_ratio=2, learning_rate=math.inf),
            "learning_rate",
        ),
        (lambda: CompressConfig(model="m.keras", macs_ratio=2, max_macs=10), "macs_ratio"),
        (lambda: Distribution(worker_timeout=math.inf), "worker_timeout"),
        (lambda: Proposer(tuner="annealing"), "tuner"),
        (lambda: SearchConfig(space=SpaceSource("x.yaml"), seed=0, resume=1), "resume"),
        (
            lambda: SearchConfig(
                proposer=Proposer(strategy="oneshot"), trainers=TrainerProcesses(4)
            ),
            "trials_per_process",
        ),
    ],
)
def test_every_config_refuses_through_the_one_check(make, argument):
    with pytest.raises(SearchConfigError) as caught:
        make()
    assert caught.value.argument == argument
    assert "--" not in str(caught.value)  # Python callers are told Python names, not flags


def test_public_objects_check_their_own_arguments_when_made():
    with pytest.raises(SearchConfigError) as caught:
        TrainingRecipe(learning_rate=math.inf)
    assert caught.value.argument == "learning_rate"
    with pytest.raises(SearchConfigError) as caught:
        CostPenalty(target_latency_us=True, cost="latency")
    assert caught.value.argument == "target_latency_us"


def test_the_cli_names_the_flag_the_user_typed(capsys):
    from bottleneck_search.cli import main

    assert main(["search", "--max-trials", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "bottleneck-search search: error: argument --max-trials: `max_trials` must be a "
        "positive integer. Received: max_trials=0."
    )
