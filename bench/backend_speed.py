"""Time per trial of the same short search on each Keras backend, side by side in one run (CPU).

Usage: .venv/bin/python bench/backend_speed.py [--trials 4] [--epochs 2] [--space inception_mini]
Runs `bottleneck-search --backend B search ...` with the same arguments and seed for TensorFlow,
JAX and PyTorch, one after the other, and prints per backend: the first trial's seconds (it
includes tracing / compiling), the mean and spread (sample standard deviation) of the other
trials' seconds, the process's wall time, and the mean validation accuracy. The seconds are
`trials.jsonl`'s `seconds`: wall time of each trial's `fit`, as measured, not MACs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BACKENDS = ("tensorflow", "jax", "torch")


def run(backend: str, args: argparse.Namespace, work: str) -> dict:
    run_dir = os.path.join(work, backend)
    command = [
        sys.executable, "-m", "bottleneck_search.cli", "--backend", backend, "search",
        "--space", args.space, "--max-trials", str(args.trials), "--epochs", str(args.epochs),
        "--seed", str(args.seed), "--run-dir", run_dir,
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(
        command, check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    wall = time.monotonic() - started
    with open(os.path.join(run_dir, "trials.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    seconds = [r["seconds"] for r in records]
    later = seconds[1:]
    return {
        "backend": backend,
        "first": seconds[0],
        "mean": statistics.mean(later) if later else float("nan"),
        "spread": statistics.stdev(later) if len(later) > 1 else float("nan"),
        "wall": wall,
        "val_accuracy": statistics.mean(
            r["val_accuracy"] for r in records if r["val_accuracy"] is not None
        ),
        "trials": len(records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--space", default="inception_mini")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-backends-")
    print(
        f"{args.space}, digits, {args.trials} trials x {args.epochs} epochs, seed {args.seed}, CPU"
    )
    print(
        f"{'backend':<11} {'trial 1 s':>9} {'later trials s (mean ± sd)':>27} {'process s':>9} {'val acc':>7}"
    )
    for backend in args.backends:
        r = run(backend, args, work)
        print(
            f"{r['backend']:<11} {r['first']:>9.1f} {r['mean']:>17.2f} ± {r['spread']:<6.2f}  "
            f"{r['wall']:>9.1f} {r['val_accuracy']:>7.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
