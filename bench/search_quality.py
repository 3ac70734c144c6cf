"""Search quality: the default search, confirmed, against no bottleneck and the reference widths.

Usage: .venv/bin/python bench/search_quality.py [--dataset fashion_mnist] [--train-size 10000]
           [--trials 10] [--epochs 6] [--confirm 3] [--seeds 3] [--penalty soft]
           [--target-macs N] [--max-macs N] [--run-dir DIR]

Runs the search job exactly as `bottleneck-search search` does (default recipe, then the
confirmation stage, which retrains the best front points, the no-bottleneck and the reference
architectures from scratch with several seeds each), and prints every confirmed architecture's
MAC ratio to no bottleneck and its validation and test accuracy differences to no bottleneck, mean
± standard deviation over the seeds, with the seed noise the run measured. Goal: an architecture
with at least 3x fewer MACs than no bottleneck whose confirmed mean test accuracy is no more than
1 point below no bottleneck's. Fashion-MNIST comes from the Debian package dataset-fashion-mnist
(or the Keras cache). Timings are wall time on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--confirm", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--penalty", default="soft")
    parser.add_argument("--target-macs", type=int, help="the penalty's target (default: reference)")
    parser.add_argument("--max-macs", type=int, help="hard budget: never train above it")
    parser.add_argument("--run-dir")
    args = parser.parse_args()

    from bottleneck_search import (
        Confirmation,
        DataSource,
        Proposer,
        SearchConfig,
        SearchObjective,
        TrialTraining,
        run_search,
    )
    from bottleneck_search.results.confirmed import summarise

    run_dir = args.run_dir or os.path.join(tempfile.mkdtemp(prefix="bench-quality-"), "run")
    started = time.monotonic()
    result = run_search(
        SearchConfig(
            data=DataSource(args.dataset, train_size=args.train_size or None),
            proposer=Proposer(max_trials=args.trials),
            training=TrialTraining(epochs=args.epochs),
            objective=SearchObjective(args.penalty, args.target_macs, args.max_macs),
            confirm=Confirmation(args.confirm, args.seeds),
            seed=args.seed,
            run_dir=run_dir,
        ),
        on_progress=print,
    )
    minutes = (time.monotonic() - started) / 60
    confirmation = summarise(list(result.confirmations))
    base = confirmation.baseline
    print(
        f"\n{args.dataset} (train size {args.train_size or 'all'}), {args.trials} trials x "
        f"{args.epochs} epochs, {args.penalty} penalty (target {args.target_macs or 'reference'}), "
        f"max MACs {args.max_macs or 'none'}, "
        f"confirmation {args.confirm} x {args.seeds} seeds, seed {args.seed}: {minutes:.0f} min; "
        f"run {run_dir}"
    )
    print(
        f"noise margin on a difference of two {args.seeds}-seed validation means: "
        f"{confirmation.margin * 100:.2f} points"
    )
    print(
        f"{'confirmed as':<26}{'MACs':>12}{'x fewer':>9}{'val mean':>10}{'± std':>8}"
        f"{'test mean':>11}{'± std':>8}{'test vs base':>14}"
    )
    qualifying = []
    for row in confirmation.rows:
        ratio = base.macs / row.macs
        delta = (row.test_mean - base.test_mean) * 100
        print(
            f"{', '.join(row.labels):<26}{row.macs:>12,}{ratio:>9.2f}{row.val_mean:>10.4f}"
            f"{row.val_std:>8.4f}{row.test_mean:>11.4f}{row.test_std:>8.4f}{delta:>+13.2f}p"
        )
        if ratio >= 3 and delta >= -1:
            qualifying.append((ratio, row))
    print("\n" + "\n".join(confirmation.sentences()))
    if qualifying:
        ratio, row = max(qualifying, key=lambda item: item[0])
        print(
            f"goal met: {', '.join(row.labels)} at {ratio:.2f}x fewer MACs, test "
            f"{(row.test_mean - base.test_mean) * 100:+.2f} points against no bottleneck"
        )
    else:
        print("goal not met: no confirmed architecture with >= 3x fewer MACs within 1 test point")


if __name__ == "__main__":
    main()
