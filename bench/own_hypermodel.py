"""A Keras Tuner user's own build(hp), searched three ways: a stock RandomSearch with the
`CostMetrics` callback, `make_tuner("random", build)` (our hypermodel over the same function), and
the whole search job on it (`run_search` with `SpaceSource(hypermodel="bench/own_hypermodel.py:build")`,
what `bottleneck-search search --hypermodel bench/own_hypermodel.py:build` runs).

Usage: .venv/bin/python bench/own_hypermodel.py [--trials 10] [--train-size 6000] [--seed 1]
Data: Fashion-MNIST from Debian's `dataset-fashion-mnist` (apt-get install -y
dataset-fashion-mnist), 28x28x1, `--train-size` training images, 1 epoch a trial.

Prints, per trial of each way: its hyperparameters' sites, the MACs recorded in the trial (the
callback's count, or the hypermodel's), `count_flops` of the model rebuilt from the same
hyperparameters, the scores; then the counting overhead (`count_flops` per model) as a share of a
trial's wall time (goal: under 2%), and what a rejection under a hard `max_macs` costs (build and
count, in milliseconds). All ways use the same oracle seed, so they propose the same
hyperparameters; their accuracies differ by training noise only (the job draws its own
validation split from the same training images, with the same seed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build(hp):
    """keras.io's "Getting started with KerasTuner" conv net, two of its convs as sites."""
    import keras

    from bottleneck_search import bottleneck_conv

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(hp.Int("filters", 32, 64, step=32), 3, activation="relu")(inputs)
    x = bottleneck_conv(hp, x, 64, 3, name="conv2", widths=[8, 16], activation="relu")
    x = keras.layers.MaxPooling2D()(x)
    x = bottleneck_conv(hp, x, 64, 3, name="conv3", widths=[8, 16], activation="relu")
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.4, step=0.2))(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(
        keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def sites(values: dict) -> str:
    return " ".join(
        f"{site}:{values[f'{site}/width'] if values[f'{site}/reduce'] else '-'}"
        for site in ("conv2", "conv3")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import keras
    import keras_tuner as kt

    from bottleneck_search import (
        BottleneckHyperModel,
        Confirmation,
        CostMetrics,
        CostPenalty,
        DataSource,
        Proposer,
        SearchConfig,
        SpaceSource,
        TrainerProcesses,
        TrialTraining,
        count_flops,
        load_dataset,
        make_tuner,
        run_search,
    )

    data = load_dataset("fashion_mnist", (28, 28, 1), batch_size=64, train_size=args.train_size)
    work = tempfile.mkdtemp(prefix="bench-own-hypermodel-")
    default_macs = count_flops(build(kt.HyperParameters())).macs
    penalty = CostPenalty("soft", target_macs=default_macs)

    class TrialClock(keras.callbacks.Callback):
        seconds: list = []

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            TrialClock.seconds.append(time.perf_counter() - self.start)

    objective = kt.Objective("val_score", "max")
    ways = {}
    keras.utils.set_random_seed(args.seed)
    stock = kt.RandomSearch(
        build,
        objective=objective,
        max_trials=args.trials,
        seed=args.seed,
        directory=work,
        project_name="stock",
    )
    stock.search(
        data.train,
        validation_data=data.val,
        epochs=1,
        verbose=0,
        callbacks=[CostMetrics(penalty=penalty), TrialClock()],
    )
    ways["RandomSearch + CostMetrics"] = stock
    keras.utils.set_random_seed(args.seed)
    ours = make_tuner(
        "random",
        build,
        penalty=penalty,
        max_trials=args.trials,
        seed=args.seed,
        directory=work,
        project_name="ours",
    )
    ours.search(data.train, validation_data=data.val, epochs=1, verbose=0)
    ways["make_tuner('random', build)"] = ours
    job = run_search(
        SearchConfig(
            space=SpaceSource(hypermodel=f"{os.path.abspath(__file__)}:build"),
            data=DataSource("fashion_mnist", train_size=args.train_size, batch_size=64),
            proposer=Proposer(tuner="random", max_trials=args.trials),
            training=TrialTraining(epochs=1),
            confirm=Confirmation(top=0),
            trainers=TrainerProcesses(trials_per_process=0),
            seed=args.seed,
            run_dir=os.path.join(work, "job"),
        )
    )

    print(
        f"own build(hp), Fashion-MNIST 28x28 ({args.train_size} train images, "
        f"{data.val_size} validation), {args.trials} trials x 1 epoch, oracle seed {args.seed}; "
        f"penalty soft, target {default_macs:,} MACs (build's defaults)"
    )
    print(
        f"{'way':30} {'trial':>5} {'sites':18} {'MACs recorded':>14} {'count_flops':>12} "
        f"{'val_acc':>8} {'val_score':>9}"
    )
    proposals = {}
    for name, tuner in ways.items():
        trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
        proposals[name] = [dict(t.hyperparameters.values) for t in trials]
        for trial in trials:
            metrics = trial.metrics
            counted = count_flops(build(trial.hyperparameters)).macs
            print(
                f"{name:30} {trial.trial_id:>5} {sites(trial.hyperparameters.values):18} "
                f"{metrics.get_last_value('macs'):>14,.0f} {counted:>12,} "
                f"{metrics.get_last_value('val_accuracy'):>8.3f} "
                f"{metrics.get_last_value('val_score'):>9.3f}"
            )
    name = "search --hypermodel (the job)"
    proposals[name] = []
    for record in sorted(job.records, key=lambda r: int(r.trial_id)):
        proposals[name].append(record.hyperparameters)
        counted = count_flops(build(_hp(record.hyperparameters))).macs
        print(
            f"{name:30} {record.trial_id:>5} {sites(record.hyperparameters):18} "
            f"{record.macs:>14,} {counted:>12,} {record.val_accuracy:>8.3f} {record.score:>9.3f}"
        )
    first, *others = proposals.values()
    print(
        f"same hyperparameters proposed by all {len(proposals)} ways: "
        f"{all(other == first for other in others)}"
    )

    counting = []
    for values in proposals["RandomSearch + CostMetrics"]:
        model = build(_hp(values))
        start = time.perf_counter()
        count_flops(model)
        counting.append(time.perf_counter() - start)
    trial_seconds = statistics.median(TrialClock.seconds)
    print(
        f"count_flops per model: median {1000 * statistics.median(counting):.1f} ms "
        f"(min {1000 * min(counting):.1f}, max {1000 * max(counting):.1f}); a 1-epoch trial's "
        f"fit: median {trial_seconds:.2f} s; overhead "
        f"{100 * statistics.median(counting) / trial_seconds:.4f}% of a trial"
    )

    macs = sorted(
        count_flops(build(_hp(values))).macs for values in proposals["RandomSearch + CostMetrics"]
    )
    budget = macs[len(macs) // 2]
    hypermodel = BottleneckHyperModel(build, penalty=penalty, max_macs=budget)
    rejections = []
    for values in proposals["RandomSearch + CostMetrics"]:
        hp = _hp(values)
        start = time.perf_counter()
        model = hypermodel.build(hp)
        seconds = time.perf_counter() - start
        if model.name == "infeasible":
            rejections.append(seconds)
    print(
        f"hard max_macs={budget:,} (the median): {len(rejections)} of {len(macs)} rejected; "
        f"build + count + reject: median {1000 * statistics.median(rejections):.0f} ms "
        f"(min {1000 * min(rejections):.0f}, max {1000 * max(rejections):.0f}), never trained"
        if rejections
        else f"hard max_macs={budget:,}: nothing rejected"
    )


def _hp(values: dict):
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.values = dict(values)
    return hp


if __name__ == "__main__":
    main()
