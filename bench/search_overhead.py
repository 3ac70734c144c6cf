"""Search overhead: time per trial outside model.fit, the cost of a budget rejection, and memory.

Usage: .venv/bin/python bench/search_overhead.py
Prints three tables. Goals: overhead under 5% of a trial, a rejection under 10 ms, RSS growth
from 5 to 30 trials under 10%.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TINY = """\
name: bench_tiny
input_shape: [8, 8, 1]
classes: 10
defaults: {widths: [2, 4, 6, 8, 12, 16], batch_norm: true}
layers:
  - conv: {name: stem, filters: 16, kernel: 3}
  - conv: {name: body1, filters: 16, kernel: 3}
  - conv: {name: body2, filters: 16, kernel: 3}
  - conv: {name: body3, filters: 16, kernel: 3}
  - global_pool: {name: gap}
"""


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    import keras

    from bottleneck_search import (
        BottleneckHyperModel,
        SearchSpace,
        TrialObserver,
        load_dataset,
        make_tuner,
    )
    from bottleneck_search.space.hyperparameters import architecture_to_hp

    work = tempfile.mkdtemp(prefix="bench-overhead-")
    space_path = os.path.join(work, "tiny.yaml")
    with open(space_path, "w") as handle:
        handle.write(TINY)
    space = SearchSpace.from_yaml(space_path)
    data = load_dataset("digits", (8, 8, 1), batch_size=64)

    class FitTimer(keras.callbacks.Callback):
        seconds = 0.0

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            FitTimer.seconds += time.perf_counter() - self.start

    # Like the CLI: objects alive after start-up (TensorFlow's, Keras') leave the collector's view,
    # which makes Keras Tuner's two gc.collect() calls per trial cheap.
    gc.freeze()

    # 1. Overhead outside model.fit, on the default search's trials (inception_mini, digits, 4 epochs).
    default_space = SearchSpace.from_yaml(
        os.path.join(os.path.dirname(__file__), "..", "search_spaces", "inception_mini.yaml")
    )
    default_data = load_dataset("digits", (32, 32, 3))
    tuner = make_tuner(
        "random",
        BottleneckHyperModel(default_space),
        directory=work,
        project_name="overhead",
        max_trials=6,
        seed=0,
    )
    start = time.perf_counter()
    tuner.search(
        default_data.train,
        validation_data=default_data.val,
        epochs=4,
        callbacks=[FitTimer()],
        shuffle=False,
        verbose=0,
    )
    total = time.perf_counter() - start
    trials = len(tuner.oracle.trials)
    outside = total - FitTimer.seconds
    print("overhead outside model.fit (default search: inception_mini on digits, 4 epochs a trial)")
    print(
        f"  trials {trials}  total {total:.2f} s  in fit {FitTimer.seconds:.2f} s  outside {outside:.2f} s  share {100 * outside / total:.1f}%"
    )

    # 2. One budget rejection: our path (closed-form cost, stand-in model, tuner callbacks), and a
    # whole Keras Tuner trial of a rejected architecture (which also clears the Keras session).
    hypermodel = BottleneckHyperModel(space, max_macs=space.cheapest().macs)
    hp = architecture_to_hp(space, space.most_expensive())
    timings = []
    for _ in range(50):
        begin = time.perf_counter()
        model = hypermodel.build(hp)
        hypermodel.fit(hp, model, callbacks=[])
        timings.append(time.perf_counter() - begin)
    stamps = []

    class Stamps(TrialObserver):
        def trial_ended(self, record):
            stamps.append((time.perf_counter(), record.status))

    rejecting = make_tuner(
        "random",
        BottleneckHyperModel(space, observer=Stamps()),
        max_macs=space.cheapest().macs + 1,
        directory=work,
        project_name="reject",
        max_trials=25,
        seed=1,
    )
    rejecting.search(data.train, validation_data=data.val, epochs=1, verbose=0)
    gaps = sorted(
        b[0] - a[0]
        for a, b in zip(stamps, stamps[1:], strict=False)
        if a[1] == b[1] == "INFEASIBLE"
    )
    print("budget rejection")
    print(
        f"  build + fit of a rejected architecture: median {1e3 * timings[len(timings) // 2]:.2f} ms (of 50)"
    )
    print(
        f"  a whole Keras Tuner trial of a rejected architecture (incl. its clear_session, gc and state files): "
        f"median {1e3 * gaps[len(gaps) // 2]:.1f} ms (of {len(gaps)})"
    )

    # 3. Memory after 5 and after 30 tiny trials in one process.
    memory = make_tuner(
        "random",
        BottleneckHyperModel(space),
        directory=work,
        project_name="memory",
        max_trials=30,
        seed=2,
    )

    class Sampler(keras.callbacks.Callback):
        samples = {}
        count = 0

        def on_train_end(self, logs=None):
            Sampler.count += 1
            if Sampler.count in (5, 30):
                Sampler.samples[Sampler.count] = rss_mib()

    memory.search(
        data.train.take(4), validation_data=data.val, epochs=1, callbacks=[Sampler()], verbose=0
    )
    five, thirty = Sampler.samples.get(5), Sampler.samples.get(30)
    print("resident memory (RSS)")
    print(
        f"  search: after 5 trials {five:.0f} MiB  after 30 trials {thirty:.0f} MiB  growth {100 * (thirty - five) / five:.1f}%"
    )
    # Baseline: the same 30 models built and fitted by plain Keras in a loop with clear_session.
    baseline = {}
    for index in range(1, 31):
        keras.backend.clear_session()
        gc.collect()
        model = space.build(space.sample(index))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(data.train.take(4), validation_data=data.val, epochs=1, verbose=0)
        del model
        if index in (5, 30):
            baseline[index] = rss_mib()
    growth = baseline[30] - baseline[5]
    print(
        f"  plain Keras loop, same models: +{growth:.0f} MiB from model 5 to 30 "
        f"({1024 * growth / 25:.0f} KiB a model; Keras/TensorFlow keep each fit's traced step functions)"
    )


if __name__ == "__main__":
    main()
