"""`search --model --warm-start`: what starting architectures from a trained model's weights buys.

A small CNN is trained with plain Keras (its own compile settings), then architectures of its
space at several reduction widths are trained by the search path (`train_architecture`, the
recipe a search's trials use) for `--epochs` epochs from three starts: from scratch (the default
of `search --model`), the data-free low-rank warm start (kernel SVD, what `--warm-start` was
before it was fitted on the data), and the data-aware one (`--warm-start` now, compress' `output`
factorisation on the first training batches). Printed: validation accuracy per start, width
and seed, then means with their spread; and the accuracy of each warm start before any training.

    python bench/warm_start.py [--dataset fashion_mnist] [--train-size 4000] [--epochs 1] [--seeds 0 1]

Fashion-MNIST needs Debian's `dataset-fashion-mnist` package (or the Keras cache); `digits` is
offline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def trained_model(keras, data, shape, classes, epochs):
    layers = keras.layers
    inputs = keras.Input(shape)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="c1")(inputs)
    x = layers.Conv2D(48, 3, padding="same", activation="relu", name="c2")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="c3")(x)
    x = layers.Flatten()(layers.MaxPooling2D()(x))
    model = keras.Model(inputs, layers.Dense(classes, activation="softmax", name="head")(x))
    model.compile(
        keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.train, epochs=epochs, verbose=0)
    return model, model.evaluate(data.val, verbose=0, return_dict=True)["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    import keras

    from bottleneck_search import SearchSpace, load_dataset, train_architecture
    from bottleneck_search.recipe import TrainingRecipe
    from bottleneck_search.training import Task

    shape, classes = (28, 28, 1), 10
    data = load_dataset(args.dataset, shape, 64, train_size=args.train_size)
    keras.utils.set_random_seed(0)
    model, trained = trained_model(keras, data, shape, classes, args.pretrain_epochs)
    print(
        f"# {args.dataset} at {shape}, {data.train_size} train / {data.val_size} validation, "
        f"TensorFlow on {os.cpu_count()} CPU cores; trained model ({args.pretrain_epochs} epochs, "
        f"plain Keras): validation accuracy {trained:.4f}; each start then trained "
        f"{args.epochs} epoch(s) by the search path (recipe defaults), seeds {args.seeds}"
    )
    calibration = data.train
    spaces = {
        "scratch": SearchSpace.from_model(model, widths=args.fractions),
        "svd": SearchSpace.from_model(model, widths=args.fractions, init="lowrank"),
        "data-aware": SearchSpace.from_model(
            model, widths=args.fractions, init="lowrank", init_data=calibration
        ),
    }
    task, recipe = Task(), TrainingRecipe()
    results: dict[tuple[str, float], list[float]] = {}
    print(
        f"{'start':<11} {'fraction':>8} {'MACs':>11} {'seed':>4} {'before':>7} {'after':>7} {'s':>5}"
    )
    for fraction in args.fractions:
        for start, space in spaces.items():
            widths = {}
            for site in space.sites:
                wanted = round(fraction * site.in_channels)
                widths[site.name] = min(site.widths, key=lambda w: abs(w - wanted))
            architecture = space.validate(widths)
            built = space.build(architecture)
            built.compile(loss=task.new_loss(), metrics=task.new_metrics())
            before = built.evaluate(data.val, verbose=0, return_dict=True)["accuracy"]
            for seed in args.seeds:
                keras.backend.clear_session()
                started = time.monotonic()
                run, _ = train_architecture(space, architecture, data, args.epochs, seed, recipe)
                results.setdefault((start, fraction), []).append(run.val_accuracy)
                print(
                    f"{start:<11} {fraction:>8} {architecture.macs:>11,} {seed:>4} {before:>7.4f} "
                    f"{run.val_accuracy:>7.4f} {time.monotonic() - started:>5.0f}",
                    flush=True,
                )
    print("\nmean ± std over seeds (validation accuracy after training)")
    for (start, fraction), values in results.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{start:<11} {fraction:>8}  {statistics.mean(values):.4f} ± {spread:.4f}  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
