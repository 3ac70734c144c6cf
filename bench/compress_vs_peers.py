"""`compress` against what users would pick instead: structured channel pruning (Torch-Pruning,
on a PyTorch twin of the same network) and a thinner network trained from scratch.

Usage:
    .venv/bin/pip install 'bottleneck-search[bench]'      # torch and torch-pruning
    .venv/bin/python bench/compress_vs_peers.py [--train-size 3000] [--epochs 3] [--seeds 0 1]
        [--ratios 2 3 4] [--finetune 1 3]

One architecture written twice, as twins: a CIFAR-style ResNet-20 (a 3x3 stem, three stages of
three basic blocks at 16/32/64 channels, conv-BN-ReLU, 1x1 projection shortcuts where a stage
changes width or stride, global pooling, a linear head) in Keras and in PyTorch, with the same
initialisation (He-normal truncated at two standard deviations for convs, Glorot-uniform for the
head, BatchNorm momentum 0.9 / epsilon 1e-3 in Keras' terms: PyTorch's default momentum, since
Keras' 0.99 leaves the moving statistics half adapted after the few hundred steps run here). Each twin is trained with the same
recipe on the same Fashion-MNIST images at 32x32 (Debian's `dataset-fashion-mnist`): SGD with
momentum 0.9, batch 128, learning rate 0.05 with a per-step cosine decay to 0, `--epochs` epochs.

Then, per seed and per MAC ratio r, each method makes a model with at most 1/r of the original's
MACs and is fine-tuned for each of `--finetune` epochs (separate runs, SGD momentum 0.9 from 0.01
with a per-step cosine decay to 0, the same in both frameworks):

- `compress`: `compress_model(..., macs_ratio=r, finetune_epochs=0, candidates=1)` on the trained
  Keras twin (its allocation and data-aware warm start; its own fine-tuning is not used, so that
  every method is fine-tuned by the same recipe here).
- `torch-pruning`: Torch-Pruning's documented global pruner (`MetaPruner`, `GroupMagnitudeImportance(p=2)`,
  `global_pruning=True`, the head kept) on the trained PyTorch twin, stepped until its own counter
  (`count_ops_and_params`) says at most 1/r of the MACs; our counter on the Keras twin built with
  the pruned widths is printed beside it.
- `thinner`: every conv's width scaled by one factor (bisected to the budget by `count_flops`),
  trained from scratch for `--epochs` + the fine-tuning epochs with the original's recipe.

Printed: per method, ratio and fine-tuning epochs, the test accuracy change against its own
original (mean +- sample std over seeds, n seeds), the MACs reached, and the wall time of the
method's own step (compress' analysis and allocation; pruning; none for the thinner network)
beside its fine-tuning. Test accuracies are on Fashion-MNIST's 10,000 test images, which no
method sees.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = (16, 32, 64)
BATCH = 128
LEARNING_RATE = 0.05
FINETUNE_LEARNING_RATE = 0.01


# ---------------------------------------------------------------- data ------------------------


def arrays(train_size: int, seed: int):
    """Fashion-MNIST at 32x32x1 in [0, 1] as numpy arrays: train (with the validation split
    `load_dataset` makes, which only `compress` uses) and the 10,000 test images."""
    import numpy as np

    from bottleneck_search import load_dataset

    data = load_dataset("fashion_mnist", (32, 32, 1), BATCH, seed=seed, train_size=train_size)

    def stacked(dataset):
        xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
        return np.concatenate(xs).astype("float32"), np.concatenate(ys).astype("int64")

    return stacked(data.train), stacked(data.val), stacked(data.test)


# ---------------------------------------------------------------- Keras twin ------------------


def keras_resnet(stream=STAGES, inner=None, seed=0):
    """ResNet-20 with `stream[k]` channels on stage k's residual path and `inner[k][j]` inside
    block j of stage k (the widths pruning leaves; all equal to the stage's in the original)."""
    import keras
    from keras import layers

    inner = inner or tuple((width,) * 3 for width in stream)
    keras.utils.set_random_seed(seed)
    conv_init = keras.initializers.HeNormal(seed=seed)

    def conv(x, filters, kernel, stride=1):
        x = layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, kernel_initializer=conv_init
        )(x)
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-3)(x)

    inputs = keras.Input((32, 32, 1))
    x = layers.ReLU()(conv(inputs, stream[0], 3))
    for stage, width in enumerate(stream):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = layers.ReLU()(conv(x, inner[stage][block], 3, stride))
            y = conv(y, width, 3)
            if stride != 1 or shortcut.shape[-1] != width:
                shortcut = conv(shortcut, width, 1, stride)
            x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    return keras.Model(inputs, outputs, name="resnet20")


