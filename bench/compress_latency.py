"""MACs are not time: how fast compressed architectures run, next to the network they came from.

Usage:
    python bench/compress_latency.py [--space vgg_small] [--input-shape 28,28,1]
        [--architecture '{"block1_conv2": 8, ...}' ...] [--batch-sizes 1,256] [--repeats 30]

Builds the space's network without reductions (at `--input-shape`) and each architecture given
(as `compress` made them: linear reductions, warm-started weights do not change the time), then
times, on whatever device the Keras backend uses, `predict_on_batch` (inference) and
`train_on_batch` (one training step) at each batch size: the median of `--repeats` calls after 3
warm-up calls (compilation). Prints milliseconds per call and, per architecture, the MAC ratio next
to the time ratio against the original.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(call, repeats: int) -> float:
    """Median seconds of `call()` after 3 warm-up calls."""
    from bottleneck_search.latency.measure import time_calls

    return statistics.median(time_calls(call, repeats, warmup=3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="vgg_small")
    parser.add_argument("--input-shape", default="28,28,1")
    parser.add_argument("--architecture", action="append", default=[])
    parser.add_argument("--batch-sizes", default="1,256")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import keras
    import numpy as np

    from bottleneck_search.compress.config import COMPRESS_WIDTHS
    from bottleneck_search.space.backbones.yaml_spec import load_backbone
    from bottleneck_search.space.catalog import find_space_file
    from bottleneck_search.space.search_space import SearchSpace

    shape = tuple(int(d) for d in args.input_shape.split(","))
    backbone = dataclasses.replace(load_backbone(find_space_file(args.space)), input_shape=shape)
    keras.utils.set_random_seed(0)
    original = backbone.build({})
    space = SearchSpace.from_model(original, widths=list(COMPRESS_WIDTHS), init="lowrank")
    variants = {"original": space.no_bottleneck()}
    for number, text in enumerate(args.architecture, start=1):
        variants[f"compressed {number}"] = space.validate(json.loads(text))
    print(f"backend {keras.backend.backend()}, devices: {_devices()}", flush=True)
    rng = np.random.default_rng(0)
    base = {}
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        x = rng.normal(size=(batch, *shape)).astype("float32")
        y = rng.integers(0, 10, size=(batch,))
        for name, architecture in variants.items():
            model = space.build(architecture)
            model.compile("adam", "sparse_categorical_crossentropy")
            infer = timed(lambda m=model, x=x: m.predict_on_batch(x), args.repeats)
            train = timed(lambda m=model, x=x, y=y: m.train_on_batch(x, y), args.repeats)
            if name == "original":
                base[batch] = (architecture.macs, infer, train)
            macs, base_infer, base_train = base[batch]
            print(
                f"batch {batch:>4} {name:<13} {architecture.macs:>12,} MACs "
                f"({macs / architecture.macs:.2f}x fewer)  inference {1000 * infer:8.3f} ms "
                f"({base_infer / infer:.2f}x faster)  training step {1000 * train:8.3f} ms "
                f"({base_train / train:.2f}x faster)",
                flush=True,
            )
            keras.backend.clear_session()


def _devices() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(str(d) for d in jax.devices())
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return ", ".join(d.name for d in tf.config.list_logical_devices()) or "cpu"


if __name__ == "__main__":
    main()
