"""Long searches: resident memory of every process of a search as trials accumulate, and the
time a trial spends outside its training, with trials in trainer processes and in one process.

Usage:
    .venv/bin/python bench/long_search.py memory [--trials 300] [--trials-per-process 20]
    .venv/bin/python bench/long_search.py memory --trials 150 --trials-per-process 0   # baseline
    .venv/bin/python bench/long_search.py overhead [--trials 40] [--epochs 4]
    .venv/bin/python bench/long_search.py release [--trials 20]

`memory` runs `bottleneck-search search` on digits with 1-epoch trials and samples, from /proc,
the resident memory (RSS) of the search process and of its trainer process, printing both after
10, 50, 150 and 300 trials. The space is `inception_mini` with eight widths per site instead of
three, rounded to multiples of 2 (16,200 architectures; Keras Tuner's random search stops once it
keeps drawing architectures it has tried, which the shipped 144 would make it do long before 300),
so every trial is an inception_mini-sized model. Goal: RSS after 300 trials at most 1.3x that after 10.

`overhead` runs the default search's trials (inception_mini, digits, 4 epochs) in trainer
processes and in one process, and prints the share of the search loop (from the first trial's
start to the last progress line) spent outside the trials' own timed part (compile, fit,
evaluation): building each model, Keras Tuner's bookkeeping and checkpoints, and with trainers
their start-up and the oracle's round trips. Goal: under 5%.

`release` is why trainer processes exist: a plain Keras loop in one process that fits
`inception_mini` architectures (3 batches each) and releases all it can after each
(`keras.backend.clear_session(free_memory=True)`, `gc.collect()`), printing RSS every 5 models.

Timings are of this machine's CPUs, measured once; run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = ROOT / "search_spaces" / "inception_mini.yaml"
MARKS = (10, 50, 150, 300)


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def trials_logged(run_dir: Path) -> int:
    try:
        return sum(1 for _ in open(run_dir / "trials.jsonl"))
    except OSError:
        return 0


def search(run_dir: Path, space: Path, trials: int, epochs: int, per_process: int, on_sample=None):
    """Runs a search; calls `on_sample(trials_done, search_rss, trainer_rss)` twice a second."""
    argv = [
        sys.executable, "-m", "bottleneck_search.cli", "search",
        "--space", str(space), "--run-dir", str(run_dir), "--max-trials", str(trials),
        "--epochs", str(epochs), "--confirm", "0", "--trials-per-process", str(per_process),
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            trainers = [rss_mib(pid) for pid in children(process.pid)]
            trainer = max((r for r in trainers if r is not None), default=None)
            on_sample(trials_logged(run_dir), rss_mib(process.pid), trainer)

    sampler = threading.Thread(target=sample, daemon=True)
    if on_sample is not None:
        sampler.start()
    out, err = process.communicate()
    stop.set()
    if process.returncode != 0:
        raise SystemExit(f"search failed ({process.returncode}):\n{err[-3000:]}")
    return time.monotonic() - started, loop_seconds(out)


def loop_seconds(out: str) -> float:
    """The search loop's time: "elapsed m:ss" of the last progress line (from the first trial's
    start, after the set-up; the report written afterwards is not counted)."""
    last = [line for line in out.splitlines() if line.startswith("trial ")][-1]
    minutes, seconds = last.split("elapsed ")[1].split()[0].split(":")
    return 60 * int(minutes) + int(seconds)


def memory(args) -> None:
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-long-"))
    space = work / "inception_mini_wide.yaml"
    widths = "[0.0625, 0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5]\n  round_to: 2"
    text = SPACE.read_text().replace("[0.125, 0.25, 0.5]", widths)
    space.write_text(text.replace("name: inception_mini", "name: inception_mini_wide"))
    seen: dict[int, tuple[float | None, float | None]] = {}

    def on_sample(done, search_rss, trainer_rss):
        # The last sample taken while the mark's trial ran or had just been logged (the trainer
        # of the final trial exits at once, so its sample comes from while it trained).
        for mark in (done, done + 1):
            if mark in MARKS:
                before = seen.get(mark, (None, None))
                seen[mark] = (search_rss or before[0], trainer_rss or before[1])

    mode = (
        f"trainer processes of {args.trials_per_process} trials"
        if args.trials_per_process
        else "one process"
    )
    from bottleneck_search import SearchSpace

    size = SearchSpace.from_yaml(str(space)).size
    print(
        f"resident memory, inception_mini with 8 widths a site ({size:,} architectures) on "
        f"digits, 1-epoch trials, {mode}"
    )
    wall, _ = search(work / "run", space, args.trials, 1, args.trials_per_process, on_sample)
    print(f"  {'trials':>6}  {'search MiB':>10}  {'trainer MiB':>11}")
    for mark in MARKS:
        if mark in seen:
            search_rss, trainer_rss = seen[mark]
            trainer = f"{trainer_rss:11.0f}" if trainer_rss else f"{'-':>11}"
            print(f"  {mark:>6}  {search_rss:10.0f}  {trainer}")
    first, last = min(seen), max(seen)
    top = [max(r or 0 for r in seen[m]) for m in (first, last)]
    print(f"  largest process after {last} trials / after {first}: {top[1] / top[0]:.2f}x")
    print(f"  wall {wall / 60:.1f} min, {wall / args.trials:.2f} s a trial")


def overhead(args) -> None:
    sys.path.insert(0, str(ROOT))
    from bottleneck_search.rundir.trial_log import TrialLog

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    print(
        f"time outside the trials: inception_mini on digits, {args.trials} trials of {args.epochs} epochs"
    )
    for per_process in (args.trials_per_process, 0):
        run_dir = work / f"run-{per_process}"
        wall, loop = search(run_dir, SPACE, args.trials, args.epochs, per_process)
        inside = sum(r.seconds for r in TrialLog(run_dir / "trials.jsonl").read())
        mode = f"trainers of {per_process} trials" if per_process else "one process      "
        print(
            f"  {mode}  wall {wall:6.1f} s  search loop {loop:6.1f} s  in trials {inside:6.1f} s  "
            f"loop outside trials {loop - inside:5.1f} s ({100 * (loop - inside) / loop:.1f}%)  "
            f"{loop / args.trials:.2f} s a trial",
            flush=True,
        )


def release(args) -> None:
    import gc

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import keras

    from bottleneck_search import SearchSpace, load_dataset

    space = SearchSpace.from_yaml(str(SPACE))
    data = load_dataset("digits", (32, 32, 3))
    backend = keras.backend.backend()
    print(
        f"one process, {backend}: fit inception_mini architectures, clear_session + gc after each"
    )
    for index in range(1, args.trials + 1):
        keras.backend.clear_session(free_memory=True)
        gc.collect()
        model = space.build(space.sample(index))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(data.train.take(3), validation_data=data.val.take(2), epochs=1, verbose=0)
        del model
        gc.collect()
        if index % 5 == 0:
            print(f"  after {index:>3} models: {rss_mib(os.getpid()):6.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("memory", "overhead", "release"))
    parser.add_argument("--trials", type=int)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trials-per-process", type=int, default=20)
    args = parser.parse_args()
    if args.part == "memory":
        args.trials = args.trials or 300
        memory(args)
    elif args.part == "overhead":
        args.trials = args.trials or 40
        overhead(args)
    else:
        args.trials = args.trials or 20
        release(args)


if __name__ == "__main__":
    main()
