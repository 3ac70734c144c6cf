"""CostPenalty: each mode's formula on hand-picked numbers."""

import pytest

from bottleneck_search import CostPenalty, SearchConfigError


@pytest.mark.parametrize(
    "penalty, accuracy, macs, expected",
    [
        (CostPenalty("soft", 100), 0.9, 100, 0.9),  # at the target: no penalty
        (CostPenalty("soft", 100), 0.9, 200, 0.9 * 2**-0.07),
        (CostPenalty("soft", 100), 0.9, 50, 0.9 * 0.5**-0.07),  # cheaper: a bonus
        (CostPenalty("hard", 100), 0.9, 50, 0.9),  # below the target: plain accuracy
        (CostPenalty("hard", 100), 0.9, 200, 0.45),  # above: acc * 2 ** -1
        (CostPenalty("linear", 100), 0.9, 200, 0.9 - 0.1 * 2),
        (CostPenalty("linear", 100, weight=0.5), 0.8, 50, 0.8 - 0.25),
        (CostPenalty("soft", 100, weight=-0.5), 0.8, 400, 0.4),
    ],
)
def test_score(penalty, accuracy, macs, expected):
    assert penalty.score(accuracy, macs) == pytest.approx(expected)


def test_floor_is_below_every_trained_score():
    penalty = CostPenalty("linear", 100)
    worst_trained = penalty.score(0.0, 1_000)
    assert penalty.floor(1_000) < worst_trained


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"mode": "cubic"},
            "`mode` must be one of 'soft', 'hard', 'linear'. Received: mode='cubic'",
        ),
        ({"target_macs": 0}, "`target_macs` must be a positive number. Received: target_macs=0."),
        ({"weight": float("nan")}, "`weight` must be a finite number. Received: weight=nan."),
    ],
)
def test_bad_penalties(kwargs, message):
    with pytest.raises(SearchConfigError, match=message):
        CostPenalty(**kwargs)


def test_score_needs_a_target():
    with pytest.raises(SearchConfigError, match="resolve"):
        CostPenalty().score(0.5, 10)
