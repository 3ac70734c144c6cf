"""`Dataset` and the three-way split every source goes through: train, validation, test.

Validation (what the search scores on) comes out of the training data; the test split is never
shown to the search and only scores the architectures it ends with. Data sets with an official
test split (the Keras names, TFDS data sets that have one) keep it; the others (`digits`, folders,
arrays) hold out a fixed, seeded, stratified `test_fraction` first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from bottleneck_search.argument_validation import check_number
from bottleneck_search.errors import DatasetError
from bottleneck_search.parts.data_source import check_train_size


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train, validation and test pipelines plus what a search needs to know about them.

    Attributes:
        train: batched, shuffled, prefetched `(image, label)` pipeline.
        val: batched, prefetched validation pipeline (a fixed split of the training data).
        test: batched, prefetched test pipeline, never seen by the search.
        num_classes: number of classes (labels are integers `0..num_classes-1`); None for
            targets (labels that are not class indices: regression values, masks, several
            outputs' targets), which are passed to the loss as they are.
        name: the spec it came from.
        train_size, val_size, test_size: example counts, when known.

    Example:

    ```python
    digits = load_dataset("digits", input_shape=(8, 8, 1), batch_size=32)
    assert digits.num_classes == 10 and set(digits.sizes()) == {"train", "val", "test"}
    ```
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int | None
    name: str
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None

    def sizes(self) -> dict[str, int | None]:
        """`{"train": ..., "val": ..., "test": ...}` example counts."""
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}


@dataclasses.dataclass(frozen=True)
class Split:
    """How a source is cut: shares held out, a training subsample, batching and the seed."""

    batch_size: int = 32
    val_fraction: float = 0.2
    test_fraction: float = 0.15
    train_size: int | None = None
    seed: int = 0
    value_range: tuple[float, float] = (0.0, 1.0)

    def check(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            check_number(name, getattr(self, name), below=1, error=DatasetError)
        check_train_size(self.train_size)


def adapter(
    height: int, width: int, channels: int, scale: float, value_range=(0.0, 1.0), targets=False
):
    """A `map` function: to float in [0, 1] (dividing by `scale`) mapped onto `value_range`,
    1 <-> 3 channels, resized; class labels to int32, `targets` left as they are."""
    low, high = value_range

    def adapt(image, label):
        image = tf.cast(image, tf.float32) / scale
        if (low, high) != (0.0, 1.0):
            image = image * (high - low) + low
        if image.shape.rank == 2:
            image = image[..., tf.newaxis]
        have = image.shape[-1]
        if have == 1 and channels == 3:
            image = tf.image.grayscale_to_rgb(image)
        elif have == 3 and channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        elif have != channels:
            raise DatasetError(
                f"Images with {have} channels cannot be adapted to the space's {channels} channels "
                "(only 1 <-> 3 is converted)."
            )
        if tuple(image.shape[:2]) != (height, width):
            image = tf.image.resize(image, (height, width))
        return image, label if targets else tf.cast(label, tf.int32)

    return adapt


def pipelines(train, val, test, adapt, split: Split, shuffle_buffer: int):
    """Batched pipelines: the training one reshuffled every epoch, the others fixed and cached."""
    train = train.shuffle(max(shuffle_buffer, 1), seed=split.seed, reshuffle_each_iteration=True)
    train = (
        train.map(adapt, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(split.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    fixed = [
        part.map(adapt, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(split.batch_size)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
        for part in (val, test)
    ]
    return train, *fixed


def split_indices(
    labels: np.ndarray | int, split: Split, has_test: bool, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, validation and (unless the source has its own) test examples.

    Every cut is seeded and stratified by label where each class can be represented; `labels`
    may be a count instead (targets: cuts at random).
    """
    labels = np.zeros(labels, dtype=np.int64) if isinstance(labels, int) else labels
    indices = np.arange(len(labels))
    test = np.array([], dtype=np.int64)
    if not has_test:
        indices, test = _cut(indices, labels, split.test_fraction, split.seed, name, "test")
    if split.train_size is not None:
        if split.train_size > len(indices):
            raise DatasetError(
                f"{name}: train_size={split.train_size:,} is larger than the {len(indices):,} "
                "training images there are. Pass a smaller train_size (--train-size), or leave it out to use "
                "them all."
            )
        if split.train_size < len(indices):
            indices, _ = _cut(
                indices, labels, 1 - split.train_size / len(indices), split.seed, name, "subsample"
            )
    train, val = _cut(indices, labels, split.val_fraction, split.seed, name, "validation")
    return train, val, test


def _cut(indices, labels, fraction, seed, name, part) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    held = round(len(indices) * fraction)
    if held < 1 or held >= len(indices):
        raise DatasetError(
            f"{name}: {len(indices)} examples are too few to hold out a {part} split "
            f"({fraction:.0%})."
        )
    subset = labels[indices]
    classes = len(np.unique(subset))
    stratify = subset if classes > 1 and min(held, len(indices) - held) >= classes else None
    keep, out = train_test_split(indices, test_size=held, random_state=seed, stratify=stratify)
    return np.sort(keep), np.sort(out)


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise DatasetError(
            f"Data cannot be adapted to the space's input {tuple(input_shape)}: images are resized "
            "and converted between 1 and 3 channels only, so the space needs (height, width, 1 or 3)."
        )
    height, width, channels = (int(d) for d in input_shape)
    return height, width, channels
