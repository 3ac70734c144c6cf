"""Random vs Bayesian vs evolution on the same space, data and trial budget, several search seeds
each: the hypervolume of each run's (validation accuracy, MACs) front after 20 and 40 trials.

Usage:
    .venv/bin/python bench/tuner_comparison.py [--dataset fashion_mnist] [--train-size 2000]
        [--epochs 2] [--trials 40] [--seeds 0 1 2] [--space inception_mini]

Each run is one `bottleneck-search search` (no confirmation stage); the front after 20 trials is
that of the run's first 20 trials, which is what a 20-trial search of the same seed would have
run (random and Bayesian sampling do not depend on the budget, and the evolution's default
population is 8 at both budgets).

Hypervolume: the area, in (validation accuracy, share of no-bottleneck MACs) space, that the
run's Pareto front dominates, measured from the reference point (accuracy 0.1 = chance on 10
classes, MACs = the no-bottleneck architecture's, the most expensive). Larger is better; 0.9 would
be a perfect classifier that costs nothing.

"3x" names, per run, the most accurate architecture with at most a third of the no-bottleneck
MACs whose validation accuracy is within 1 point of the no-bottleneck's in the evolution run of
the same seed (every evolution run trains it first), or "-" when there is none.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TUNERS = ("random", "bayesian", "evolution")
CHANCE = 0.1


def hypervolume(points: list[tuple[float, float]], reference_macs: float) -> float:
    """Area dominated by `(accuracy, macs)` points above chance and below `reference_macs`."""
    inside = sorted(
        (m / reference_macs, a) for a, m in points if a > CHANCE and m <= reference_macs
    )
    area, best = 0.0, CHANCE
    front = []
    for cost, accuracy in inside:  # cheapest first: keep each point that beats all cheaper ones
        if accuracy > best:
            front.append((cost, accuracy))
            best = accuracy
    for (cost, accuracy), following in zip(front, [c for c, _ in front[1:]] + [1.0], strict=True):
        area += (following - cost) * (accuracy - CHANCE)
    return area


def run(tuner: str, seed: int, args, work: Path):
    from bottleneck_search.rundir.trial_log import TrialLog

    run_dir = work / f"{tuner}-{seed}"
    argv = [
        sys.executable, "-m", "bottleneck_search.cli", "search", "--space", args.space,
        "--dataset", args.dataset, "--tuner", tuner, "--max-trials", str(args.trials),
        "--epochs", str(args.epochs), "--seed", str(seed), "--confirm", "0",
        "--run-dir", str(run_dir), "--trials-per-process", "0",
    ]  # fmt: skip
    if args.train_size:
        argv += ["--train-size", str(args.train_size)]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{tuner} seed {seed} failed:\n{result.stderr[-3000:]}")
    records = TrialLog(run_dir / "trials.jsonl").read()
    records.sort(key=lambda r: int(r.trial_id))
    return records, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--space", default="inception_mini")
    args = parser.parse_args()

    from bottleneck_search.space.catalog import load_search_space

    space = load_search_space(args.space, None)
    reference = space.no_bottleneck().macs
    work = Path(tempfile.mkdtemp(prefix="bench-tuners-"))
    print(
        f"{args.space} ({space.size} architectures) on {args.dataset}"
        f"{f' (train-size {args.train_size})' if args.train_size else ''}, {args.epochs} epochs a "
        f"trial, seeds {args.seeds}; hypervolume from (accuracy {CHANCE}, "
        f"{reference / 1e6:.2f}M MACs = no bottleneck)"
    )
    budgets = sorted({min(20, args.trials), args.trials})
    results: dict[str, dict[int, list]] = {t: {} for t in TUNERS}
    for seed in args.seeds:
        for tuner in ("evolution", "random", "bayesian"):
            records, seconds = run(tuner, seed, args, work)
            results[tuner][seed] = records
            print(
                f"  ran {tuner:9s} seed {seed}: {len(records)} trials in {seconds / 60:.1f} min",
                flush=True,
            )

    print()
    header = "  ".join(f"HV@{b:<3d} mean +- std" for b in budgets)
    print(f"{'tuner':10s}  {header}  per seed @{budgets[-1]}; 3x architecture @{budgets[-1]}")
    for tuner in TUNERS:
        cells, per_seed, found = [], [], []
        for budget in budgets:
            volumes = []
            for seed in args.seeds:
                done = [r for r in results[tuner][seed][:budget] if r.status == "COMPLETED"]
                volumes.append(hypervolume([(r.val_accuracy, r.macs) for r in done], reference))
            spread = statistics.stdev(volumes) if len(volumes) > 1 else 0.0
            cells.append(f"{statistics.mean(volumes):.4f} +- {spread:.4f}")
            if budget == budgets[-1]:
                per_seed = [f"{v:.4f}" for v in volumes]
        for seed in args.seeds:
            no_bottleneck = next(
                r
                for r in results["evolution"][seed]
                if all(w is None for w in r.architecture.values())
            )
            good = [
                r
                for r in results[tuner][seed]
                if r.status == "COMPLETED"
                and r.macs * 3 <= no_bottleneck.macs
                and r.val_accuracy >= no_bottleneck.val_accuracy - 0.01
            ]
            best = max(good, key=lambda r: r.val_accuracy, default=None)
            found.append(f"{best.val_accuracy:.3f}@{best.macs / 1e6:.1f}M" if best else "-")
        print(f"{tuner:10s}  {'  '.join(cells)}  [{', '.join(per_seed)}]; [{', '.join(found)}]")


if __name__ == "__main__":
    main()
