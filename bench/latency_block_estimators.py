"""Which statistic of a conv's timings makes a latency table entry that repeats.

Usage:
    python bench/latency_block_estimators.py [--repeats 9] [--rounds 8]

On VGG16 at 224x224 (`keras.applications.VGG16(weights=None)` as a model space), TensorFlow on
this machine, batch 1: for three sites and widths, times the site's conv alone against its
reduction followed by the conv (`latency.blocks`), side by side (`measure.time_round_robin`,
`--repeats` calls each), `--rounds` times in a row, and prints for each statistic the mean and
standard deviation of the entry (reduced minus alone) over the rounds, and its range: the
median of the calls, their 25th percentile, their minimum, and the median of the differences
of each block pair's means. The statistic whose entry moves least from round to round is the
one a table can trust from one round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENTRIES = (("block3_conv2", 64), ("block4_conv1", 128), ("block5_conv3", 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    import keras

    from bottleneck_search.latency.blocks import block_model, site_conv
    from bottleneck_search.latency.measure import (
        BLOCK,
        device_name,
        inference_call,
        random_batch,
        time_round_robin,
    )
    from bottleneck_search.space.search_space import SearchSpace

    space = SearchSpace.from_model(
        keras.applications.VGG16(weights=None, input_shape=(224, 224, 3))
    )
    base = space.build(space.no_bottleneck())
    sites = {site.name: site for site in space.sites}
    print(
        f"vgg16, batch 1, {device_name()}: {args.rounds} rounds of {args.repeats} calls of each "
        "side per entry; entry in ms, mean +- standard deviation over the rounds [range]"
    )
    for name, width in ENTRIES:
        site = sites[name]
        conv = site_conv(base, site)
        calls = []
        for chosen in (None, width):
            model = block_model(conv, site, space, 1, chosen)
            calls.append(inference_call(model, random_batch(model, 1), "keras", None))
        entries: dict[str, list[float]] = {"median": [], "25th percentile": [], "minimum": []}
        entries["median of block-pair differences"] = []
        alone_medians = []
        for _ in range(args.rounds):
            alone, reduced = (np.array(t) * 1e3 for t in time_round_robin(calls, args.repeats, 3))
            alone_medians.append(float(np.median(alone)))
            entries["median"].append(np.median(reduced) - np.median(alone))
            entries["25th percentile"].append(np.percentile(reduced, 25) - np.percentile(alone, 25))
            entries["minimum"].append(reduced.min() - alone.min())
            entries["median of block-pair differences"].append(
                statistics.median(
                    reduced[i : i + BLOCK].mean() - alone[i : i + BLOCK].mean()
                    for i in range(0, len(alone), BLOCK)
                )
            )
        print(
            f"{name} at {width}: the conv alone {min(alone_medians):.2f}-"
            f"{max(alone_medians):.2f} ms (medians of the rounds)"
        )
        for statistic, values in entries.items():
            print(
                f"  {statistic}: {np.mean(values):+.2f} +- {np.std(values):.2f} "
                f"[{min(values):+.2f}, {max(values):+.2f}]"
            )


if __name__ == "__main__":
    main()
