"""Compressing a trained model: warm start against random initialisation and a from-scratch search.

Usage:
    .venv/bin/python bench/compress.py [--space vgg_small] [--dataset fashion_mnist]
        [--train-size 6000] [--epochs 8] [--seeds 0 1 2] [--ratios 2 3] [--finetune 0,1,3]
        [--sampled N] [--no-search]

For each seed: train the space's network without reductions (at the data's own image size) for
`--epochs` epochs, the original; measure the per-site sensitivity (timed against one training
epoch); then for each MAC ratio allocate widths as `compress` does (the best architecture by
warm-started validation accuracy among the allocation's proposals) and fine-tune it for each of
`--finetune` epochs twice: warm-started from the original (`init="lowrank"`, data-aware) and with
the same reductions randomly initialised (every other layer trained). It also compares the
warm-start methods (`svd`, `output`, `pca`) before any fine-tuning, and runs the default search
(`search --model` with the hard budget: uniform draws within it, 4 epochs a trial, the best by
validation accuracy; see `default_search`) for about the wall-clock time `compress
--finetune-epochs 1` took. `--sampled N` also scores N random architectures within each budget on
the warm-started supernet (what a search scored by warm-started accuracy would explore) against the
allocation's pick; `--finetune ""` skips fine-tuning. Accuracies are on the test split (10,000 images on
Fashion-MNIST, from the Debian package dataset-fashion-mnist; digits when it is absent).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def original_model(args, seed, data):
    """The space's network without reductions, built for the data's images, trained."""
    import keras

    from bottleneck_search.recipe import TrainingRecipe, steps_per_epoch
    from bottleneck_search.space.backbones.yaml_spec import load_backbone
    from bottleneck_search.space.catalog import find_space_file

    backbone = dataclasses.replace(
        load_backbone(find_space_file(args.space)), input_shape=args.input_shape
    )
    keras.utils.set_random_seed(seed)
    model = backbone.build({})
    model.compile(
        TrainingRecipe().optimizer(steps_per_epoch((data.train,), {}), args.epochs),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.monotonic()
    model.fit(data.train, epochs=args.epochs, verbose=0, shuffle=False)
    epoch_seconds = (time.monotonic() - started) / args.epochs
    return model, epoch_seconds


def fine_tuned(space, architecture, data, epochs, seed):
    """Test accuracy of `architecture` built from `space`, recalibrated, fine-tuned `epochs`."""
    from bottleneck_search.compress.config import FINETUNE_LEARNING_RATE
    from bottleneck_search.compress.finetune import warm_started_model
    from bottleneck_search.training import Task
    from bottleneck_search.training.fit import fit_model

    # As compress fine-tunes a candidate (compress.finetune.fine_tune), without its records.
    model = warm_started_model(
        space, Task(), architecture, data, epochs, seed, FINETUNE_LEARNING_RATE, data.train, 8
    )
    if epochs:
        fit_model(model, data.train, epochs=epochs)
    return model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]


def one_seed(args, seed, results):
    import keras

    from bottleneck_search import SearchSpace, Supernet, load_dataset
    from bottleneck_search.calibration import recalibrate_batch_norms
    from bottleneck_search.compress.allocation import allocate
    from bottleneck_search.compress.config import COMPRESS_WIDTHS
    from bottleneck_search.compress.job import RESCORED
    from bottleneck_search.compress.sensitivity import measure_sensitivity
    from bottleneck_search.space.lowrank import LINEAR_REDUCTION, METHODS, LowRankInit

    data = load_dataset(args.dataset, args.input_shape, 32, seed=seed, train_size=args.train_size)
    model, epoch_seconds = original_model(args, seed, data)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    base = model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
    results.setdefault("original", []).append(base)
    print(f"seed {seed}: original {base:.4f} test; one epoch {epoch_seconds:.1f} s", flush=True)

    started = time.monotonic()
    space = SearchSpace.from_model(
        model, widths=list(COMPRESS_WIDTHS), init="lowrank", init_data=data.train
    )
    random_space = SearchSpace.from_model(
        model, widths=list(COMPRESS_WIDTHS), reduction=LINEAR_REDUCTION, init="carry"
    )
    supernet = Supernet(space, seed=seed)
    supernet.model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    calibration = list(data.train.take(8))
    table = measure_sensitivity(supernet, data.val, calibration)
    sensitivity_seconds = time.monotonic() - started
    results.setdefault("sensitivity / epoch", []).append(sensitivity_seconds / epoch_seconds)
    print(
        f"  sensitivity: {len(table.rows)} entries over {len(space.sites)} sites, "
        f"{sensitivity_seconds:.1f} s with the statistics and supernet "
        f"({table.seconds:.1f} s scoring) = {sensitivity_seconds / epoch_seconds:.2f} epochs",
        flush=True,
    )
    moments = space.warm_start.moments
    for ratio in args.ratios:
        budget = int(space.no_bottleneck().macs / ratio)
        started = time.monotonic()
        proposals = allocate(space, table, budget, RESCORED * 2)
        joint = [supernet.evaluate(a, data.val, calibration).accuracy for a in proposals]
        chosen = proposals[joint.index(max(joint))]
        choosing = time.monotonic() - started + sensitivity_seconds
        print(
            f"  {ratio}x ({chosen.macs:,} of {budget:,} MACs): {dict(chosen.widths)}; "
            f"allocation scored {len(proposals)} ({choosing:.1f} s with sensitivity)",
            flush=True,
        )
        if args.sampled:
            sampled = sampled_within(space, budget, args.sampled, seed)
            scores = [supernet.evaluate(a, data.val, calibration).accuracy for a in sampled]
            results.setdefault(f"{ratio}x allocation's pick, warm-start val", []).append(max(joint))
            results.setdefault(
                f"{ratio}x best of {args.sampled} sampled, warm-start val", []
            ).append(max(scores))
            print(
                f"    warm-started validation accuracy: allocation's pick {max(joint):.4f}; "
                f"{args.sampled} architectures drawn within the budget: best {max(scores):.4f}, "
                f"median {statistics.median(scores):.4f}",
                flush=True,
            )
        for method in METHODS:
            warm_start = LowRankInit(model, moments if method != "svd" else None, method)
            built = random_space.build(chosen.widths)  # then every reduction warm-started
            warm_start.apply(built, chosen.widths)
            recalibrate_batch_norms(built, calibration, len(calibration))
            built.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            accuracy = built.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
            results.setdefault(f"{ratio}x warm start {method}, no fine-tuning", []).append(accuracy)
            keras.backend.clear_session()
        for epochs in args.finetune:
            for label, source in (("warm start", space), ("random init", random_space)):
                started = time.monotonic()
                accuracy = fine_tuned(source, chosen, data, epochs, seed)
                seconds = time.monotonic() - started
                results.setdefault(f"{ratio}x {label}, {epochs} epochs", []).append(accuracy)
                results.setdefault(f"{ratio}x {label}, {epochs} epochs: seconds", []).append(
                    seconds
                )
                print(
                    f"    {label}, {epochs} fine-tuning epochs: {accuracy:.4f} test "
                    f"({seconds:.0f} s)",
                    flush=True,
                )
                if label == "warm start" and epochs == 1:
                    compress_seconds = choosing + 2 * seconds  # `compress` fine-tunes 2
                keras.backend.clear_session()
        if 1 in args.finetune and args.search:
            accuracy = default_search(model, data, budget, compress_seconds, epoch_seconds, seed)
            results.setdefault(f"{ratio}x default search, equal time", []).append(accuracy)
            keras.backend.clear_session()


def sampled_within(space, budget, count, seed):
    """`count` distinct architectures drawn uniformly per site, within `budget` MACs."""
    import random

    rng, drawn = random.Random(seed), {}
    for _ in range(1000 * count):
        architecture = space.sample(rng)
        if architecture.macs <= budget:
            drawn[tuple(architecture.widths.items())] = architecture
        if len(drawn) == count:
            break
    return list(drawn.values())


def default_search(model, data, budget, compress_seconds, epoch_seconds, seed):
    """What the default search (`search --model ORIGINAL --max-macs BUDGET`) reaches in about
    `compress_seconds`: its random draws (uniform per site) within the budget, as many 4-epoch
    trials as fit (over-budget draws cost nothing: the search records them infeasible), the best
    by validation accuracy scored on the test split."""
    import random

    from bottleneck_search import SearchSpace, train_architecture

    space = SearchSpace.from_model(model)  # the search's defaults: widths 0.25, 0.5; ReLU
    trials = max(1, round(compress_seconds / (4 * epoch_seconds)))
    rng = random.Random(seed)
    drawn = []
    while len(drawn) < trials:
        architecture = space.sample(rng)
        if architecture.macs <= budget:
            drawn.append(architecture)
    started = time.monotonic()
    runs = [train_architecture(space, a, data, 4, seed)[0] for a in drawn]
    searched = time.monotonic() - started
    best = max(range(trials), key=lambda i: runs[i].val_accuracy)
    print(
        f"    default search, {trials} trials x 4 epochs ({searched:.0f} s against compress's "
        f"{compress_seconds:.0f} s): best {drawn[best].macs:,} MACs, "
        f"{runs[best].test_accuracy:.4f} test",
        flush=True,
    )
    return runs[best].test_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="vgg_small")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--input-shape", default="28,28,1")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ratios", type=float, nargs="+", default=[2.0, 3.0])
    parser.add_argument("--finetune", default="0,1,3")
    parser.add_argument("--no-search", dest="search", action="store_false")
    parser.add_argument(
        "--sampled",
        type=int,
        default=0,
        help="also score this many random architectures within the budget on the supernet",
    )
    args = parser.parse_args()
    args.input_shape = tuple(int(d) for d in args.input_shape.split(","))
    args.finetune = [int(e) for e in args.finetune.split(",") if e]
    print("$ .venv/bin/python bench/compress.py " + " ".join(sys.argv[1:]), flush=True)
    results: dict[str, list[float]] = {}
    for seed in args.seeds:
        one_seed(args, seed, results)
    print(f"\nsummary over seeds {args.seeds} (test accuracy: mean ± standard deviation):")
    for name, values in results.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {name:<55} {statistics.mean(values):.4f} ± {spread:.4f}  (n={len(values)})")


if __name__ == "__main__":
    main()
