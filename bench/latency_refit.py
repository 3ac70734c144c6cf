"""Which trend model predicts unseen architectures best, refitted on a saved table's own timings.

Usage:
    python bench/latency_refit.py TABLE.json [TABLE.json ...]

For each table saved by `bench/latency.py --save` (every single-site change, whole-architecture
fit point and validation row is in it), fits the trend `us_per_mac * M + us_per_element * E +
per_reduction * n` with each subset of its terms by least squares on the build's timings, and
scores each fit, as `validate_table` does, on the table's validation rows (architectures the
build never timed): RMSPE and the share within +-10%, plain and with the machine's drift left
out. No timing is done: the same timings, several models. The element term (E, the elements per
example of the tensors the reductions add) needs `tensor_elements` in the table, which only the
tables of the element-term trial have (`bench/results/latency_table_*_element_term.json`);
for the others the subsets with it are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bottleneck_search.latency.validation import error_summary  # noqa: E402

TERMS = {"macs": 0, "elements": 1, "reductions": 2}
MODELS = (
    ("macs", "reductions"),
    ("macs",),
    ("reductions",),
    ("macs", "elements", "reductions"),
    ("macs", "elements"),
    ("elements", "reductions"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+")
    args = parser.parse_args()
    for path in args.tables:
        with open(path, encoding="utf-8") as file:
            table = json.load(file)
        has_elements = bool(table.get("tensor_elements"))
        features, changes = _build_points(table)
        print(
            f"{path}: {table['space']}, batch {table['settings']['batch_size']}, "
            f"{len(changes)} timings, {len(table['validation']['rows'])} validation rows"
        )
        for model in MODELS:
            if "elements" in model and not has_elements:
                continue
            columns = [TERMS[term] for term in model]
            coefficients = np.zeros(3)
            coefficients[columns] = np.linalg.lstsq(features[:, columns], changes, rcond=None)[0]
            print(
                f"  {' + '.join(model):28s} {coefficients[0] * 1e6:8.3f} ms/GMAC "
                f"{coefficients[1] * 1e3:8.3f} ms/M elements {coefficients[2] / 1e3:+7.3f} ms/reduction"
                f" -> {_score(table, coefficients)}"
            )


def _build_points(table) -> tuple[np.ndarray, np.ndarray]:
    """`(M, E, n)` per timing of the build and its measured change, microseconds."""
    elements = table.get("tensor_elements", {})
    rows, changes = [], []
    for site, widths in table["changes"].items():
        for width, change in widths.items():
            rows.append(
                (table["macs_changes"][site][width], elements.get(site, {}).get(width, 0), 1)
            )
            changes.append(change)
    for point in table["fit_points"]:
        macs, added, reductions, change = point if len(point) == 4 else (point[0], 0, *point[1:])
        rows.append((macs, added, reductions))
        changes.append(change)
    return np.array(rows, dtype=float), np.array(changes, dtype=float)


def _score(table, coefficients) -> str:
    macs, elements = table["macs_changes"], table.get("tensor_elements", {})
    plain, paired = [], []
    for row in table["validation"]["rows"]:
        change = sum(
            coefficients @ (macs[s][str(w)], elements.get(s, {}).get(str(w), 0), 1)
            for s, w in row["architecture"].items()
            if w is not None
        )
        plain.append((table["base_us"] + change) / row["measured_us"] - 1)
        paired.append((row["base_us"] + change) / row["measured_us"] - 1)
    return f"{_summary(plain)}; drift left out {_summary(paired)}"


def _summary(errors: list[float]) -> str:
    figures = error_summary(errors, "")
    return f"RMSPE {100 * figures['rmspe']:.1f}%, {100 * figures['within']:.0f}% within +-10%"


if __name__ == "__main__":
    main()
