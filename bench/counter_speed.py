"""Times `count_flops` against TensorFlow's profiler on keras.applications models, in one run.

Usage: .venv/bin/python bench/counter_speed.py [--input-size 224]
Prints one row per model: our MACs, both timings and the speed ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ["MobileNetV2", "ResNet50", "DenseNet121", "InceptionV3", "EfficientNetB0"]


def best_of(function, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()

    import keras

    from bottleneck_search import count_flops

    # TensorFlow's profiler is test tooling (it reaches into tensorflow.python), kept in tests/.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tf_profiler import profile_flops

    print(
        f"input {args.input_size}x{args.input_size}x3, batch 1; counter best of 50, profiler best of 2"
    )
    print(f"{'model':<16}{'MACs':>16}{'count_flops ms':>16}{'profiler s':>12}{'ratio':>10}")
    for name in args.models:
        model = getattr(keras.applications, name)(
            weights=None, input_shape=(args.input_size, args.input_size, 3)
        )
        macs = count_flops(model).macs
        ours = best_of(lambda m=model: count_flops(m), 50)
        theirs = best_of(lambda m=model: profile_flops(m), 2)
        print(f"{name:<16}{macs:>16,}{ours * 1e3:>16.2f}{theirs:>12.2f}{theirs / ours:>9.0f}x")


if __name__ == "__main__":
    main()
