"""Search quality: the default search against the reference and no-bottleneck architectures.

Usage: .venv/bin/python bench/search_quality.py [--trials 10] [--epochs 4] [--seeds 0]
Runs the default search (inception_mini on digits), then trains the space's no-bottleneck and
reference architectures the same way (same epochs, data and seed), and prints the Pareto front
with each point's MAC ratio to no-bottleneck. Goal: a Pareto point with at least 3x fewer MACs than
no-bottleneck at no more than 1 point less validation accuracy.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def train(space, architecture, data, epochs: int, seed: int) -> float:
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = space.build(architecture)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(data.train, validation_data=data.val, epochs=epochs, verbose=0)
    return max(history.history["val_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from bottleneck_search import SearchConfig, load_dataset, pareto_front, run_search

    run_dir = os.path.join(tempfile.mkdtemp(prefix="bench-quality-"), "run")
    result = run_search(
        SearchConfig(max_trials=args.trials, epochs=args.epochs, seed=args.seed, run_dir=run_dir)
    )
    space = result.space
    data = load_dataset("digits", tuple(space.source["input_shape"]), seed=args.seed)
    base = space.no_bottleneck()
    base_accuracy = train(space, base, data, args.epochs, args.seed)
    reference_accuracy = train(space, space.reference, data, args.epochs, args.seed)

    print(f"default search: {args.trials} trials x {args.epochs} epochs, seed {args.seed}")
    print(f"{'architecture':<28}{'MACs':>12}{'x fewer':>9}{'val_acc':>9}{'vs base':>9}")
    print(f"{'no bottleneck':<28}{base.macs:>12,}{1.0:>9.2f}{base_accuracy:>9.3f}{0.0:>+9.3f}")
    ref = space.reference
    print(
        f"{'reference':<28}{ref.macs:>12,}{base.macs / ref.macs:>9.2f}{reference_accuracy:>9.3f}{reference_accuracy - base_accuracy:>+9.3f}"
    )
    qualifying = []
    for record in pareto_front(result.records):
        ratio = base.macs / record.macs
        delta = record.val_accuracy - base_accuracy
        print(
            f"{'pareto trial ' + record.trial_id:<28}{record.macs:>12,}{ratio:>9.2f}{record.val_accuracy:>9.3f}{delta:>+9.3f}"
        )
        if delta >= -0.01:
            qualifying.append((ratio, record))
    if qualifying:
        ratio, record = max(qualifying, key=lambda item: item[0])
        print(
            f"best Pareto point within 1 point of no-bottleneck: trial {record.trial_id}, {ratio:.2f}x fewer MACs"
        )
    else:
        print("no Pareto point within 1 point of no-bottleneck accuracy")


if __name__ == "__main__":
    main()
