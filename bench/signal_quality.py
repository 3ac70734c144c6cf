"""Signal quality: can a search's trials tell architectures apart, or only seeds?

Usage: .venv/bin/python bench/signal_quality.py [--dataset fashion_mnist] [--train-size 5000]
           [--epochs 5] [--architectures 12] [--recipes cosine,constant]

Picks N architectures of the space spread evenly over its MAC range (no-bottleneck and the
cheapest included), trains each with seeds 0 and 1 under every recipe named, side by side in one
run, and prints per recipe: the mean and largest seed-to-seed difference of validation and test
accuracy, the Kendall tau between the two seeds' rankings of the architectures, and the spread of
the architectures' mean accuracies. `cosine` is the default recipe (warm-up, cosine decay to 0
from 2e-3, final epoch); `constant` is the recipe before it (Adam at a constant 1e-3, best epoch
read as the final one here). Fashion-MNIST comes from the Debian package dataset-fashion-mnist
(or the Keras cache). Timings are wall time on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RECIPES = {
    "cosine": {},
    "constant": {"schedule": "constant", "learning_rate": 1e-3},
}


def spread_over_macs(space, count: int, seed: int = 0):
    """`count` architectures at evenly spaced MAC quantiles of a large sample of the space."""
    import random

    rng = random.Random(seed)
    pool = {space.no_bottleneck(), space.cheapest()}
    pool |= {space.sample(rng) for _ in range(min(4000, 20 * space.size))}
    ordered = sorted(pool, key=lambda a: (a.macs, str(a.to_json())))
    picks = [ordered[round(i * (len(ordered) - 1) / (count - 1))] for i in range(count)]
    return list(dict.fromkeys(picks))


def kendall_tau(a, b) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="inception_mini")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--architectures", type=int, default=12)
    parser.add_argument("--recipes", default="cosine,constant")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from bottleneck_search import TrainingRecipe, load_dataset, train_architecture
    from bottleneck_search.space.catalog import load_search_space, space_input_shape

    space = load_search_space(args.space, None)
    train_size = args.train_size if args.train_size > 0 else None
    data = load_dataset(
        args.dataset, space_input_shape(space), args.batch_size, train_size=train_size
    )
    architectures = spread_over_macs(space, args.architectures)
    print(
        f"{args.space} on {args.dataset}: {data.sizes()} images, {args.epochs} epochs, batch "
        f"{args.batch_size}; {len(architectures)} architectures from "
        f"{architectures[0].macs:,} to {architectures[-1].macs:,} MACs; seeds 0 and 1",
        flush=True,
    )
    for name in args.recipes.split(","):
        recipe = TrainingRecipe(**RECIPES[name])
        results = {}
        started = time.monotonic()
        for architecture in architectures:
            for seed in (0, 1):
                run, _ = train_architecture(space, architecture, data, args.epochs, seed, recipe)
                results[architecture, seed] = run
        per_trial = (time.monotonic() - started) / len(results)
        print(f"\nrecipe {name}: {recipe.describe()}  ({per_trial:.0f} s per trial)")
        print(f"{'MACs':>12} {'val seed 0':>10} {'seed 1':>7} {'test seed 0':>11} {'seed 1':>7}")
        for architecture in architectures:
            a, b = results[architecture, 0], results[architecture, 1]
            print(
                f"{architecture.macs:>12,} {a.val_accuracy:>10.4f} {b.val_accuracy:>7.4f} "
                f"{a.test_accuracy:>11.4f} {b.test_accuracy:>7.4f}"
            )
        for split in ("val", "test"):
            first = [getattr(results[a, 0], f"{split}_accuracy") for a in architectures]
            second = [getattr(results[a, 1], f"{split}_accuracy") for a in architectures]
            gaps = [abs(x - y) * 100 for x, y in zip(first, second, strict=True)]
            means = [(x + y) / 2 for x, y in zip(first, second, strict=True)]
            print(
                f"{split:>4}: seed difference mean {statistics.mean(gaps):.2f} points, largest "
                f"{max(gaps):.2f}; Kendall tau between the seeds' rankings "
                f"{kendall_tau(first, second):+.2f}; architecture means "
                f"{min(means):.4f}-{max(means):.4f}"
            )


if __name__ == "__main__":
    main()
