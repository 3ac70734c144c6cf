"""Users' model patterns: the search path's training against plain Keras with the model's own
compile settings, on the same data, seed and epochs.

For each pattern a small CNN is written here (none copied): a logits head compiled with
`from_logits=True`, an uncompiled softmax head, a categorical (one-hot) loss, `Rescaling(1/255)`
in the model, `Normalization` of raw pixels in the model, and a frozen nested backbone. The
search path is `train_architecture` on the no-bottleneck architecture with the task read from
the model (`task_from_model`), fed as the run would feed it (input range, label form). Plain
Keras compiles the model with its own settings (the pattern's loss; Adam at the recipe's
learning rate, constant) and fits it on the data in the range and label form a user would give
it. Goal: the two within 1 point for every pattern. The `before` column trains the same model
the way the search path did before it read tasks (a probabilities loss on class indices, images
in [0, 1]), to show what reading the task changes.

    python bench/user_models.py [--dataset digits] [--epochs 6] [--seeds 0 1] [--train-size N]

Fashion-MNIST (`--dataset fashion_mnist`) needs Debian's `dataset-fashion-mnist` package (or the
Keras cache); `digits` is offline. Prints one row per pattern and seed, then means.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def patterns(keras, shape, classes):
    """`{name: (build, raw_pixels, compile_settings or None)}`."""
    layers = keras.layers

    def cnn(head=None, preprocessing=None, frozen_backbone=False):
        inputs = keras.Input(shape)
        x = preprocessing(inputs) if preprocessing is not None else inputs
        if frozen_backbone:
            inner = keras.Input(x.shape[1:])
            features = layers.Conv2D(16, 3, padding="same", activation="relu", name="bb")(inner)
            backbone = keras.Model(inner, features, name="backbone")
            backbone.trainable = False  # a (here untrained) frozen feature extractor
            x = backbone(x)
        x = layers.Conv2D(32, 3, padding="same", activation="relu", name="c1")(x)
        x = layers.Conv2D(32, 3, padding="same", activation="relu", name="c2")(x)
        x = layers.Flatten()(layers.MaxPooling2D()(x))
        return keras.Model(inputs, layers.Dense(classes, activation=head, name="head")(x))

    logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return {
        "logits, compiled from_logits": (lambda: cnn(), False, logits),
        "softmax, uncompiled": (lambda: cnn("softmax"), False, None),
        "one-hot labels (categorical)": (
            lambda: cnn("softmax"),
            False,
            "categorical_crossentropy",
        ),
        "Rescaling(1/255) in the model": (
            lambda: cnn("softmax", layers.Rescaling(1 / 255)),
            True,
            None,
        ),
        "Normalization of raw pixels": (
            lambda: cnn("softmax", layers.Normalization(mean=100.0, variance=80.0**2)),
            True,
            None,
        ),
        "frozen nested backbone": (lambda: cnn("softmax", frozen_backbone=True), False, None),
    }


def plain_keras(keras, build, loss, data, epochs, seed, learning_rate):
    keras.utils.set_random_seed(seed)
    model = build()
    loss = loss or "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=["accuracy"])
    if loss == "categorical_crossentropy":
        data = {
            part: getattr(data, part).map(lambda x, y: (x, keras.ops.one_hot(y, data.num_classes)))
            for part in ("train", "val")
        }
    else:
        data = {"train": data.train, "val": data.val}
    model.fit(data["train"], epochs=epochs, verbose=0, shuffle=False)
    return model.evaluate(data["val"], verbose=0, return_dict=True)["accuracy"]


def as_before(keras, build, loss, data_unit, epochs, seed):
    """What the search path did before tasks were read from models: a softmax classifier's loss
    on class indices, images in [0, 1], whatever the model."""
    from bottleneck_search import SearchSpace, train_architecture

    model = build()
    space = SearchSpace.from_model(model, widths=[8])
    run, _ = train_architecture(space, space.no_bottleneck(), data_unit, epochs, seed)
    return run.val_accuracy


def search_path(keras, build, loss, data_raw, data_unit, epochs, seed):
    from bottleneck_search import SearchSpace, train_architecture
    from bottleneck_search.training.fit import prepared
    from bottleneck_search.training.inference import task_from_model

    model = build()
    if loss is not None:
        model.compile("adam", loss, metrics=["accuracy"])
    task = task_from_model(model)  # the input range included, as a run reads it
    data = prepared(data_raw if task.input_range[1] == 255.0 else data_unit, task)
    space = SearchSpace.from_model(model, widths=[8])
    run, _ = train_architecture(space, space.no_bottleneck(), data, epochs, seed, task=task)
    return run.val_accuracy


def spread(values) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--size", type=int, default=16, help="image side the models take")
    args = parser.parse_args()

    import keras

    from bottleneck_search import TrainingRecipe, load_dataset

    shape = (args.size, args.size, 1)
    loaded = {
        raw: load_dataset(
            args.dataset,
            shape,
            batch_size=64,
            train_size=args.train_size,
            value_range=(0.0, 255.0) if raw else (0.0, 1.0),
        )
        for raw in (False, True)
    }
    rate = TrainingRecipe().learning_rate
    print(
        f"# {args.dataset} at {shape}, {loaded[False].train_size} train / {loaded[False].val_size} "
        f"validation images, {args.epochs} epochs, seeds {args.seeds}, validation accuracy; "
        f"plain Keras: Adam {rate:g} constant, search path: the recipe (warm-up, cosine)"
    )
    print(
        f"{'pattern':34} {'seed':>4} {'plain':>7} {'search':>7} {'diff':>7} {'before':>7} {'s':>5}"
    )
    summary = {}
    for name, (build, raw, loss) in patterns(keras, shape, loaded[False].num_classes).items():
        for seed in args.seeds:
            started = time.monotonic()
            keras.backend.clear_session()
            plain = plain_keras(keras, build, loss, loaded[raw], args.epochs, seed, rate)
            keras.backend.clear_session()
            ours = search_path(keras, build, loss, loaded[True], loaded[False], args.epochs, seed)
            keras.backend.clear_session()
            before = as_before(keras, build, loss, loaded[False], args.epochs, seed)
            summary.setdefault(name, []).append((plain, ours))
            print(
                f"{name:34} {seed:>4} {plain:7.4f} {ours:7.4f} {ours - plain:+7.4f} "
                f"{before:7.4f} {time.monotonic() - started:5.0f}",
                flush=True,
            )
    print("\n# means over seeds (± std across seeds)")
    for name, rows in summary.items():
        plain, ours = zip(*rows, strict=True)
        print(
            f"{name:34} plain {statistics.mean(plain):.4f} ± {spread(plain):.4f}  search "
            f"{statistics.mean(ours):.4f} ± {spread(ours):.4f}  diff "
            f"{statistics.mean(ours) - statistics.mean(plain):+.4f}"
        )


if __name__ == "__main__":
    main()
