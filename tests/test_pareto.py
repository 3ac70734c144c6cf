"""pareto_front on hand-made trial sets."""

import pytest
from conftest import make_record as trial

from bottleneck_search import pareto_front


@pytest.mark.parametrize(
    "records, expected",
    [
        # b is dominated by a (more MACs, less accuracy); c is more accurate for more MACs
        ([trial("a", 100, 0.9), trial("b", 200, 0.8), trial("c", 300, 0.95)], ["a", "c"]),
        # equal MACs: only the more accurate; equal accuracy: only the cheaper
        ([trial("a", 100, 0.9), trial("b", 100, 0.92), trial("c", 150, 0.92)], ["b"]),
        # exact ties (same MACs and accuracy): the first one is kept
        ([trial("a", 100, 0.9), trial("b", 100, 0.9)], ["a"]),
        # failed and infeasible trials never count, however cheap
        (
            [
                trial("f", 10, 0.0, "FAILED"),
                trial("i", 20, 0.0, "INFEASIBLE"),
                trial("a", 100, 0.5),
            ],
            ["a"],
        ),
        ([trial("only", 100, 0.7)], ["only"]),
        ([], []),
        # sorted by MACs, accuracy strictly rising along the front
        (
            [
                trial("d", 400, 0.99),
                trial("a", 100, 0.6),
                trial("c", 300, 0.95),
                trial("b", 200, 0.9),
            ],
            ["a", "b", "c", "d"],
        ),
    ],
)
def test_pareto_front(records, expected):
    assert [r.trial_id for r in pareto_front(records)] == expected
