"""Distributed throughput: trials per minute with one worker and with two, on this machine.

Usage: .venv/bin/python bench/distributed_throughput.py [--trials 8] [--epochs 3]
Starts a chief and N workers on loopback (subprocesses of the CLI) for the same small search and
prints trials per minute and the ratio. The clock runs from the chief's start to its exit, so
process start-up (importing TensorFlow) is included, as a user would see it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

SPACE = """\
name: bench_dist
input_shape: [16, 16, 1]
classes: 10
defaults: {widths: [4, 8, 16], batch_norm: true}
layers:
  - conv: {name: stem, filters: 16, kernel: 3}
  - conv: {name: body1, filters: 32, kernel: 3}
  - conv: {name: body2, filters: 32, kernel: 3}
  - global_pool: {name: gap}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(workers: int, trials: int, epochs: int, work: str) -> float:
    address = f"127.0.0.1:{free_port()}"
    space = os.path.join(work, "space.yaml")
    common = ["--space", space, "--max-trials", str(trials), "--epochs", str(epochs), "--seed", "0"]
    base = [sys.executable, "-m", "bottleneck_search.cli", "search", *common]
    out = subprocess.DEVNULL
    token = secrets.token_urlsafe(32)
    start = time.perf_counter()
    chief = subprocess.Popen(
        [*base, "--chief", address, "--run-dir", os.path.join(work, f"chief{workers}")],
        stdout=out,
        env={**os.environ, "BOTTLENECK_SEARCH_TOKEN": token},
    )
    # Each worker gets an equal share of the cores; otherwise every TensorFlow process spreads
    # over all cores and the workers fight over them.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1"}
    env["BOTTLENECK_SEARCH_TOKEN"] = token  # workers in their own directories: the chief's token
    pool = [
        subprocess.Popen(
            [
                *base,
                "--worker",
                address,
                "--worker-id",
                f"w{i}",
                "--run-dir",
                os.path.join(work, f"w{workers}-{i}"),
            ],
            stdout=out,
            env=env,
        )
        for i in range(workers)
    ]
    codes = [p.wait() for p in pool] + [chief.wait()]
    if any(codes):
        raise SystemExit(f"a process failed: exit codes {codes}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-dist-")
    with open(os.path.join(work, "space.yaml"), "w") as handle:
        handle.write(SPACE)
    print(
        f"{args.trials} trials x {args.epochs} epochs on 16x16 digits; {os.cpu_count()} CPU cores"
    )
    rates = {}
    for workers in (1, 2):
        seconds = run(workers, args.trials, args.epochs, work)
        rates[workers] = 60 * args.trials / seconds
        print(
            f"  {workers} worker{'s' if workers > 1 else ' '}: {seconds:6.1f} s  {rates[workers]:5.1f} trials/min"
        )
    print(f"  ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
