"""What the cost per reduction changes, refitted on saved tables' own timings (no timing done).

Usage:
    python bench/latency_terms.py TABLE.json [TABLE.json ...]

For each table saved by `bench/latency.py --save` (version 5 or 6: its fitted architectures,
their timings and its validation rows are in it), fits `scale` alone (version 5's model,
`latency.fit.fit_scale`) and what `fit_terms` chooses (the cost per reduction added where
leaving each fitted architecture out in turn says it is needed) to the same fitted
architectures, and scores both on the validation rows, architectures the build never timed, as
`validate_table` does: RMSPE and the share within +-10%, against the measured latency and with
the machine's drift left out, and how well each ranks the rows by measured latency (Spearman's
rho) beside MACs; and how much slower or faster than the base the rows ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scipy.stats import spearmanr  # noqa: E402

from bottleneck_search.latency.fit import fit_inputs, fit_scale, fit_terms  # noqa: E402
from bottleneck_search.latency.table import LatencyTable  # noqa: E402
from bottleneck_search.latency.validation import drift_left_out, error_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+")
    args = parser.parse_args()
    for path in args.tables:
        data = json.loads(Path(path).read_text())
        table, version = LatencyTable.from_config(data, source=path), data["version"]
        settings = table.settings
        rows = table.validation["rows"]
        measured = [r["measured_us"] for r in rows]
        ratios = [r["measured_us"] / r["base_us"] for r in rows]
        print(
            f"{Path(path).name}: '{table.space}' at batch {settings['batch_size']}, "
            f"{settings['backend']} on {settings['device']}, table version {version} (saved with "
            f"scale {table.scale:.3f}, {table.per_reduction_us:+.0f} us per reduction); "
            f"{len(table.fit_points)} fitted "
            f"architectures, {len(rows)} validation rows; MACs rank them "
            f"{spearmanr([r['macs'] for r in rows], measured).statistic:+.3f}; each ran "
            f"{statistics.mean(ratios):.3f}x (sd {statistics.stdev(ratios):.3f}) the base timed "
            "beside it"
        )
        points = fit_inputs(table.fitted, table.fit_points)
        fits = {"scale alone": (fit_scale(points), 0.0), "fit_terms": fit_terms(points)}
        for name, (scale, per_reduction) in fits.items():
            refitted = dataclasses.replace(table, scale=scale, per_reduction_us=per_reduction)
            predicted = [refitted.predict_us(r["architecture"]) for r in rows]
            scored = [{**r, "predicted_us": p} for r, p in zip(rows, predicted, strict=True)]
            plain = error_summary([p / m - 1 for p, m in zip(predicted, measured, strict=True)], "")
            paired = error_summary([drift_left_out(refitted, r) for r in scored], "")
            rho = (
                spearmanr(predicted, measured).statistic
                if max(predicted) > min(predicted)
                else float("nan")
            )
            print(
                f"  {name:11s} scale {scale:.3f}, {per_reduction:+5.0f} us per reduction: RMSPE "
                f"{100 * plain['rmspe']:4.1f}%, {100 * plain['within']:3.0f}% within +-10%; drift "
                f"left out {100 * paired['rmspe']:4.1f}%, {100 * paired['within']:3.0f}%; ranks "
                f"the rows {rho:+.3f}"
            )


if __name__ == "__main__":
    main()