def keras_train(model, train, epochs, learning_rate, seed, test):
    """Fits `model` with the shared recipe; returns its test accuracy and the fit's seconds."""
    import keras

    x, y = train
    steps = math.ceil(len(x) / BATCH) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    return keras_accuracy(model, test), seconds


def keras_accuracy(model, test) -> float:
    logits = model.predict(test[0], batch_size=512, verbose=0)
    return float((logits.argmax(-1) == test[1]).mean())


def thinner(base_macs: int, ratio: float, seed: int):
    """The original with every width scaled by one factor, the largest whose MACs are within
    `base_macs / ratio` (bisection; widths rounded, at least 1)."""
    from bottleneck_search import count_flops

    def scaled(factor):
        return tuple(max(1, round(width * factor)) for width in STAGES)

    low, high = 0.05, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if count_flops(keras_resnet(scaled(middle), seed=seed)).macs <= base_macs / ratio:
            low = middle
        else:
            high = middle
    return keras_resnet(scaled(low), seed=seed)


# ---------------------------------------------------------------- PyTorch twin ----------------


def torch_resnet(seed=0):
    """The Keras twin's original, in PyTorch, initialised the same way."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def bn(channels):
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)  # Keras' momentum 0.9

    class Block(nn.Module):
        def __init__(self, inputs, width, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
            self.bn1 = bn(width)
            self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.bn2 = bn(width)
            self.shortcut = nn.Identity()
            if stride != 1 or inputs != width:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(inputs, width, 1, stride, bias=False), bn(width)
                )

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, STAGES[0], 3, 1, 1, bias=False), bn(STAGES[0]))
            blocks, inputs = [], STAGES[0]
            for stage, width in enumerate(STAGES):
                for block in range(3):
                    blocks.append(Block(inputs, width, 2 if stage > 0 and block == 0 else 1))
                    inputs = width
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Linear(STAGES[-1], 10)

        def forward(self, x):
            x = self.blocks(torch.relu(self.stem(x)))
            return self.head(x.mean(dim=(2, 3)))

    model = ResNet20()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):  # Keras' HeNormal: truncated at 2 std
            fan_in = module.weight[0].numel()
            std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def torch_train(model, train, epochs, learning_rate, seed, test):
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(train[0]).permute(0, 3, 1, 2)
    y = torch.from_numpy(train[1])
    steps = math.ceil(len(x) / BATCH) * epochs
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    )
    loss = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for first in range(0, len(x), BATCH):
            batch = order[first : first + BATCH]
            optimizer.zero_grad()
            loss(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    seconds = time.perf_counter() - start
    return torch_accuracy(model, test), seconds


def torch_accuracy(model, test) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(test[0]).permute(0, 3, 1, 2)
        predictions = torch.cat([model(x[i : i + 512]).argmax(-1) for i in range(0, len(x), 512)])
    return float((predictions.numpy() == test[1]).mean())


def torch_pruned(model, ratio: float):
    """`model` pruned by Torch-Pruning until its counter says at most 1/`ratio` of the MACs;
    returns the model, the MACs by its counter and the seconds pruning took."""
    import torch
    import torch_pruning as tp

    example = torch.randn(1, 1, 32, 32)
    base, _ = tp.utils.count_ops_and_params(model, example)
    start = time.perf_counter()
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        global_pruning=True,
        pruning_ratio=0.95,
        iterative_steps=200,
        ignored_layers=[model.head],
    )
    macs = base
    for _ in range(200):
        if macs <= base / ratio:
            break
        pruner.step()
        macs, _ = tp.utils.count_ops_and_params(model, example)
    return model, int(macs), time.perf_counter() - start


def keras_twin_of(pruned) -> object:
    """The Keras twin with the channel counts Torch-Pruning left (for our counter)."""
    blocks = list(pruned.blocks)
    stream = tuple(blocks[3 * stage].conv2.out_channels for stage in range(3))
    inner = tuple(
        tuple(blocks[3 * stage + j].conv1.out_channels for j in range(3)) for stage in range(3)
    )
    # The stem's width is stage 1's stream: identity shortcuts add them.
    assert pruned.stem[0].out_channels == stream[0]
    return keras_resnet(stream, inner)


# ---------------------------------------------------------------- the comparison --------------


def one_seed(args, seed, rows, notes):
    import copy

    import keras

    from bottleneck_search import CompressConfig, DataSource, compress_model, count_flops

    train, val, test = arrays(args.train_size, seed)
    original = keras_resnet(seed=seed)
    base_macs = count_flops(original).macs
    keras_base, seconds = keras_train(original, train, args.epochs, LEARNING_RATE, seed, test)
    notes.append(
        f"seed {seed}: Keras original {keras_base:.4f} ({seconds:.0f} s), {base_macs:,} MACs"
    )
    twin = torch_resnet(seed)
    torch_base, seconds = torch_train(twin, train, args.epochs, LEARNING_RATE, seed, test)
    notes.append(f"seed {seed}: PyTorch original {torch_base:.4f} ({seconds:.0f} s)")
    work = tempfile.mkdtemp(prefix="bench-peers-")
    for ratio in args.ratios:
        # compress: analysis and allocation timed; its warm-started model fine-tuned here.
        start = time.perf_counter()
        result = compress_model(
            CompressConfig(
                model=original,
                data=DataSource(
                    (
                        _joined(train, val)[0],
                        _joined(train, val)[1],
                    )
                ),
                macs_ratio=ratio,
                finetune_epochs=0,
                candidates=1,
                seed=seed,
                run_dir=os.path.join(work, f"compress-{seed}-{ratio}"),
            )
        )
        own = time.perf_counter() - start
        exported = next(Path(result.run_dir, "export").glob("trial_*/model.keras"))
        for epochs in args.finetune:
            keras.backend.clear_session()
            model = keras.saving.load_model(exported, safe_mode=True)
            accuracy, fit = keras_train(model, train, epochs, FINETUNE_LEARNING_RATE, seed, test)
            rows.append(
                (
                    "compress",
                    ratio,
                    epochs,
                    seed,
                    accuracy - keras_base,
                    count_flops(model).macs,
                    own,
                    fit,
                )
            )

        pruned, their_macs, own = torch_pruned(copy.deepcopy(twin), ratio)
        ours = count_flops(keras_twin_of(pruned)).macs
        notes.append(
            f"seed {seed} ratio {ratio}: Torch-Pruning's counter {their_macs:,} MACs, ours on the "
            f"Keras twin with its widths {ours:,}"
        )
        for epochs in args.finetune:
            model = copy.deepcopy(pruned)
            accuracy, fit = torch_train(model, train, epochs, FINETUNE_LEARNING_RATE, seed, test)
            rows.append(
                ("torch-pruning", ratio, epochs, seed, accuracy - torch_base, ours, own, fit)
            )

        for epochs in args.finetune:
            keras.backend.clear_session()
            model = thinner(base_macs, ratio, seed)
            accuracy, fit = keras_train(
                model, train, args.epochs + epochs, LEARNING_RATE, seed, test
            )
            rows.append(
                (
                    "thinner",
                    ratio,
                    epochs,
                    seed,
                    accuracy - keras_base,
                    count_flops(model).macs,
                    0.0,
                    fit,
                )
            )


def _joined(train, val):
    import numpy as np

    return np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]])


def _spread(values) -> str:
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{100 * mean:+6.2f} +- {100 * std:4.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--ratios", type=float, nargs="+", default=[2.0, 3.0, 4.0])
    parser.add_argument("--finetune", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    rows, notes = [], []
    for seed in args.seeds:
        one_seed(args, seed, rows, notes)
    print(
        f"ResNet-20 twins on Fashion-MNIST 32x32: {args.train_size} training images, "
        f"{args.epochs} epochs, seeds {args.seeds}; test accuracy change against each twin's "
        "own original, in points (mean +- sample std over seeds)"
    )
    for line in notes:
        print(" ", line)
    print(
        f"{'method':14} {'ratio':>5} {'FT ep':>5} {'test acc change':>18} {'MACs':>11} "
        f"{'own step s':>10} {'fine-tune s':>11}"
    )
    keys = sorted({(r[0], r[1], r[2]) for r in rows}, key=lambda k: (k[1], k[2], k[0]))
    for method, ratio, epochs in keys:
        chosen = [r for r in rows if (r[0], r[1], r[2]) == (method, ratio, epochs)]
        print(
            f"{method:14} {ratio:>5g} {epochs:>5} {_spread([r[4] for r in chosen]):>18} "
            f"{statistics.mean(r[5] for r in chosen):>11,.0f} "
            f"{statistics.mean(r[6] for r in chosen):>10.1f} "
            f"{statistics.mean(r[7] for r in chosen):>11.1f}"
        )


if __name__ == "__main__":
    main()
