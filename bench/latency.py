"""How well a latency table predicts measured latency, and what a latency cost buys over MACs.

Usage:
    python bench/latency.py [--space googlenet|vgg16] [--batch-size 1] [--repeats 9]
        [--validate 40] [--fit 6] [--budgets 0.5,0.6,0.7] [--pool 2000] [--threads T]
        [--noise-calls 60]

For the space (`googlenet`: the shipped YAML space at 224x224; `vgg16`:
`keras.applications.VGG16(weights=None)` at 224x224 as a model space, `SearchSpace.from_model`
with its default widths), on this machine with the process' Keras backend
(TensorFlow unless `KERAS_BACKEND` says otherwise; `KERAS_BACKEND=jax` on a GPU times it there):

0. the machine's variance: `--noise-calls` calls of the base network in a row, their spread,
   and the spread of the median of R consecutive calls for several R (how many repeats a
   figure needs to be known to a given precision here);
1. builds the latency table (`build_latency_table`: every site and width timed on its conv
   alone, beside the conv without its reduction, and `--fit` whole architectures for the
   table's scale) and prints its cost against the issue's budget (the time of 3 network calls
   per entry);
2. validates it on `--validate` random architectures neither step used (`validate_table`):
   RMSPE and the share within +-10%, against the measured latency and with the machine's drift
   left out (the base timed beside each architecture), and how well MACs and the table each
   rank them by measured latency (Spearman's rho);
3. for each MAC budget (fractions of the no-bottleneck network's MACs), draws `--pool` random
   architectures, takes among those within the budget the one with the most MACs (what a
   MAC-only choice at that budget picks: it spends the budget) and the one with the least
   predicted latency among those within 2% of that MAC count, and times the two side by side
   (`--repeats` calls each, alternating blocks): whether the latency pick is faster beyond the
   spread of the timings. The latency pick is held to the MAC pick's MAC count (within 2%)
   because a pick with fewer MACs is faster for a reason a MAC count sees too; what is tested
   is what MACs cannot see. Then it times the latency pick beside the peer the table predicts
   slowest at that MAC count: the widest gap a latency cost can choose across there (if even
   that is within the spread, no cost could pick measurably faster at that budget).

Prints every figure; `--save PATH` also writes the validated table, every timing in it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="googlenet", choices=["googlenet", "vgg16"])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--validate", type=int, default=40)
    parser.add_argument("--fit", type=int, default=6)
    parser.add_argument("--budgets", default="0.5,0.6,0.7")
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--noise-calls", type=int, default=60)
    parser.add_argument("--save", help="also write the validated table (JSON) here")
    args = parser.parse_args()

    from bottleneck_search.latency.cache import save_table
    from bottleneck_search.latency.measure import (
        device_name,
        inference_call,
        random_batch,
        set_threads,
        time_round_robin,
    )
    from bottleneck_search.latency.table import build_latency_table
    from bottleneck_search.latency.validation import validate_table

    set_threads(args.threads)
    space = _space(args.space)
    print(
        f"{space.name}: {len(space.sites)} sites, "
        f"{sum(len(s.widths) for s in space.sites)} entries, base {space.no_bottleneck().macs:,} "
        f"MACs; batch {args.batch_size}, threads {args.threads or 'default'}, {device_name()}",
        flush=True,
    )
    _print_noise(space, args.batch_size, args.threads, args.noise_calls)
    table = build_latency_table(
        space,
        batch_size=args.batch_size,
        threads=args.threads,
        repeats=args.repeats,
        fit=args.fit,
        on_progress=lambda line: print(line, flush=True),
    )
    entries = sum(len(s.widths) for s in space.sites)
    budget = 3 * entries * table.base_us / 1e6
    in_network = table.network_calls * table.base_us / 1e6
    print(
        f"table built in {table.seconds:.1f} s = {table.seconds / budget:.2f}x the goal's budget, "
        f"the time of 3 x sites x widths = {3 * entries} network calls ({budget:.1f} s at the "
        f"base's median); of it about {in_network:.1f} s in {table.network_calls} network calls "
        f"(the base alone, then in turn with {args.fit} fitted architectures, warm-up "
        f"included) and {table.seconds - in_network:.1f} s for {table.block_calls} calls of "
        "single convs and every build",
        flush=True,
    )
    table = validate_table(
        table, space, args.validate, on_progress=lambda line: print(line, flush=True)
    )
    print(table.describe(), flush=True)
    if args.save:
        save_table(table, args.save)
    rows = table.validation["rows"]
    errors = [r["predicted_us"] / r["measured_us"] - 1 for r in rows]
    print(
        f"prediction errors: mean {100 * statistics.mean(errors):+.1f}%, range "
        f"{100 * min(errors):+.1f}% to {100 * max(errors):+.1f}%; base timings "
        f"{min(table.base_timings_us) / 1000:.2f}-{max(table.base_timings_us) / 1000:.2f} ms "
        f"during the build, {min(r['base_us'] for r in rows) / 1000:.2f}-"
        f"{max(r['base_us'] for r in rows) / 1000:.2f} ms during validation",
        flush=True,
    )
    print(_rank_agreement(rows), flush=True)

    timed = space.with_latency(table)
    rng = random.Random(7)
    pool = {a.decisions: a for a in (timed.sample(rng) for _ in range(args.pool))}.values()
    base_macs = space.no_bottleneck().macs
    batch = None
    for fraction in (float(f) for f in args.budgets.split(",")):
        budget = fraction * base_macs
        within = [a for a in pool if a.macs <= budget]
        if not within:
            print(f"budget {fraction:.2f}: no architecture of the pool within it")
            continue
        by_macs = max(within, key=lambda a: a.macs)
        peers = [a for a in within if a.macs >= 0.98 * by_macs.macs]
        by_latency = min(peers, key=lambda a: a.latency_us)
        slowest = max(peers, key=lambda a: a.latency_us)
        models = {a.decisions: space.build(a) for a in (by_macs, by_latency, slowest)}
        batch = batch or random_batch(models[by_macs.decisions], args.batch_size)
        print(
            f"budget {fraction:.2f} x base ({budget / 1e9:.2f}G MACs), {len(peers)} "
            f"architectures of the pool within 2% of the MAC-only pick's MACs:",
            flush=True,
        )
        for label, other in (("MAC-only pick", by_macs), ("slowest predicted peer", slowest)):
            other_times, latency_times = time_round_robin(
                (
                    inference_call(models[other.decisions], batch, "keras", args.threads),
                    inference_call(models[by_latency.decisions], batch, "keras", args.threads),
                ),
                max(args.repeats, 15),
                3,
            )
            print(
                f"  {label} {_timed(other, other_times)}; latency pick "
                f"{_timed(by_latency, latency_times)}: "
                f"{statistics.median(other_times) / statistics.median(latency_times):.2f}x "
                f"faster, {'beyond' if _beyond(latency_times, other_times) else 'NOT beyond'} "
                f"the 10-90% spreads",
                flush=True,
            )
        del models


def _timed(architecture, seconds: list[float]) -> str:
    """`2.207G MACs, predicted 37.64 ms, measured 37.80 ms (30.40-43.66)`."""
    deciles = statistics.quantiles(seconds, n=10)
    return (
        f"{architecture.macs / 1e9:.3f}G MACs, predicted {architecture.latency_us / 1000:.2f} ms, "
        f"measured {1000 * statistics.median(seconds):.2f} ms "
        f"({1000 * deciles[0]:.2f}-{1000 * deciles[-1]:.2f})"
    )


def _rank_agreement(rows: list[dict]) -> str:
    """How well MACs and the table each rank the validation rows by measured latency (Spearman's
    rho: what a search's ranking needs, whatever the absolute error)."""
    from scipy.stats import spearmanr

    measured = [r["measured_us"] for r in rows]
    by_macs = spearmanr([r["macs"] for r in rows], measured).statistic
    by_table = spearmanr([r["predicted_us"] for r in rows], measured).statistic
    return (
        f"rank agreement with measured latency over the {len(rows)} rows (Spearman): "
        f"MACs {by_macs:.3f}, the table {by_table:.3f}"
    )


def _beyond(faster: list[float], slower: list[float]) -> bool:
    """Whether the 90th percentile of `faster` is below the 10th of `slower`."""
    return statistics.quantiles(faster, n=10)[-1] < statistics.quantiles(slower, n=10)[0]


def _print_noise(space, batch_size: int, threads, calls: int) -> None:
    """Times the base network `calls` times in a row; prints the spread of single calls and of
    medians of R consecutive calls (the coefficient of variation over the run's blocks)."""
    from bottleneck_search.latency.measure import inference_call, random_batch, time_calls

    model = space.build(space.no_bottleneck())
    call = inference_call(model, random_batch(model, batch_size), "keras", threads)
    seconds = time_calls(call, calls, 3)
    deciles = statistics.quantiles(seconds, n=10)
    low, high = deciles[0], deciles[-1]
    median = statistics.median(seconds)
    parts = []
    for repeats in (1, 3, 5, 9, 15):
        blocks = [
            statistics.median(seconds[i : i + repeats])
            for i in range(0, calls - repeats + 1, repeats)
        ]
        if len(blocks) >= 3:
            parts.append(
                f"R={repeats}: {100 * statistics.stdev(blocks) / statistics.mean(blocks):.1f}% "
                f"({len(blocks)} blocks)"
            )
    print(
        f"machine variance: base {1000 * median:.2f} ms median of {calls} calls in a row, "
        f"10-90% {1000 * low:.2f}-{1000 * high:.2f} ms; coefficient of variation of the median "
        f"of R calls: {', '.join(parts)}",
        flush=True,
    )
    del model, call


def _space(name: str):
    from bottleneck_search.space.search_space import SearchSpace

    if name == "googlenet":
        return SearchSpace.from_yaml(ROOT / "search_spaces" / "googlenet.yaml")
    import keras

    return SearchSpace.from_model(keras.applications.VGG16(weights=None, input_shape=(224, 224, 3)))


if __name__ == "__main__":
    main()
