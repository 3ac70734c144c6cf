"""What `--round-to` buys: the same reduction fractions rounded to multiples of 1, 8 and 16
channels, timed side by side on this machine.

Usage:
    python bench/round_to.py [--fraction 0.3] [--batch-size 1] [--repeats 21] [--rounds 3]

`keras.applications.VGG16(weights=None)` at 224x224 as a model space
(`SearchSpace.from_model(widths=[fraction], round_to=N)`), every site reduced to `fraction` of
its input channels, for N in 1, 8 and 16; the three models are timed in turn, in alternating
blocks of calls (`latency.measure.time_round_robin`, the N=8 model against each other), `--rounds`
times. Prints each model's MACs and median milliseconds per call with the 10-90% range, and the
time per GMAC, since rounding changes the MACs too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import keras

    from bottleneck_search.latency.measure import (
        device_name,
        inference_call,
        random_batch,
        time_round_robin,
    )
    from bottleneck_search.space.search_space import SearchSpace

    vgg = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3))
    models = {}
    for round_to in (1, 8, 16):
        space = SearchSpace.from_model(vgg, widths=[args.fraction], round_to=round_to)
        architecture = space.validate({site.name: site.widths[0] for site in space.sites})
        widths = sorted({w for _, w in architecture.decisions})
        models[round_to] = (space.build(architecture), architecture.macs, widths)
    print(
        f"VGG16 at 224, every site at {args.fraction} of its input channels; batch "
        f"{args.batch_size}; {device_name()}",
        flush=True,
    )
    batch = random_batch(models[8][0], args.batch_size)
    calls = {n: inference_call(m, batch, "keras", None) for n, (m, _, _) in models.items()}
    timings: dict[int, list[float]] = {n: [] for n in models}
    for _ in range(args.rounds):
        for other in (1, 16):
            eight, theirs = time_round_robin((calls[8], calls[other]), args.repeats, 3)
            timings[8] += eight
            timings[other] += theirs
    for n, (_, macs, widths) in models.items():
        seconds = timings[n]
        deciles = statistics.quantiles(seconds, n=10)
        median = 1000 * statistics.median(seconds)
        print(
            f"round_to {n:>2}: widths {widths}, {macs / 1e9:.3f} GMACs, {median:.2f} ms "
            f"({1000 * deciles[0]:.2f}-{1000 * deciles[-1]:.2f}, {len(seconds)} calls), "
            f"{median / (macs / 1e9):.2f} ms per GMAC",
            flush=True,
        )


if __name__ == "__main__":
    main()
