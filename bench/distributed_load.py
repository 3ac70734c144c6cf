"""Load test of a distributed search's chief: N workers on loopback, trials that do not train.

Usage:
    .venv/bin/python bench/distributed_load.py [--workers 8 32 64] [--trials 2000]
        [--oracle random evolution] [--fit-seconds 0.05] [--keras-tuner-saves]

The chief is the product's own (`search.served.oracle_server`: the run's token on every call, every
report checked against the closed form, the oracle's state saved as a chief saves it, the watchdog
watching the workers) over a 12-site space of 16.8M architectures (see `SPACE_YAML`), run in a
process of its own so its CPU time is its own. The workers are
threads of this process, each Keras Tuner's `OracleClient` connected with the token
(`connect_worker`), whose "training" sleeps `--fit-seconds` and reports deterministic metrics with
the architecture's closed-form MACs: a test-only stand-in for a hypermodel's `fit`.

Printed per run: trials per second served (first request to last end), the chief's CPU time per
trial (user + system, over trials 100-300 and over the last 200), their ratio (goal: at most 1.5),
the p50/p99 of the chief's time handling `CreateTrial` and `EndTrial` (from the call's arrival to
its answer, the oracle's lock included), the oracle's state files, and the lost and duplicated
trials (goal: none). `--keras-tuner-saves` runs the chief as Keras Tuner would (the whole state
written on every issue and end, the failure check over every ended trial), for comparison.

Both the chief and the workers share this machine's 2 cores; nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

# 12 sites of 4 choices each (16.8M architectures: 2,000 trials never run out of new ones) in a
# network small enough that building it, which Keras Tuner does before serving, takes seconds.
SPACE_YAML = "name: load\ninput_shape: [8, 8, 1]\nclasses: 10\n"
SPACE_YAML += "defaults: {widths: [2, 4, 8], batch_norm: false}\nlayers:\n"
SPACE_YAML += "".join(f"  - conv: {{name: c{i}, filters: 16, kernel: 3}}\n" for i in range(13))
SPACE_YAML += "  - global_pool: {name: gap}\n"


def load_space():
    from bottleneck_search import SearchSpace

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(SPACE_YAML)
    return SearchSpace.from_yaml(handle.name)


def serve(args) -> None:
    """The chief: serves until every trial has ended, then writes its figures to `args.out`."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from bottleneck_search import BottleneckHyperModel
    from bottleneck_search.search.jobs.tuner_state import atomic_tuner_state
    from bottleneck_search.search.oracles.tuners import make_tuner
    from bottleneck_search.search.served.auth import ServerSecurity
    from bottleneck_search.search.served.liveness import Watchdog
    from bottleneck_search.search.served.oracle_server import (
        CheckedServicer,
        serve_oracle,
        serve_until_done,
        throttled_saves,
    )

    space = load_space()
    options = {"population_size": 16} if args.oracle == "evolution" else {}
    with atomic_tuner_state():
        tuner = make_tuner(
            args.oracle,
            BottleneckHyperModel(space),
            directory=args.work,
            project_name="chief",
            max_trials=args.trials,
            seed=0,
            max_retries_per_trial=1,
            **options,
        )
        oracle = tuner.oracle
        oracle.verbose = 0
        servicer = CheckedServicer(
            oracle,
            tuner.hypermodel.architecture_from_hp,
            issued=os.path.join(args.work, "issued.jsonl"),
        )
        if args.keras_tuner_saves:
            del oracle._check_consecutive_failures  # the oracle's own check again
        timings = {"CreateTrial": [], "EndTrial": []}
        cpu_at_end: list[float] = []  # the process' CPU seconds as each trial ended
        for call, times in timings.items():
            method = getattr(servicer, call)

            def timed(request, context, method=method, times=times, call=call):
                start = time.perf_counter()
                try:
                    return method(request, context)
                finally:
                    times.append(time.perf_counter() - start)
                    if call == "EndTrial":
                        usage = resource.getrusage(resource.RUSAGE_SELF)
                        cpu_at_end.append(usage.ru_utime + usage.ru_stime)

            setattr(servicer, call, timed)
        watchdog = Watchdog(oracle, timeout=60)
        saves = throttled_saves(oracle) if not args.keras_tuner_saves else _nothing()
        with serve_oracle(servicer, ServerSecurity(args.token), "127.0.0.1:0") as address, saves:
            with open(args.address_file + ".tmp", "w") as handle:
                handle.write(address)
            os.replace(args.address_file + ".tmp", args.address_file)
            serve_until_done(servicer, poll=0.05)
        watchdog.close()
    states = [os.path.join(root, f) for root, _, files in os.walk(args.work) for f in files]
    result = {
        "create_ms": [t * 1000 for t in timings["CreateTrial"]],
        "end_ms": [t * 1000 for t in timings["EndTrial"]],
        "cpu_at_end": cpu_at_end,
        "oracle_json_bytes": os.path.getsize(os.path.join(args.work, "chief", "oracle.json")),
        "state_bytes": sum(os.path.getsize(p) for p in states),
        "statuses": {t: trial.status for t, trial in oracle.trials.items()},
    }
    with open(args.out, "w") as handle:
        json.dump(result, handle)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_workers(address: str, token: str, count: int, fit_seconds: float) -> dict:
    """`count` worker threads until the chief says stop; returns what they ended."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras_tuner as kt
    from keras_tuner.src.distribute.oracle_client import OracleClient

    from bottleneck_search.search.jobs.distributed import connect_worker
    from bottleneck_search.search.served.auth import ClientSecurity
    from bottleneck_search.space.hyperparameters import architecture_from_hp

    space = load_space()
    host, port = address.rsplit(":", 1)
    ended: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    class Stand:  # what `connect_worker` reads of a tuner: its oracle
        pass

    def work(tuner_id: str) -> None:
        try:
            client = OracleClient(kt.oracles.RandomSearchOracle(kt.Objective("val_score", "max")))
            client.tuner_id = tuner_id
            stand = Stand()
            stand.oracle = client
            connect_worker(stand, address, ClientSecurity(token, tuner_id, timeout=300))
            while True:
                trial = client.create_trial(tuner_id)
                if trial.status == "STOPPED":
                    return
                if trial.status != "RUNNING":
                    time.sleep(0.01)
                    continue
                time.sleep(fit_seconds)  # the stand-in for training
                hp = trial.hyperparameters.copy()
                macs = architecture_from_hp(space, hp).macs
                accuracy = 0.5 + (zlib.crc32(trial.trial_id.encode()) % 400) / 1000
                metrics = {"val_accuracy": accuracy, "val_score": accuracy, "macs": float(macs)}
                client.update_trial(trial.trial_id, metrics)
                trial.status = "COMPLETED"
                client.end_trial(trial)
                with lock:
                    ended.append(trial.trial_id)
        except Exception as error:  # reported, and counted against the run
            with lock:
                errors.append(f"{tuner_id}: {type(error).__name__}: {error}")

    os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port)
    os.environ["KERASTUNER_TUNER_ID"] = "bench"  # read by `OracleClient`; each thread sets its own
    threads = [threading.Thread(target=work, args=(f"w{i}",), daemon=True) for i in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"ended": ended, "errors": errors, "seconds": time.perf_counter() - start}


def one_run(workers: int, args, oracle: str) -> dict:
    work = tempfile.mkdtemp(prefix="bench-load-")
    token = secrets.token_urlsafe(32)
    address_file = os.path.join(work, "address")
    out = os.path.join(work, "result.json")
    command = [sys.executable, __file__, "--serve", "--work", work, "--out", out]
    command += ["--address-file", address_file, "--trials", str(args.trials), "--oracle", oracle]
    if args.keras_tuner_saves:
        command.append("--keras-tuner-saves")
    # The chief's process must not inherit Keras Tuner's worker variables (it would become a client).
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    with open(os.path.join(work, "chief.err"), "w") as errors:
        chief = subprocess.Popen(command, env={**environment, "BENCH_TOKEN": token}, stderr=errors)
    while not os.path.exists(address_file):
        if chief.poll() is not None:
            raise SystemExit(f"the chief exited with {chief.returncode}")
        time.sleep(0.05)
    with open(address_file) as handle:
        address = handle.read()
    served = run_workers(address, token, workers, args.fit_seconds)
    if served["errors"]:
        chief.kill()
        raise SystemExit("workers failed:\n" + "\n".join(served["errors"][:5]))
    if chief.wait(timeout=600) != 0:
        raise SystemExit(f"the chief exited with {chief.returncode}")
    with open(out) as handle:
        result = json.load(handle)
    return {**result, **served}


def summary(workers: int, oracle: str, run: dict, trials: int) -> str:
    ended = run["ended"]
    duplicated = len(ended) - len(set(ended))
    completed = sum(1 for s in run["statuses"].values() if s == "COMPLETED")
    lost = trials - len(set(ended))
    cpu = run["cpu_at_end"]
    early = (cpu[300] - cpu[100]) / 200 * 1000
    late = (cpu[-1] - cpu[-201]) / 200 * 1000

    def quantiles(values):
        q = statistics.quantiles(values, n=100)
        return f"{q[49]:6.2f} / {q[98]:6.2f}"

    return (
        f"| {oracle} | {workers} | {trials / run['seconds']:6.1f} | {early:5.2f} | {late:5.2f} | "
        f"{late / early:4.2f} | {quantiles(run['create_ms'])} | {quantiles(run['end_ms'])} | "
        f"{run['oracle_json_bytes'] / 1e6:5.2f} | {run['state_bytes'] / 1e6:5.1f} | "
        f"{lost} | {duplicated} | {completed} | {len(run['errors'])} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--oracle", nargs="+", default=["random", "evolution"])
    parser.add_argument("--fit-seconds", type=float, default=0.05)
    parser.add_argument("--keras-tuner-saves", action="store_true")
    # The chief's own process (started by this script).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--address-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        args.token = os.environ["BENCH_TOKEN"]
        args.oracle = args.oracle[0]
        serve(args)
        return
    saves = "Keras Tuner's (every issue and end)" if args.keras_tuner_saves else "throttled (1 s)"
    print(
        f"chief load test: {args.trials} trials, fit = sleep {args.fit_seconds} s, state saves "
        f"{saves}, 12-site space, {os.cpu_count()} CPU cores shared by chief and workers"
    )
    print(
        "| oracle | workers | trials/s | chief CPU ms/trial, trials 100-300 | last 200 | ratio | create p50 / p99 "
        "ms | end p50 / p99 ms | oracle.json MB | state MB | lost | duplicated | completed | "
        "worker errors |"
    )
    print("| --- " * 14 + "|")
    for oracle in args.oracle:
        for workers in args.workers:
            run = one_run(workers, args, oracle)
            print(summary(workers, oracle, run, args.trials), flush=True)
            for error in run["errors"][:3]:
                print(f"    {error}")


if __name__ == "__main__":
    main()
