"""Does the supernet rank architectures like training them does? And what does ranking cost?

Usage:
    .venv/bin/python bench/oneshot_ranking.py truth [--dataset fashion_mnist] [--train-size 3000]
        [--epochs 4] [--architectures 24] [--seeds 0 1]
    .venv/bin/python bench/oneshot_ranking.py supernet [--supernet-epochs 8 ...] [--no-sandwich]
        [--calibration 0,2,8,16] [--distill] [--supernet-seed 0] [--cost]

`truth` trains each of `--architectures` architectures of the space (inception_mini unless
`--space` names another, e.g. bench/spaces/inception_mini_narrow.yaml; spread evenly over its MAC
range) from scratch with each seed, scores them on the test split (10,000 images on
Fashion-MNIST: far less sampling noise than the validation split), and caches the result as JSON
under bench/results/ with the command that made it. It runs once; it is the slow part.

`supernet` reads that cache, then on the same data and recipe: trains one stand-alone
architecture (the unit of cost, timed under the same load), trains the supernet (seeded with
`--supernet-seed`; with in-place distillation if `--distill`), evaluates the cached architectures
the way a search does (recalibration + validation split) and on the test split, with several
recalibration batch counts. `--cost` also evaluates all of the space's architectures, timed.
It prints Kendall tau and Spearman rho of the supernet's estimates against the stand-alone
means, of ranking by MACs alone (the trivial baseline), and of one stand-alone seed against the
other (how well the ground truth can rank itself: no estimate can be expected to do better).

Fashion-MNIST comes from the Debian package dataset-fashion-mnist (or the Keras cache); on
`digits` these architectures cannot be told apart (seed noise is as large as their differences).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.signal_quality import spread_over_macs  # noqa: E402


def cache_path(space: str, dataset: str) -> Path:
    return ROOT / "bench" / "results" / f"oneshot_ground_truth_{Path(space).stem}_{dataset}.json"


def load(args):
    from bottleneck_search import load_dataset
    from bottleneck_search.space.catalog import load_search_space, space_input_shape

    space = load_search_space(args.space, None)
    data = load_dataset(
        args.dataset, space_input_shape(space), args.batch_size, train_size=args.train_size
    )
    return space, data


def truth(args) -> None:
    from bottleneck_search import train_architecture
    from bottleneck_search.rundir.files import write_atomically

    space, data = load(args)
    architectures = spread_over_macs(space, args.architectures)
    print(
        f"{args.space} on {args.dataset}: {data.sizes()} images, {args.epochs} epochs, "
        f"{len(architectures)} architectures x seeds {args.seeds}",
        flush=True,
    )
    rows = []
    for number, architecture in enumerate(architectures, start=1):
        runs = {}
        for seed in args.seeds:
            run, _ = train_architecture(space, architecture, data, args.epochs, seed)
            runs[seed] = run
        rows.append(
            {
                "architecture": architecture.widths,
                "macs": architecture.macs,
                "test": {str(s): r.test_accuracy for s, r in runs.items()},
                "val": {str(s): r.val_accuracy for s, r in runs.items()},
                "seconds": statistics.mean(r.seconds for r in runs.values()),
            }
        )
        tests = " ".join(f"{r.test_accuracy:.4f}" for r in runs.values())
        print(f"{number:>3} {architecture.macs:>12,}  test {tests}", flush=True)
    record = {
        "command": "$ .venv/bin/python bench/oneshot_ranking.py " + " ".join(sys.argv[1:]),
        "space": args.space,
        "dataset": args.dataset,
        "sizes": data.sizes(),
        "train_size": args.train_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seeds": args.seeds,
        "rows": rows,
    }
    write_atomically(str(cache_path(args.space, args.dataset)), json.dumps(record, indent=1))
    print(f"cached: {cache_path(args.space, args.dataset)}")


def correlations(estimate, truth_means) -> str:
    from scipy.stats import kendalltau, spearmanr

    tau = kendalltau(estimate, truth_means).statistic
    rho = spearmanr(estimate, truth_means).statistic
    return f"Kendall tau {tau:+.2f}  Spearman rho {rho:+.2f}"


def supernet(args) -> None:
    import keras

    from bottleneck_search import train_architecture
    from bottleneck_search.recipe import TrainingRecipe, steps_per_epoch
    from bottleneck_search.supernet import Supernet

    cached = json.loads(cache_path(args.space, args.dataset).read_text())
    args.train_size, args.epochs = cached["train_size"], cached["epochs"]
    args.batch_size = cached["batch_size"]
    space, data = load(args)
    rows = cached["rows"]
    means = [statistics.mean(r["test"].values()) for r in rows]
    seeds = list(rows[0]["test"])
    print(cached["command"])
    print(
        f"ground truth: {len(rows)} architectures x {len(seeds)} seeds, {cached['epochs']} epochs "
        f"on {cached['sizes']} images; test accuracy means {min(means):.4f}-{max(means):.4f}"
    )
    first = [r["test"][seeds[0]] for r in rows]
    second = [r["test"][seeds[1]] for r in rows]
    print(
        f"  seed {seeds[0]} vs seed {seeds[1]} (the ground truth's own noise): "
        f"{correlations(first, second)}"
    )
    print(
        f"  MACs alone (the trivial baseline):      {correlations([r['macs'] for r in rows], means)}"
    )

    started = time.monotonic()
    train_architecture(
        space, space.validate(rows[len(rows) // 2]["architecture"]), data, cached["epochs"], seed=0
    )
    unit = time.monotonic() - started
    print(f"one stand-alone training now (the unit of cost): {unit:.1f} s", flush=True)

    keras.utils.set_random_seed(args.supernet_seed)
    net = Supernet(
        space,
        sandwich=not args.no_sandwich,
        seed=args.supernet_seed,
        per_batch=args.per_batch,
        distill=args.distill,
    )
    recipe = TrainingRecipe()
    net.model.compile(
        optimizer=recipe.optimizer(steps_per_epoch((data.train,), {}), args.supernet_epochs),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.monotonic()
    net.model.fit(data.train, epochs=args.supernet_epochs, verbose=0)
    trained = time.monotonic() - started
    print(
        f"supernet: {args.supernet_epochs} epochs, sandwich {'off' if args.no_sandwich else 'on'}, "
        f"one architecture per {'batch' if args.per_batch else 'example'}, "
        f"distillation {'on' if args.distill else 'off'}, seed {args.supernet_seed}: "
        f"{trained:.1f} s = {trained / unit:.2f} stand-alone trainings",
        flush=True,
    )

    calibration = [
        batch for batch, _ in zip(data.train, range(max(args.calibration)), strict=False)
    ]
    if args.cost:
        started = time.monotonic()
        every = [net.evaluate(a, data.val, calibration, 8) for a in space.architectures()]
        evaluating = time.monotonic() - started
        print(
            f"evaluating all {len(every)} architectures (8 calibration batches, validation "
            f"split): {evaluating:.1f} s ({evaluating / len(every):.2f} s each) = "
            f"{evaluating / unit:.2f} stand-alone trainings; total "
            f"{(trained + evaluating) / unit:.2f}",
            flush=True,
        )
    validation = [net.evaluate(r["architecture"], data.val, calibration).accuracy for r in rows]
    print(
        f"  supernet on the validation split (as a search ranks) vs truth: "
        f"{correlations(validation, means)}"
    )
    for batches in args.calibration:
        estimate = [
            net.evaluate(r["architecture"], data.test, calibration, batches).accuracy for r in rows
        ]
        print(
            f"  supernet on the test split, {batches:>2} calibration batches vs MACs: "
            f"{correlations(estimate, [r['macs'] for r in rows])}"
        )
        print(
            f"  supernet on the test split, {batches:>2} calibration batches vs truth: "
            f"{correlations(estimate, means)}  (estimates {min(estimate):.4f}-{max(estimate):.4f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("truth", "supernet"))
    parser.add_argument("--space", default="inception_mini")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--architectures", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--supernet-epochs", type=int, default=8)
    parser.add_argument("--no-sandwich", action="store_true")
    parser.add_argument("--per-batch", action="store_true")
    parser.add_argument("--calibration", default="0,2,8,16")
    parser.add_argument("--distill", action="store_true")
    parser.add_argument("--supernet-seed", type=int, default=0)
    parser.add_argument("--cost", action="store_true")
    args = parser.parse_args()
    args.calibration = [int(c) for c in args.calibration.split(",")]
    truth(args) if args.part == "truth" else supernet(args)


if __name__ == "__main__":
    main()
